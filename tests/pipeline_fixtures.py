"""Tiny media files for the pipeline, hub and ONNX tests, written with PyAV (no other helper's fixtures).

Every clip is deterministic: frame colours and the audio tone change over time, so segments of a long clip
differ and a decoder that reads the wrong window gives different features.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from conftest import TINY_CONFIGS

SAMPLE_RATE = 16000
# The tiny tucker_av config of the model battery (conftest), with a ResNet-18 frame encoder (512-d features).
TINY_CONFIG = {
    **{k: v for k, v in TINY_CONFIGS["tucker_av"].items() if k not in ("frame_feature_dim", "id2label")},
    "frame_encoder": "resnet18",
}


def frame_at(time_s: float, height: int, width: int) -> np.ndarray:
    """An RGB frame whose colour and a moving bar depend on the time (uint8, (height, width, 3))."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[..., 0] = int(40 + 60 * time_s) % 256
    frame[..., 1] = int(200 - 30 * time_s) % 256
    frame[..., 2] = 90
    column = int(time_s * 7) % width
    frame[:, column : column + 4] = 255
    return frame


def tone(duration_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A tone whose pitch rises by 50 Hz per second, float32 in [-0.5, 0.5]."""
    t = np.arange(int(round(duration_s * sample_rate))) / sample_rate
    phase = 2 * np.pi * (220 * t + 25 * t**2)
    return (0.5 * np.sin(phase)).astype(np.float32)


def write_clip(
    path: str | Path,
    duration_s: float = 3.0,
    fps: int = 10,
    size: tuple[int, int] = (48, 64),
    audio: bool = True,
    video: bool = True,
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    """Write an .mp4 (H.264 + AAC) clip; `audio=False` gives a video without a sound track, `video=False` an
    audio-only .m4a-style file."""
    path = Path(path)
    height, width = size
    with av.open(str(path), mode="w") as container:
        video_stream = audio_stream = None
        if video:
            video_stream = container.add_stream("libx264", rate=fps)
            video_stream.width, video_stream.height = width, height
            video_stream.pix_fmt = "yuv420p"
            video_stream.options = {"preset": "ultrafast"}
            video_stream.codec_context.gop_size = fps  # a keyframe a second: windows seek like real videos
        if audio:
            audio_stream = container.add_stream("aac", rate=sample_rate)
            audio_stream.layout = "mono"
        if video_stream is not None:
            for index in range(int(round(duration_s * fps))):
                frame = av.VideoFrame.from_ndarray(frame_at(index / fps, height, width), format="rgb24")
                frame.pts = index
                frame.time_base = Fraction(1, fps)
                container.mux(video_stream.encode(frame))
            container.mux(video_stream.encode(None))
        if audio_stream is not None:
            samples = tone(duration_s, sample_rate)
            step = 1024
            for start in range(0, len(samples), step):
                chunk = samples[start : start + step][None]  # (channels, samples)
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate = sample_rate
                frame.pts = start
                frame.time_base = Fraction(1, sample_rate)
                container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode(None))
    return path


def write_not_media(path: str | Path) -> Path:
    path = Path(path)
    path.write_text("this is a text file, not a video\n" * 20)
    return path


def write_truncated(source: str | Path, path: str | Path, keep: float = 0.3) -> Path:
    """Copy the first `keep` fraction of the bytes of `source` (an mp4 with its index at the end is unreadable)."""
    data = Path(source).read_bytes()
    path = Path(path)
    path.write_bytes(data[: int(len(data) * keep)])
    return path
