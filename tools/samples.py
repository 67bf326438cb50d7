"""Sample media for the demo, the tests and the benchmarks: a drawn image and a tone as WAV."""

from __future__ import annotations

import io
import wave

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["sample_image", "sample_wav"]


def sample_image(
    width: int = 640, height: int = 480, format: str = "PNG", grain: float = 0.0
) -> bytes:
    """An image with a gradient and a few shapes, encoded as ``format`` (PNG, JPEG, GIF,
    WEBP); ``grain`` (0-1) adds seeded noise, so that it compresses like a photo does."""
    x = np.linspace(0, 255, width, dtype=np.float64)
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None]
    pixels = np.stack(
        [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
         np.full((height, width), 128.0)],
        axis=-1,
    ).astype(np.uint8)  # fmt: skip
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 8, height // 8, width // 2, height // 2), fill=(230, 40, 40))
    draw.rectangle(
        (width // 2, height // 2, width - width // 8, height - height // 8), fill=(20, 20, 200)
    )
    if grain > 0:
        noise = np.random.default_rng(0).normal(0.0, 255.0 * grain, (height, width, 3))
        image = Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, format=format)
    return out.getvalue()


def sample_wav(
    seconds: float = 1.0,
    rate: int = 16_000,
    frequency_hz: float = 440.0,
    amplitude: float = 0.5,
    channels: int = 1,
    sample_width: int = 2,
) -> bytes:
    """A sine tone as PCM WAV; its RMS level is ``amplitude / sqrt(2)`` of full scale."""
    t = np.arange(int(seconds * rate)) / rate
    wave_ = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    frames = np.repeat(wave_[:, None], channels, axis=1)
    if sample_width == 1:
        raw = np.round(frames * 127 + 128).astype(np.uint8).tobytes()
    elif sample_width == 2:
        raw = np.round(frames * 32767).astype("<i2").tobytes()
    elif sample_width == 3:
        ints = np.round(frames * (2**23 - 1)).astype("<i4").reshape(-1)
        triples = np.stack([ints & 0xFF, (ints >> 8) & 0xFF, (ints >> 16) & 0xFF], axis=1)
        raw = triples.astype(np.uint8).tobytes()
    elif sample_width == 4:
        raw = np.round(frames * (2**31 - 1)).astype("<i4").tobytes()
    else:
        raise ValueError(f"sample_width must be 1 to 4 bytes, got {sample_width}")
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(channels)
        clip.setsampwidth(sample_width)
        clip.setframerate(rate)
        clip.writeframes(raw)
    return out.getvalue()
