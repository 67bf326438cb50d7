"""`toolwise fetch-content REF`, and the files `toolwise submit --attach` sends as content."""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.content_exchange import ClaimCheckPolicy, check_in
from agents.content_store import RedisContentStore, StoredContent
from models import ContentPart
from models.content import ContentError, part_from_bytes, sha256_of_reference, sniff_mime
from streams.settings import Settings

__all__ = ["attach", "content_store", "fetch", "mime_of", "register"]


def content_store(settings: Settings) -> RedisContentStore:
    return RedisContentStore(
        settings.redis_url, settings.app_id, settings.content_ttl_s, settings.content_max_bytes
    )


def register(sub: Any) -> None:
    fetch_content = sub.add_parser(
        "fetch-content",
        help="write the bytes of a content reference (toolwise-content:sha256:...)",
        description="Fetch stored content (an image, audio clip or resource that travelled by "
        "reference) from the content store. Writes the bytes to FILE, or to stdout when it "
        "is not a terminal.",
    )
    fetch_content.add_argument("ref", help="'toolwise-content:sha256:<hex>' or the bare sha256")
    fetch_content.add_argument("-o", "--output", type=Path, metavar="FILE")
    fetch_content.set_defaults(run=_fetch_content)


def _fetch_content(args: argparse.Namespace, settings: Settings) -> int:
    if args.output is None and sys.stdout.isatty():
        print("refusing to write bytes to a terminal: pass -o FILE or redirect", file=sys.stderr)
        return 2
    try:
        stored = asyncio.run(fetch(settings, args.ref))
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.output is not None:
        args.output.write_bytes(stored.data)
    else:
        sys.stdout.buffer.write(stored.data)
        sys.stdout.buffer.flush()
    where = f" to {args.output}" if args.output is not None else ""
    print(f"{stored.mime_type}, {len(stored.data):,} bytes{where}", file=sys.stderr)
    return 0


async def fetch(settings: Settings, ref: str) -> StoredContent:
    """The bytes a reference names, checked against its digest; ContentError says why not."""
    sha256 = sha256_of_reference(ref)
    store = content_store(settings)
    try:
        return await store.get(sha256)
    finally:
        await store.aclose()


def mime_of(path: Path, data: bytes) -> str:
    """What the bytes' signature says, else what the file name suggests, else octet-stream."""
    guessed, _ = mimetypes.guess_type(path.name)
    return sniff_mime(data) or guessed or "application/octet-stream"


async def attach(settings: Settings, paths: Sequence[Path]) -> list[ContentPart]:
    """Content parts of these files; those past the inline budget are stored by reference."""
    parts: list[ContentPart] = []
    total = 0
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ContentError(f"cannot read {path}: {exc.strerror or exc}") from None
        if len(data) > settings.content_max_bytes:
            raise ContentError(
                f"{path} is {len(data):,} bytes; the content store takes at most "
                f"{settings.content_max_bytes:,} (TOOLWISE_CONTENT_MAX_BYTES)"
            )
        parts.append(part_from_bytes(data, mime_of(path, data), uri=path.resolve().as_uri()))
        total += len(data)
    policy = ClaimCheckPolicy(settings.content_inline_max_bytes)
    if total <= policy.inline_max_bytes:
        return parts  # all inline: no store needed
    store = content_store(settings)
    try:
        return await check_in(parts, store, policy)
    finally:
        await store.aclose()
