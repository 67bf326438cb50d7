"""A directory of generated tools: ``<tool>.py`` (the source) beside ``<tool>.json`` (its
description, input schema, version and submitter), read as submissions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.events import GeneratedToolSubmitted
from tools.exceptions import ConfigError

__all__ = ["load_directory", "load_submission"]

SIDECAR_KEYS = frozenset({"description", "input_schema", "version", "submitter"})


def load_submission(source_file: Path) -> GeneratedToolSubmitted:
    """One tool file and its JSON sidecar; ConfigError names the file and what is wrong."""
    sidecar = source_file.with_suffix(".json")
    try:
        source = source_file.read_text(encoding="utf-8")
        meta: Any = json.loads(sidecar.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{exc.filename}: cannot read generated tool: {exc.strerror or exc}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source_file}: not UTF-8 text: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{sidecar}: invalid JSON: {exc}") from exc
    if not isinstance(meta, dict) or not SIDECAR_KEYS.issuperset(meta):
        keys = ", ".join(sorted(SIDECAR_KEYS))
        raise ConfigError(f"{sidecar}: must be a JSON object with only these keys: {keys}")
    # The event id follows the content, so re-reading an unchanged file judges it the same.
    digest = hashlib.sha256(source.encode() + json.dumps(meta, sort_keys=True).encode())
    fields = {"submitter": f"file:{source_file.name}", **meta}
    try:
        return GeneratedToolSubmitted(
            event_id=f"file:{source_file.stem}:{digest.hexdigest()[:16]}",
            name=source_file.stem,
            source=source,
            **fields,
        )
    except ValidationError as exc:
        raise ConfigError(f"{sidecar}: {exc}") from exc


def load_directory(directory: Path) -> list[GeneratedToolSubmitted]:
    """Every ``*.py`` of ``directory`` (not recursive), sorted by name."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: generated tools directory does not exist")
    return [load_submission(path) for path in sorted(directory.glob("*.py"))]
