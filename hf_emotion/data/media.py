"""Writing audio-visual container files with PyAV (the synthetic corpus, IEMOCAP utterance cuts, test fixtures).

:class:`MediaWriter` writes a video stream (H.264 by default) and optionally an audio stream (AAC by default)
into one container. It writes to ``<name>.part`` and renames on :meth:`MediaWriter.close`, so an interrupted
run never leaves a truncated file under the final name.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

AUDIO_CHUNK = 1024  # samples per audio frame handed to the encoder (AAC's frame size)


class MediaWriter:
    """Write frames (``uint8`` RGB ``(height, width, 3)`` arrays or ``av.VideoFrame``) and audio to one file.

    Args:
        path (`str` or `Path`): the output file; its suffix picks the container unless ``container`` is given.
        fps (`float` or `Fraction`): video frame rate.
        width, height (`int`): frame size (rounded down to even numbers for 4:2:0 chroma).
        video_codec (`str`, *optional*, defaults to `"libx264"`): FFmpeg encoder (``"mpeg4"`` for AVI,
            ``"flv"`` for FLV, ...).
        sample_rate (`int`, *optional*): add an audio stream at this rate; ``None`` writes video only.
        audio_codec (`str`, *optional*, defaults to `"aac"`): FFmpeg audio encoder.
        channels (`int`, *optional*, defaults to 1): audio channels.
        video_options (`dict`, *optional*): encoder options, by default ``crf 23, preset veryfast`` for x264.
        container (`str`, *optional*): FFmpeg muxer name when the suffix is not enough.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        width: int,
        height: int,
        video_codec: str = "libx264",
        sample_rate: int | None = None,
        audio_codec: str = "aac",
        channels: int = 1,
        video_options: dict | None = None,
        container: str | None = None,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(self.path.name + ".part")
        fmt = container or {".mp4": "mp4", ".avi": "avi", ".flv": "flv", ".mkv": "matroska"}.get(
            self.path.suffix
        )
        self.container = av.open(str(self.partial), "w", format=fmt)
        self.rate = Fraction(fps).limit_denominator(100000)
        self.video = self.container.add_stream(video_codec, rate=self.rate)
        self.video.width, self.video.height = width - width % 2, height - height % 2
        self.video.pix_fmt = "yuv420p"
        if video_options is None and video_codec == "libx264":
            video_options = {"crf": "23", "preset": "veryfast"}
        self.video.options = dict(video_options or {})
        self.video.codec_context.thread_count = 1  # parallelism comes from writing several files at once
        self.audio = None
        if sample_rate is not None:
            self.audio = self.container.add_stream(audio_codec, rate=sample_rate)
            self.audio.layout = "mono" if channels == 1 else "stereo"
            self._resampler = av.AudioResampler(
                format=self.audio.format.name, layout=self.audio.layout, rate=sample_rate
            )
        self.n_frames = 0
        self.n_samples = 0

    def add_frame(self, frame) -> None:
        width, height = self.video.width, self.video.height
        if isinstance(
            frame, np.ndarray
        ):  # OpenCV's BT.601 limited-range conversion, ~8x faster than swscale here
            if frame.shape[:2] != (height, width):
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            yuv = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        else:
            frame = frame.reformat(width=width, height=height, format="yuv420p")
        frame.pts = self.n_frames
        frame.time_base = 1 / self.rate
        self.n_frames += 1
        self.container.mux(self.video.encode(frame))

    def add_audio(self, samples: np.ndarray) -> None:
        """Append float samples in [-1, 1], shape ``(samples,)`` or ``(channels, samples)``."""
        if self.audio is None:
            raise ValueError(f"{self.path}: this writer has no audio stream (pass sample_rate=...).")
        samples = np.asarray(samples, dtype=np.float32)
        samples = samples[None] if samples.ndim == 1 else samples  # (channels, samples)
        for start in range(0, samples.shape[1], AUDIO_CHUNK):
            chunk = np.ascontiguousarray(samples[:, start : start + AUDIO_CHUNK])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self.audio.layout)
            frame.sample_rate = self.audio.rate
            frame.pts = self.n_samples
            self.n_samples += chunk.shape[1]
            for converted in self._resampler.resample(frame):
                self.container.mux(self.audio.encode(converted))

    def close(self) -> Path:
        """Flush the encoders and move the finished file to its final name."""
        try:
            if self.n_frames == 0:
                raise ValueError(f"{self.path}: no video frames were written.")
            self.container.mux(self.video.encode(None))
            if self.audio is not None:
                for converted in self._resampler.resample(None):
                    self.container.mux(self.audio.encode(converted))
                self.container.mux(self.audio.encode(None))
            self.container.close()
        except BaseException:
            self.abort()
            raise
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            self.container.close()
        except (av.error.FFmpegError, ValueError, OSError):
            pass
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> MediaWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
