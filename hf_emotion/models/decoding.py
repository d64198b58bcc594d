"""Decode audio and video from media files into numpy arrays, with errors that name the file.

This file travels to the Hub with the processors (``register_for_auto_class``), so it imports only the standard
library, numpy, torch and transformers at module level. Decoding uses torchcodec (FFmpeg), imported inside the
functions that need it; resampling of in-memory arrays uses torchaudio, imported the same way.

- :func:`load_audio` returns float32 mono at the requested rate from any audio or video container (8-bit,
  16-bit, float, stereo, 48 kHz... are resampled and down-mixed by FFmpeg) or from an ``(array, rate)`` pair.
- :func:`load_video_frames` returns ``num_frames`` RGB frames sampled uniformly over the clip (or a time
  window) by timestamp, so the result does not depend on the source frame rate. Grayscale sources come out as
  three identical channels (FFmpeg converts every pixel format to RGB).
- :func:`probe_media` reports which streams a file has, its duration, frame rate, sample rate and size.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

_URL_PREFIXES = ("http://", "https://", "ftp://", "s3://", "gs://", "hf://")


def _require(module: str, purpose: str):
    """Import an optional decoding dependency, or raise an ImportError that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:  # pragma: no cover - depends on the environment
        package = {"torchcodec.decoders": "torchcodec", "torchcodec.transforms": "torchcodec"}.get(
            module, module
        )
        raise ImportError(
            f"{purpose} needs `{package}` (and FFmpeg's shared libraries); install it with `pip install {package}`."
        ) from error


def check_media_path(path: str | os.PathLike) -> str:
    """Return `path` as a string after checking it is a local, existing file (URLs are refused: no network)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"Expected a path to a media file, got {type(path).__name__}.")
    text = os.fspath(path)
    if text.lower().startswith(_URL_PREFIXES):
        raise ValueError(
            f"`{text}` is a URL; hf_emotion decodes local files only (no network access). Download the file "
            "first and pass its local path."
        )
    if not os.path.exists(text):
        raise FileNotFoundError(f"`{text}` does not exist; check the path.")
    if os.path.isdir(text):
        raise ValueError(f"`{text}` is a directory; give the path of one audio or video file.")
    if os.path.getsize(text) == 0:
        raise ValueError(f"`{text}` is an empty file (0 bytes); it is not a valid audio or video file.")
    return text


def _open_error(path: str, kind: str, error: Exception) -> ValueError:
    """Translate a torchcodec/FFmpeg failure into a ValueError naming the file and the likely cause."""
    message = re.sub(r"^.*?\.cpp:\d+, ", "", str(error).strip())  # drop torchcodec's source location
    name = Path(path).name
    if "best audio stream" in message or "No audio stream" in message:
        return ValueError(
            f"`{path}` has no audio stream; give a file with sound, or use a video-only model/modality."
        )
    if "No audio frames were decoded" in message:
        return ValueError(f"`{path}` holds zero-length audio (no samples); it cannot be used.")
    if "best video stream" in message or "No video stream" in message:
        return ValueError(
            f"`{path}` has no video stream (is it an audio-only file?); give a video file, or use an audio-only "
            "model/modality."
        )
    return ValueError(
        f"Could not decode the {kind} of `{path}`: it is not a readable media file, or it is corrupt or truncated "
        f"(FFmpeg: {message.splitlines()[-1] if message else type(error).__name__}). Re-encode or replace "
        f"`{name}`."
    )


def _to_mono_float(array: np.ndarray | torch.Tensor, name: str = "audio") -> torch.Tensor:
    """Convert an in-memory waveform (any integer or float dtype, mono or multi-channel) to float32 mono."""
    waveform = torch.as_tensor(np.asarray(array)) if not isinstance(array, torch.Tensor) else array
    if waveform.dtype == torch.uint8:  # 8-bit PCM is unsigned, centred on 128
        waveform = (waveform.float() - 128.0) / 128.0
    elif waveform.dtype == torch.int16:
        waveform = waveform.float() / 32768.0
    elif waveform.dtype == torch.int32:
        waveform = waveform.float() / 2147483648.0
    elif not waveform.is_floating_point():
        raise ValueError(f"`{name}` has unsupported dtype {waveform.dtype}; give float or 8/16/32-bit PCM.")
    waveform = waveform.float()
    if waveform.dim() == 2:
        # Channels are the short axis: (channels, samples) or (samples, channels).
        channel_axis = 0 if waveform.shape[0] <= waveform.shape[1] else 1
        waveform = waveform.mean(dim=channel_axis)
    elif waveform.dim() != 1:
        raise ValueError(
            f"`{name}` must be 1-D (samples) or 2-D (channels, samples), got shape {tuple(waveform.shape)}."
        )
    return waveform


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited resampling of a (..., samples) float tensor with torchaudio (identity when rates match)."""
    if int(orig_rate) == int(new_rate):
        return waveform
    if orig_rate <= 0:
        raise ValueError(f"`sampling_rate` must be positive, got {orig_rate}.")
    functional = _require("torchaudio.functional", "Resampling audio")
    return functional.resample(waveform, int(orig_rate), int(new_rate))


def load_audio(source: Any, sampling_rate: int = 16000) -> np.ndarray:
    """Decode audio as float32 mono at `sampling_rate`.

    Args:
        source (`str`, `os.PathLike`, `tuple` or decoder): a path to any audio or video container FFmpeg reads
            (wav, mp3, flac, mp4, flv, avi...), an ``(array, sampling_rate)`` pair holding a waveform in memory
            (1-D, or 2-D with a channel axis; float or 8/16/32-bit integer PCM), or a torchcodec `AudioDecoder`
            (what a ``datasets.Audio`` column yields).
        sampling_rate (`int`, *optional*, defaults to 16000): the output rate.

    Returns:
        `np.ndarray` of shape (samples,), float32, roughly in [-1, 1].

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a URL, a file without an audio stream, an unreadable/corrupt/truncated file, or zero-length
            audio; the message names the file.
    """
    if isinstance(source, (tuple, list)) and len(source) == 2 and np.isscalar(source[1]):
        array, rate = source
        waveform = resample(_to_mono_float(array), int(rate), sampling_rate)
        name = "audio array"
    elif is_decoder(source, "audio"):
        name = _decoder_name(source)
        try:
            samples = source.get_all_samples()
        except (RuntimeError, ValueError) as error:
            raise ValueError(
                f"Could not decode the audio of {name}: corrupt or truncated ({error})."
            ) from error
        waveform = resample(samples.data.float().mean(dim=0), samples.sample_rate, sampling_rate)
    else:
        path = check_media_path(source)
        decoders = _require("torchcodec.decoders", "Decoding audio")
        try:
            decoder = decoders.AudioDecoder(path, sample_rate=sampling_rate)
            samples = decoder.get_all_samples()
        except (RuntimeError, ValueError) as error:
            raise _open_error(path, "audio", error) from error
        # Down-mix by averaging the channels (FFmpeg's own down-mix scales stereo by 1/sqrt(2) instead).
        waveform = samples.data.float().mean(dim=0)  # (channels, samples) -> (samples,)
        name = f"`{path}`"
    if waveform.numel() == 0:
        raise ValueError(f"{name} holds zero-length audio (no samples); it cannot be used.")
    if not torch.isfinite(waveform).all():
        raise ValueError(f"{name} contains NaN or infinite samples.")
    return waveform.numpy().astype(np.float32, copy=False)


def _video_decoder(path: str, resize_to: tuple[int, int] | None = None):
    decoders = _require("torchcodec.decoders", "Decoding video")
    transforms = None
    if resize_to is not None:
        transforms = [_require("torchcodec.transforms", "Resizing video while decoding").Resize(resize_to)]
    try:
        return decoders.VideoDecoder(path, dimension_order="NHWC", transforms=transforms)
    except (RuntimeError, ValueError) as error:
        raise _open_error(path, "video", error) from error


def probe_media(path: str | os.PathLike) -> dict[str, Any]:
    """Describe a media file's streams.

    Returns:
        `dict` with ``has_audio``, ``has_video`` (`bool`), ``duration_s`` (`float`, the longest stream),
        ``fps``, ``width``, ``height`` (video, else `None`), ``num_frames`` (video, else `None`) and
        ``sample_rate``, ``num_channels`` (audio, else `None`).

    Raises:
        FileNotFoundError / ValueError: missing file, URL, or a file FFmpeg cannot open (not media, corrupt).
    """
    path = check_media_path(path)
    decoders = _require("torchcodec.decoders", "Probing media")
    info: dict[str, Any] = {
        "has_audio": False,
        "has_video": False,
        "duration_s": None,
        "fps": None,
        "num_frames": None,
        "width": None,
        "height": None,
        "sample_rate": None,
        "num_channels": None,
    }
    errors = []
    durations = []
    try:
        video = decoders.VideoDecoder(path, seek_mode="approximate").metadata
        info.update(
            has_video=True,
            fps=video.average_fps,
            num_frames=video.num_frames,
            width=video.width,
            height=video.height,
        )
        durations.append(video.duration_seconds)
    except (RuntimeError, ValueError) as error:
        errors.append(error)
    try:
        audio = decoders.AudioDecoder(path).metadata
        info.update(has_audio=True, sample_rate=audio.sample_rate, num_channels=audio.num_channels)
        durations.append(audio.duration_seconds)
    except (RuntimeError, ValueError) as error:
        errors.append(error)
    if not info["has_audio"] and not info["has_video"]:
        raise _open_error(path, "streams", errors[-1])
    known = [d for d in durations if d is not None]
    info["duration_s"] = float(max(known)) if known else None
    return info


def frame_timestamps(begin_s: float, end_s: float, num_frames: int) -> np.ndarray:
    """Centres of `num_frames` equal bins over [begin_s, end_s): uniform sampling whatever the frame rate."""
    if num_frames < 1:
        raise ValueError(f"`num_frames` must be >= 1, got {num_frames}.")
    step = (end_s - begin_s) / num_frames
    return begin_s + step * (np.arange(num_frames) + 0.5)


def is_decoder(value: Any, kind: str) -> bool:
    """True for torchcodec decoder objects (what ``datasets.Audio``/``datasets.Video`` columns decode to)."""
    method = "get_all_samples" if kind == "audio" else "get_frames_played_at"
    return hasattr(value, method) and hasattr(value, "metadata")


def _decoder_name(decoder: Any) -> str:
    path = getattr(decoder.metadata, "path", None)
    return f"`{path}`" if path else "the decoder object"


def sample_decoder_frames(
    decoder: Any,
    num_frames: int,
    start_s: float | None = None,
    end_s: float | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Sample `num_frames` frames uniformly in time from an open torchcodec `VideoDecoder` (any dimension order).

    Returns `np.ndarray` (num_frames, height, width, 3) uint8.
    """
    name = name or _decoder_name(decoder)
    meta = decoder.metadata
    begin = meta.begin_stream_seconds or 0.0
    end = meta.end_stream_seconds if meta.end_stream_seconds is not None else meta.duration_seconds
    if end is None or end <= begin:
        raise ValueError(f"{name} has a video stream with no frames (duration {end}); it may be truncated.")
    window_begin = begin if start_s is None else max(begin, float(start_s))
    window_end = end if end_s is None else min(end, float(end_s))
    if window_end <= window_begin:
        raise ValueError(
            f"The time window [{start_s}, {end_s}] s is empty for {name}, whose video spans [{begin:.3f}, {end:.3f}] s."
        )
    times = frame_timestamps(window_begin, window_end, num_frames)
    try:
        frames = decoder.get_frames_played_at(seconds=times.tolist()).data
    except (RuntimeError, ValueError, IndexError) as error:
        raise ValueError(
            f"Could not decode the video frames of {name}: the file is corrupt or truncated ({error})."
        ) from error
    if frames.shape[-1] != 3 and frames.shape[1] == 3:
        frames = frames.permute(0, 2, 3, 1)  # NCHW -> (num_frames, height, width, 3)
    return frames.numpy()


def load_video_frames(
    path: str | os.PathLike,
    num_frames: int,
    start_s: float | None = None,
    end_s: float | None = None,
    short_side: int | None = None,
) -> np.ndarray:
    """Decode `num_frames` RGB frames sampled uniformly in time over the clip (or the window [start_s, end_s)).

    Frames are picked by timestamp (centres of `num_frames` equal bins), so a 25 fps and a 29.97 fps recording of
    the same 3 s yield frames at the same instants; when the clip has fewer frames than asked, frames repeat.

    Args:
        path (`str` or `os.PathLike`): a local video file.
        num_frames (`int`): how many frames to return.
        start_s (`float`, *optional*): window start in seconds (defaults to the stream start).
        end_s (`float`, *optional*): window end in seconds (defaults to the stream end), e.g. to cut one IEMOCAP
            utterance out of a dialog video.
        short_side (`int`, *optional*): downscale while decoding (in FFmpeg, much cheaper than afterwards) so
            that the shorter side has at most this many pixels, keeping the aspect ratio. Never upscales.

    Returns:
        `np.ndarray` of shape (num_frames, height, width, 3), uint8 RGB.
    """
    path = check_media_path(path)
    decoder = _video_decoder(path)
    meta = decoder.metadata
    if short_side is not None and meta.width and meta.height and min(meta.width, meta.height) > short_side:
        scale = short_side / min(meta.width, meta.height)
        size = (max(1, round(meta.height * scale)), max(1, round(meta.width * scale)))
        decoder = _video_decoder(path, resize_to=size)
    return sample_decoder_frames(decoder, num_frames, start_s, end_s, name=f"`{path}`")
