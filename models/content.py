"""Binary content on topics: MCP image, audio and resource blocks, inline (base64) or by reference.

The JSON form of each part is MCP's (``{"type": "image", "data": ..., "mimeType": ...}``), so
a part travels to a tool unchanged. Bytes above the claim-check threshold are kept in the
content store instead, and the part carries a :class:`ContentRef` (``"ref"``) in place of
``data`` (or a resource's ``blob``); the executor swaps the bytes back in before a tool sees it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CONTENT_URI_PREFIX = "toolwise-content:sha256:"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# RFC 6838 type/subtype (parameters such as '; charset=utf-8' allowed after it).
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*(\s*;.*)?$")

# Spellings in the wild for one format, mapped to the registered name, so that
# "image/jpg" or "audio/x-wav" is not refused as a mismatch with what the bytes are.
_MIME_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-pn-wav": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-flac": "audio/flac",
}


class ContentError(ValueError):
    """A content part that cannot be used; the message says what is wrong and what to do."""


def content_uri(sha256: str) -> str:
    """The reference string of stored bytes, e.g. for ``toolwise fetch-content``."""
    return f"{CONTENT_URI_PREFIX}{sha256}"


def sha256_of_reference(text: str) -> str:
    """The sha256 a reference names: a content URI or the bare hex digest."""
    digest = text.strip().lower().removeprefix(CONTENT_URI_PREFIX)
    if not _SHA256.match(digest):
        raise ContentError(
            f"not a content reference: {text[:100]!r}; expected "
            f"'{CONTENT_URI_PREFIX}<64 hex digits>' or the 64-digit sha256 alone"
        )
    return digest


def normalised_mime(mime_type: str) -> str:
    """Lower case, without parameters, with common aliases mapped to the registered name."""
    bare = mime_type.split(";", 1)[0].strip().lower()
    return _MIME_ALIASES.get(bare, bare)


def sniff_mime(data: bytes) -> str | None:
    """The format the bytes' signature shows, for the formats Toolwise checks; else None.

    Only signatures no other common format shares: a bare MP3 frame sync, say, also
    starts AAC, so MP3 is not among them.
    """
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


SNIFFED = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "audio/wav", "audio/flac",
     "application/pdf"}
)  # fmt: skip


def decode_base64(data: str, what: str) -> bytes:
    """Strict base64 (RFC 4648 alphabet and padding), or a ContentError naming ``what``."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ContentError(
            f"{what} is not valid base64 ({exc}); encode the bytes with base64"
        ) from None


def mismatch(declared: str, data: bytes) -> str | None:
    """Why ``data`` is not of the ``declared`` MIME type, when its signature says otherwise.

    Refused: bytes of another kind (a WAV declared as an image) and, among the formats
    in ``SNIFFED``, another format (a JPEG declared as PNG). Anything else is taken on trust.
    """
    found = sniff_mime(data)
    expected = normalised_mime(declared)
    if found is None or expected == "application/octet-stream":  # "some bytes": no claim
        return None
    other_kind = found.split("/", 1)[0] != expected.split("/", 1)[0]
    if other_kind or (expected in SNIFFED and expected != found):
        return f"declared {declared} but the bytes are {found}"
    return None


def _check_mime(value: str) -> str:
    if not _MIME.match(value.strip().lower()):
        raise ValueError(f"{value[:80]!r} is not a MIME type (type/subtype, e.g. image/png)")
    return value


class ContentRef(BaseModel):
    """Bytes kept in the content store instead of the event (claim check)."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", serialize_by_alias=True, populate_by_name=True
    )

    uri: str = Field(description=f"'{CONTENT_URI_PREFIX}<sha256>'; `toolwise fetch-content URI`.")
    mime_type: str = Field(alias="mimeType")
    size: int = Field(ge=0, description="Bytes.")
    sha256: str = Field(pattern=_SHA256.pattern, description="Hex digest of the bytes.")

    _valid_mime = field_validator("mime_type")(_check_mime)

    @model_validator(mode="after")
    def _uri_names_digest(self) -> Self:
        if self.uri != content_uri(self.sha256):
            raise ValueError(f"uri {self.uri!r} does not name sha256 {self.sha256}")
        return self


class MediaContent(BaseModel):
    """An image or an audio clip (MCP ``ImageContent`` / ``AudioContent``)."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", serialize_by_alias=True, populate_by_name=True
    )

    type: Literal["image", "audio"]
    mime_type: str = Field(alias="mimeType")
    data: str | None = Field(default=None, description="The bytes, base64; or see ref.")
    ref: ContentRef | None = Field(default=None, description="Where the bytes are, if not inline.")
    annotations: dict[str, Any] | None = Field(default=None, description="MCP annotations.")
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")

    _valid_mime = field_validator("mime_type")(_check_mime)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.data is None) == (self.ref is None):
            raise ValueError(f"an {self.type} part needs exactly one of 'data' or 'ref'")
        major = normalised_mime(self.mime_type).split("/", 1)[0]
        if major != self.type:
            raise ValueError(
                f"an {self.type} part needs an {self.type}/* MIME type, got {self.mime_type}"
            )
        if self.ref is not None and normalised_mime(self.ref.mime_type) != normalised_mime(
            self.mime_type
        ):
            raise ValueError(f"ref is {self.ref.mime_type}, the part says {self.mime_type}")
        if self.data is not None:
            problem = mismatch(self.mime_type, decode_base64(self.data, f"{self.type} data"))
            if problem is not None:
                raise ValueError(f"{self.type} part: {problem}")
        return self

    @property
    def size(self) -> int:
        """Size of the bytes, inline or stored."""
        if self.ref is not None:
            return self.ref.size
        assert self.data is not None
        return len(decode_base64(self.data, f"{self.type} data"))


class ResourceBody(BaseModel):
    """The contents of an embedded resource: text, or a blob inline or by reference."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", serialize_by_alias=True, populate_by_name=True
    )

    uri: str = Field(min_length=1)
    mime_type: str | None = Field(default=None, alias="mimeType")
    text: str | None = None
    blob: str | None = Field(default=None, description="The bytes, base64.")
    ref: ContentRef | None = None

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        bodies = [b for b in (self.text, self.blob, self.ref) if b is not None]
        if len(bodies) != 1:
            raise ValueError("a resource needs exactly one of 'text', 'blob' or 'ref'")
        if self.mime_type is not None:
            _check_mime(self.mime_type)
        if self.blob is not None:
            raw = decode_base64(self.blob, "resource blob")
            problem = mismatch(self.mime_type, raw) if self.mime_type else None
            if problem is not None:
                raise ValueError(f"resource {self.uri}: {problem}")
        return self


class ResourceContent(BaseModel):
    """A resource embedded in a result or an intent (MCP ``EmbeddedResource``)."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", serialize_by_alias=True, populate_by_name=True
    )

    type: Literal["resource"]
    resource: ResourceBody
    annotations: dict[str, Any] | None = Field(default=None, description="MCP annotations.")
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")


class ResourceLinkContent(BaseModel):
    """A link to a resource the server can serve (MCP ``ResourceLink``); no bytes travel."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", serialize_by_alias=True, populate_by_name=True
    )

    type: Literal["resource_link"]
    uri: str = Field(min_length=1)
    name: str
    mime_type: str | None = Field(default=None, alias="mimeType")
    description: str | None = None
    size: int | None = Field(default=None, ge=0)
    annotations: dict[str, Any] | None = Field(default=None, description="MCP annotations.")
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")


ContentPart = Annotated[
    MediaContent | ResourceContent | ResourceLinkContent, Field(discriminator="type")
]


def kind_of_mime(mime_type: str) -> Literal["image", "audio", "resource"]:
    """The part type that carries bytes of this MIME type."""
    major = normalised_mime(mime_type).split("/", 1)[0]
    return "image" if major == "image" else "audio" if major == "audio" else "resource"


def reference_for(data: bytes, mime_type: str) -> ContentRef:
    """The reference of ``data`` once stored (content-addressed: same bytes, same reference)."""
    digest = hashlib.sha256(data).hexdigest()
    return ContentRef(uri=content_uri(digest), mime_type=mime_type, size=len(data), sha256=digest)


def part_from_bytes(
    data: bytes, mime_type: str, *, uri: str | None = None, ref: ContentRef | None = None
) -> MediaContent | ResourceContent:
    """An image, audio or (other MIME types) resource part holding ``data``, or ``ref`` instead.

    Raises ContentError when the bytes are not what ``mime_type`` says.
    """
    problem = mismatch(mime_type, data)
    if problem is not None:
        raise ContentError(f"{uri or 'content'}: {problem}; pass the right MIME type")
    kind = kind_of_mime(mime_type)
    inline = base64.b64encode(data).decode() if ref is None else None
    if kind == "resource":
        body = ResourceBody(
            uri=uri or "toolwise:attachment", mime_type=mime_type, blob=inline, ref=ref
        )
        return ResourceContent(type="resource", resource=body)
    return MediaContent(type=kind, mime_type=mime_type, data=inline, ref=ref)
