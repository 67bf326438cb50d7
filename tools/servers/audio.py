"""MCP server ``audio``: duration and loudness of a WAV clip (stdlib ``wave`` and numpy)."""

from __future__ import annotations

import base64
import binascii
import io
import math
import wave
from typing import Annotated, Any

import numpy as np
from mcp.server.mcpserver import MCPServer
from mcp.types import AudioContent, CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from tools.conventions import tool_error, tool_meta, tool_result
from tools.servers._serve import SERVER_LOG_LEVEL, main_for

__all__ = ["AudioError", "analyze_wav", "build_server", "main"]

_ANNOTATIONS = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


class AudioError(ValueError):
    """Bytes that are not a PCM WAV file this tool can read."""


class Loudness(BaseModel):
    duration_s: float
    sample_rate: int
    channels: int
    sample_width_bits: int
    frames: int
    rms_dbfs: float | None = Field(
        description="RMS level of all channels, dB relative to full scale; null when silent."
    )
    peak_dbfs: float | None = Field(description="Highest absolute sample, dBFS; null when silent.")
    channel_rms_dbfs: list[float | None]


def _samples(raw: bytes, width: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """PCM frames as floats in [-1, 1): 8-bit is unsigned, 16/24/32-bit signed little-endian."""
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
    if width == 3:
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
        return values.astype(np.float64) / float(1 << 23)
    if width == 4:
        return np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)
    raise AudioError(f"unsupported sample width of {width} bytes")


def _dbfs(level: float) -> float | None:
    return round(20.0 * math.log10(level), 2) if level > 0 else None


def analyze_wav(data: bytes) -> Loudness:
    """Duration, format and RMS/peak level (dBFS, not perceptual LUFS) of a PCM WAV file."""
    try:
        with wave.open(io.BytesIO(data), "rb") as clip:
            channels = clip.getnchannels()
            width = clip.getsampwidth()
            rate = clip.getframerate()
            frames = clip.getnframes()
            raw = clip.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a PCM WAV file this tool can read: {exc}") from None
    if rate <= 0 or channels <= 0:
        raise AudioError(f"invalid WAV header: {channels} channels at {rate} Hz")
    usable = len(raw) // (width * channels) * width * channels
    samples = _samples(raw[:usable], width).reshape(-1, channels)
    frames = samples.shape[0]
    per_channel = np.sqrt(np.mean(samples**2, axis=0)) if frames else np.zeros(channels)
    overall = float(np.sqrt(np.mean(samples**2))) if frames else 0.0
    peak = float(np.max(np.abs(samples))) if frames else 0.0
    return Loudness(
        duration_s=round(frames / rate, 6),
        sample_rate=rate,
        channels=channels,
        sample_width_bits=8 * width,
        frames=frames,
        rms_dbfs=_dbfs(overall),
        peak_dbfs=_dbfs(peak),
        channel_rms_dbfs=[_dbfs(float(level)) for level in per_channel],
    )


def build_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("audio", version="1", log_level=SERVER_LOG_LEVEL)

    def loudness(audio: AudioContent) -> Annotated[CallToolResult, Loudness]:
        """Duration and loudness (RMS and peak level in dBFS) of a WAV audio clip."""
        try:
            result = analyze_wav(base64.b64decode(audio.data, validate=True))
        except (binascii.Error, ValueError) as exc:
            return tool_error(str(exc) if isinstance(exc, AudioError) else f"bad base64: {exc}")
        level = "silent" if result.rms_dbfs is None else f"RMS {result.rms_dbfs} dBFS"
        text = f"{result.duration_s:g} s, {result.sample_rate} Hz, {result.channels} ch, {level}"
        return tool_result(result.model_dump(), text)

    server.add_tool(
        loudness,
        annotations=_ANNOTATIONS,
        meta=tool_meta(
            keywords=["audio", "sound", "clip", "wav", "duration", "length", "loudness", "volume"]
        ),
    )
    return server


main = main_for(
    "audio", "WAV duration and loudness over MCP (wave + numpy).", lambda _args: build_server()
)

if __name__ == "__main__":
    main(None)
