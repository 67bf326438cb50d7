"""MCP server ``images``: an image's metadata and a PNG thumbnail of it (Pillow)."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from tools.conventions import tool_error, tool_meta, tool_result
from tools.servers._serve import SERVER_LOG_LEVEL, main_for

__all__ = ["ImageError", "build_server", "describe_image", "main", "make_thumbnail"]

# Pixels the tools decode. A 20 MiB file (the content store's default limit) can
# declare billions of pixels; 50 M (e.g. 8,660 x 5,770, a large camera photo) keeps
# decoding to ~200 MB of RGBA at most. Checked from the header, before decoding.
MAX_PIXELS = 50_000_000
# The largest thumbnail side: previews, not resampling services.
MAX_THUMBNAIL_SIDE = 1024

# What the tools do: read the bytes they are given, touch nothing else, same answer each time.
_ANNOTATIONS = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


class ImageError(ValueError):
    """Bytes that are not an image Pillow can read (or one too large to decode)."""


class ImageInfo(BaseModel):
    format: str | None = Field(description="Pillow's name of the file format, e.g. PNG, JPEG.")
    mime_type: str | None
    width: int
    height: int
    mode: str = Field(description="Pillow colour mode, e.g. RGB, RGBA, L, P.")
    has_alpha: bool
    frames: int = Field(description="1 unless animated.")
    bytes: int


class Thumbnail(BaseModel):
    width: int
    height: int
    from_width: int
    from_height: int
    bytes: int = Field(description="Size of the PNG thumbnail.")


def _open(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        if image.width * image.height > MAX_PIXELS:
            raise ImageError(
                f"image too large to decode: {image.width} x {image.height} pixels, "
                f"the limit is {MAX_PIXELS:,}"
            )
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large to decode: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError(
            "not an image Pillow can read (PNG, JPEG, GIF, WebP, BMP, TIFF, ...)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"a damaged or unsupported image: {exc}") from None
    return image


def describe_image(data: bytes) -> ImageInfo:
    """Format, size and colour mode of an encoded image."""
    image = _open(data)
    bands = image.getbands()
    return ImageInfo(
        format=image.format,
        mime_type=Image.MIME.get(image.format or ""),
        width=image.width,
        height=image.height,
        mode=image.mode,
        has_alpha="A" in bands or "transparency" in image.info,
        frames=int(getattr(image, "n_frames", 1)),
        bytes=len(data),
    )


def make_thumbnail(data: bytes, max_side: int) -> tuple[bytes, Thumbnail]:
    """A PNG at most ``max_side`` pixels on its longer side, aspect kept, never enlarged."""
    image = _open(data)
    source = image.size
    small = image.copy()
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if small.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        small = small.convert("RGBA")
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    png = out.getvalue()
    return png, Thumbnail(
        width=small.width,
        height=small.height,
        from_width=source[0],
        from_height=source[1],
        bytes=len(png),
    )


def _bytes_of(image: ImageContent) -> bytes:
    try:
        return base64.b64decode(image.data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"image data is not valid base64: {exc}") from None


def build_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("images", version="1", log_level=SERVER_LOG_LEVEL)

    def metadata(image: ImageContent) -> Annotated[CallToolResult, ImageInfo]:
        """Width, height, file format and colour mode of an image (PNG, JPEG, GIF, WebP, ...)."""
        try:
            info = describe_image(_bytes_of(image))
        except ImageError as exc:
            return tool_error(str(exc))
        text = f"{info.format} image, {info.width} x {info.height} pixels, {info.mode}"
        return tool_result(info.model_dump(), text)

    def thumbnail(
        image: ImageContent,
        max_side: Annotated[int, Field(ge=8, le=MAX_THUMBNAIL_SIDE)] = 128,
    ) -> Annotated[CallToolResult, Thumbnail]:
        """A small PNG preview of an image, at most max_side pixels wide or high."""
        try:
            png, thumb = make_thumbnail(_bytes_of(image), max_side)
        except ImageError as exc:
            return tool_error(str(exc))
        text = (
            f"thumbnail {thumb.width} x {thumb.height} of a "
            f"{thumb.from_width} x {thumb.from_height} image"
        )
        return CallToolResult(
            content=[
                TextContent(type="text", text=text),
                ImageContent(
                    type="image", data=base64.b64encode(png).decode(), mime_type="image/png"
                ),
            ],
            structured_content=thumb.model_dump(),
        )

    server.add_tool(
        metadata,
        annotations=_ANNOTATIONS,
        meta=tool_meta(keywords=["image", "picture", "photo", "size", "dimensions", "format"]),
    )
    server.add_tool(
        thumbnail,
        annotations=_ANNOTATIONS,
        meta=tool_meta(keywords=["thumbnail", "preview", "resize", "shrink", "image", "picture"]),
    )
    return server


main = main_for(
    "images", "Image metadata and thumbnails over MCP (Pillow).", lambda _args: build_server()
)

if __name__ == "__main__":
    main(None)
