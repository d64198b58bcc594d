"""Tiny media files written with PyAV / the wave module for the decoding, processor and caching tests."""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def tone(frequency: float, seconds: float, sampling_rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sampling_rate))) / sampling_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def frame_pattern(index: int, height: int, width: int) -> np.ndarray:
    """An RGB frame whose mean brightness encodes its index (so tests can tell which frame was sampled)."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[..., 0] = (index * 7) % 256
    frame[..., 1] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    frame[: height // 2, : width // 2, 2] = 200  # an asymmetric block: flips are visible
    return frame


def write_video(
    path: Path,
    seconds: float = 1.0,
    fps: float = 25,
    size: tuple[int, int] = (48, 64),
    audio_hz: float | None = 440.0,
    sampling_rate: int = 48000,
    channels: int = 2,
    frames: np.ndarray | None = None,
    codec: str = "libx264",
    pix_fmt: str | None = None,
) -> Path:
    """A video file (H.264 by default: yuv420p, or yuv444p for odd sizes) with an optional AAC tone.

    Grayscale: ``codec="ffv1", pix_fmt="gray"`` into a .mkv.
    """
    height, width = size if frames is None else frames.shape[1:3]
    container = av.open(str(path), mode="w")
    rate = Fraction(fps).limit_denominator(1001)
    video = container.add_stream(codec, rate=rate)
    video.width, video.height = width, height
    video.pix_fmt = pix_fmt or ("yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p")
    audio_stream = None
    if audio_hz is not None:
        audio_stream = container.add_stream("aac", rate=sampling_rate)
        audio_stream.layout = "stereo" if channels == 2 else "mono"
    count = int(round(seconds * fps)) if frames is None else len(frames)
    for index in range(count):
        image = frame_pattern(index, height, width) if frames is None else frames[index]
        for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    if audio_stream is not None:
        samples = tone(audio_hz, seconds, sampling_rate)
        planar = np.repeat(samples[None], channels, axis=0)  # (channels, samples), fltp
        chunk = 1024
        for start in range(0, planar.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planar[:, start : start + chunk]),
                format="fltp",
                layout=audio_stream.layout.name,
            )
            frame.sample_rate = sampling_rate
            frame.pts = start
            for packet in audio_stream.encode(frame):
                container.mux(packet)
        for packet in audio_stream.encode():
            container.mux(packet)
    container.close()
    return path


def write_wav(path: Path, samples: np.ndarray, sampling_rate: int, sample_width: int = 2) -> Path:
    """PCM WAV: `samples` float in [-1, 1], shape (n,) or (n, channels); 8-bit (unsigned) or 16-bit."""
    data = samples if samples.ndim == 2 else samples[:, None]
    if sample_width == 1:
        pcm = np.clip(np.round(data * 127 + 128), 0, 255).astype(np.uint8)
    else:
        pcm = np.clip(np.round(data * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(data.shape[1])
        handle.setsampwidth(sample_width)
        handle.setframerate(sampling_rate)
        handle.writeframes(pcm.tobytes())
    return path


def write_truncated(source: Path, path: Path, fraction: float = 0.3) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path
