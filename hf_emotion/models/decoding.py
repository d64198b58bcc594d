"""Decode audio and video from media files into numpy arrays, with errors that name the file.

This file travels to the Hub with the processors (``register_for_auto_class``), so it imports only the standard
library, numpy, torch and transformers at module level. Decoding uses torchcodec (FFmpeg), imported inside the
functions that need it; resampling of in-memory arrays uses torchaudio, imported the same way.

- :func:`decode_window` (and :class:`MediaReader`, a file opened once for many windows) returns the audio and the
  frames of the same time window; the processors' path inputs and the pipeline's timeline all decode through it.
- One down-mix rule, :func:`to_mono`: the mean over channels, for decoded files and in-memory arrays alike (files
  are decoded at their own rate, down-mixed, then resampled by torchaudio exactly as arrays are).
- :func:`load_audio` returns float32 mono at the requested rate from any audio or video container (8-bit,
  16-bit, float, stereo, 48 kHz...) or from an ``(array, rate)`` pair.
- :func:`load_video_frames` returns ``num_frames`` RGB frames sampled uniformly over the clip (or a time
  window) by timestamp, so the result does not depend on the source frame rate. Grayscale sources come out as
  three identical channels (FFmpeg converts every pixel format to RGB).
- :func:`probe_media` reports which streams a file has, its duration, frame rate, sample rate and size.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
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


MAX_CHANNELS = 8
MIN_LAYOUT_SECONDS = 0.1


def to_mono(array: np.ndarray | torch.Tensor, sampling_rate: int, name: str = "audio") -> torch.Tensor:
    """The one down-mix rule, for arrays and decoded files alike: float32, then the mean over the channels.

    Integer PCM is rescaled (8-bit unsigned around 128, 16/32-bit signed). A 2-D array is one multi-channel clip,
    ``(channels, samples)`` or ``(samples, channels)`` (soundfile's layout): the channel axis is the one with at most
    `MAX_CHANNELS` (8) entries while the other holds at least `MIN_LAYOUT_SECONDS` (0.1 s) at `sampling_rate`;
    anything else is refused, so a stereo ``(N, 2)`` array is never read as N clips of 2 samples. Averaging keeps a
    tone present in every channel at its amplitude; FFmpeg's own down-mix would scale stereo by 1/sqrt(2) and
    5.1 by about 1/4 relative to this, so it is never used.
    """
    if isinstance(array, torch.Tensor):
        waveform = array
    else:
        array = np.asarray(array)
        waveform = torch.as_tensor(array if array.flags.writeable else array.copy())  # read-only buffers too
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
        rows, columns = waveform.shape
        min_samples = max(MAX_CHANNELS + 1, math.ceil(MIN_LAYOUT_SECONDS * sampling_rate))
        channels_first = rows <= MAX_CHANNELS and columns >= min_samples
        channels_last = columns <= MAX_CHANNELS and rows >= min_samples
        if channels_first == channels_last:
            raise ValueError(
                f"`{name}` has shape {tuple(waveform.shape)}: expected one clip as (samples,), (channels, samples) "
                f"or (samples, channels), with at most {MAX_CHANNELS} channels and at least {min_samples} samples "
                f"({MIN_LAYOUT_SECONDS} s at {sampling_rate} Hz). Pass a batch of clips as a list of arrays."
            )
        waveform = waveform.mean(dim=0 if channels_first else 1)
    elif waveform.dim() != 1:
        raise ValueError(
            f"`{name}` must be 1-D (samples) or 2-D (channels, samples) / (samples, channels), got shape "
            f"{tuple(waveform.shape)}; pass a batch of clips as a list of arrays."
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


def centre_span(num_samples: int, sampling_rate: int, max_seconds: float | None) -> tuple[int, int]:
    """Sample range [first, last) of the centre `max_seconds` of a clip, rounded as torchcodec rounds a window's
    ends, so an array and the file it came from are cut at the same sample (the whole clip when it is shorter)."""
    duration = num_samples / sampling_rate
    if max_seconds is None or duration <= max_seconds + 1e-6:
        return 0, num_samples
    start = (duration - max_seconds) / 2
    first = math.floor(start * sampling_rate + 0.5)
    return first, min(num_samples, math.floor((start + max_seconds) * sampling_rate + 0.5))


def _check_waveform(waveform: torch.Tensor, name: str) -> np.ndarray:
    if waveform.numel() == 0:
        raise ValueError(f"{name} holds zero-length audio (no samples); it cannot be used.")
    if not torch.isfinite(waveform).all():
        raise ValueError(f"{name} contains NaN or infinite samples.")
    return waveform.numpy().astype(np.float32, copy=False)


def load_audio(source: Any, sampling_rate: int = 16000) -> np.ndarray:
    """Decode audio as float32 mono at `sampling_rate` (the whole clip; see :func:`decode_window` for a window).

    Args:
        source (`str`, `os.PathLike`, `tuple` or decoder): a path to any audio or video container FFmpeg reads
            (wav, mp3, flac, mp4, flv, avi...), an ``(array, sampling_rate)`` pair holding a waveform in memory
            (see :func:`to_mono` for the accepted shapes; float or 8/16/32-bit integer PCM), or a torchcodec
            `AudioDecoder` (what a ``datasets.Audio`` column yields).
        sampling_rate (`int`, *optional*, defaults to 16000): the output rate.

    Every source is down-mixed by :func:`to_mono` (channel mean) at its own rate, then resampled by
    :func:`resample` (torchaudio), so an array and the file it came from give the same waveform.

    Returns:
        `np.ndarray` of shape (samples,), float32, roughly in [-1, 1].

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a URL, a file without an audio stream, an unreadable/corrupt/truncated file, or zero-length
            audio; the message names the file.
    """
    if isinstance(source, (tuple, list)) and len(source) == 2 and np.isscalar(source[1]):
        array, rate = source
        waveform = resample(to_mono(array, int(rate), "audio array"), int(rate), sampling_rate)
        return _check_waveform(waveform, "audio array")
    if is_decoder(source, "audio"):
        name = _decoder_name(source)
        try:
            samples = source.get_all_samples()
        except (RuntimeError, ValueError) as error:
            raise ValueError(
                f"Could not decode the audio of {name}: corrupt or truncated ({error})."
            ) from error
        waveform = resample(
            to_mono(samples.data, samples.sample_rate, name), samples.sample_rate, sampling_rate
        )
        return _check_waveform(waveform, name)
    window = MediaReader(source).window(sampling_rate=sampling_rate, need_video=False)
    if window.waveform is None:
        raise ValueError(f"`{window.path}` holds zero-length audio (no samples); it cannot be used.")
    return window.waveform


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


def resize_short_side(frames: torch.Tensor, short_side: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, H', W', 3) uint8 whose shorter side is `short_side` (aspect kept, never below it).

    Bilinear with antialiasing on uint8 channels-last tensors (torch's vectorised fast path). The video processor
    resizes with this same function, so frames shrunk while decoding equal frames decoded full size and resized.
    """
    height, width = frames.shape[1], frames.shape[2]
    scale = short_side / min(height, width)
    size = (max(short_side, round(height * scale)), max(short_side, round(width * scale)))
    if size == (height, width):
        return frames
    clip = frames.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)  # (T, 3, H, W)
    clip = torch.nn.functional.interpolate(
        clip, size=size, mode="bilinear", align_corners=False, antialias=scale < 1
    )
    return clip.permute(0, 2, 3, 1)  # (T, H', W', 3), a view of channels-last memory


DECODE_CHUNK_FRAMES = 8


def sample_decoder_frames(
    decoder: Any,
    num_frames: int,
    start_s: float | None = None,
    end_s: float | None = None,
    name: str | None = None,
    short_side: int | None = None,
) -> np.ndarray:
    """Sample `num_frames` frames uniformly in time from an open torchcodec `VideoDecoder` (any dimension order).

    Frames are decoded `DECODE_CHUNK_FRAMES` at a time (seeking to each timestamp); with `short_side`, frames whose
    shorter side is larger are shrunk by :func:`resize_short_side` chunk by chunk, so memory follows the target size,
    not the source (a 4K clip never holds more than one chunk of full-size frames).

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
    times = frame_timestamps(window_begin, window_end, num_frames).tolist()
    chunks = []
    for first in range(0, num_frames, DECODE_CHUNK_FRAMES):
        try:
            frames = decoder.get_frames_played_at(seconds=times[first : first + DECODE_CHUNK_FRAMES]).data
        except (RuntimeError, ValueError, IndexError) as error:
            raise ValueError(
                f"Could not decode the video frames of {name}: the file is corrupt or truncated ({error})."
            ) from error
        if frames.shape[-1] != 3 and frames.shape[1] == 3:
            frames = frames.permute(0, 2, 3, 1)  # NCHW -> (frames, height, width, 3)
        if short_side is not None and min(frames.shape[1], frames.shape[2]) > short_side:
            frames = resize_short_side(frames, short_side)
        chunks.append(frames.contiguous())
    return torch.cat(chunks).numpy()


@dataclass
class DecodedWindow:
    """Audio and frames of one time window of a media file (see :func:`decode_window`).

    Attributes:
        waveform (`np.ndarray` or `None`): (samples,) float32 mono at `sampling_rate`; sample 0 is at `start_s`
            (a sound track that starts late inside the window is preceded by silence). `None` when audio was not
            asked for or the window holds no audio.
        frames (`np.ndarray` or `None`): (num_frames, H, W, 3) uint8 RGB at the centres of equal bins over the part
            of the window the video covers. `None` when frames were not asked for or the window holds none.
        start_s / end_s (`float`): the span decoded, in seconds from the start of the file.
        sampling_rate (`int`): the rate of `waveform`.
        missing (`list[str]`): the modalities asked for that the window does not hold (``"audio"``, ``"video"``).
        path (`str`): the file.
    """

    waveform: np.ndarray | None
    frames: np.ndarray | None
    start_s: float
    end_s: float
    sampling_rate: int
    missing: list[str] = field(default_factory=list)
    path: str = ""

    def missing_message(self) -> str:
        """One line for a clip that cannot be used because a modality is missing from its window."""
        return (
            f"`{self.path}` holds no {' or '.join(self.missing)} data in {self.start_s:.2f}-{self.end_s:.2f} s, the "
            "span its audio and frames are both taken from; it cannot be used (re-encode it, or use a model "
            "without that modality)."
        )


class MediaReader:
    """One opened media file: probed once, each stream opened once, any number of windows decoded from it.

    Args:
        source (`str` or `os.PathLike`): a local audio or video file. Its audio and video streams are both opened
            (one torchcodec decoder each, which is also the probe), whatever a caller decodes, so the file's
            duration — and so the centre span of a long file — is the same for the audio feature extractor, the
            video processor, the processor and the pipeline. A stream the file lacks is recorded in :attr:`info`
            (``has_audio`` / ``has_video``) and raises only when a window asks for it.
        seek_mode (`str`, *optional*, defaults to `"exact"`): torchcodec's video seek mode (`"exact"` scans the
            file once on opening; `"approximate"` trusts the header, for probing).

    Times given to :meth:`window` are seconds from the start of the file (the earliest stream start).
    """

    def __init__(self, source: str | os.PathLike, seek_mode: str = "exact"):
        self.path = check_media_path(source)
        decoders = _require("torchcodec.decoders", "Decoding media")
        self.video = self.audio = None
        self._errors: dict[str, Exception] = {}
        try:
            self.video = decoders.VideoDecoder(self.path, dimension_order="NHWC", seek_mode=seek_mode)
        except (RuntimeError, ValueError) as error:
            self._errors["video"] = error
        try:
            self.audio = decoders.AudioDecoder(self.path)
        except (RuntimeError, ValueError) as error:
            self._errors["audio"] = error
        if self._errors and self.audio is None and self.video is None:
            raise _open_error(self.path, "streams", list(self._errors.values())[-1])
        self.info = self._describe()

    def _describe(self) -> dict[str, Any]:
        info: dict[str, Any] = dict.fromkeys(
            ("fps", "num_frames", "width", "height", "sample_rate", "num_channels", "duration_s")
        )
        info.update(has_audio=self.audio is not None, has_video=self.video is not None)
        spans = []
        if self.video is not None:
            meta = self.video.metadata
            info.update(
                fps=meta.average_fps, num_frames=meta.num_frames, width=meta.width, height=meta.height
            )
            video_end = (
                meta.end_stream_seconds if meta.end_stream_seconds is not None else meta.duration_seconds
            )
            if video_end is not None:
                spans.append((meta.begin_stream_seconds or 0.0, video_end))
        if self.audio is not None:
            meta = self.audio.metadata
            info.update(sample_rate=meta.sample_rate, num_channels=meta.num_channels)
            if meta.duration_seconds is not None:
                begin = meta.begin_stream_seconds or 0.0
                spans.append((begin, begin + meta.duration_seconds))
        self.origin = min((begin for begin, _ in spans), default=0.0)
        end = max((end for _, end in spans), default=None)
        info["duration_s"] = None if end is None else float(end - self.origin)
        return info

    def _stream_error(self, kind: str) -> ValueError:
        cause = self._errors.get(kind, RuntimeError(f"No {kind} stream"))
        return _open_error(self.path, kind, cause)

    def span(
        self, start_s: float | None = None, end_s: float | None = None, max_seconds: float | None = None
    ) -> tuple[float, float]:
        """The window actually decoded: [start_s, end_s) (default: the whole file), narrowed to its centre
        `max_seconds` when longer, so audio and frames always cover the same span."""
        duration = self.info["duration_s"]
        start = 0.0 if start_s is None else float(start_s)
        end = (duration if duration is not None else math.inf) if end_s is None else float(end_s)
        if (start_s is not None or end_s is not None) and not end > start:
            raise ValueError(f"The time window [{start_s}, {end_s}] s of `{self.path}` is empty.")
        if max_seconds is not None and math.isfinite(end) and end - start > max_seconds + 1e-6:
            centre = (start + end) / 2
            start, end = centre - max_seconds / 2, centre + max_seconds / 2
        return start, end

    def _audio_window(self, start: float, end: float, sampling_rate: int) -> np.ndarray | None:
        meta = self.audio.metadata
        begin = meta.begin_stream_seconds or 0.0
        stop = begin + meta.duration_seconds if meta.duration_seconds is not None else math.inf
        first, last = max(start + self.origin, begin), min(end + self.origin, stop)
        if last <= first:
            return None
        try:
            samples = self.audio.get_samples_played_in_range(first, last if math.isfinite(last) else None)
        except (RuntimeError, ValueError) as error:
            if "No audio frames were decoded" in str(error):
                return None
            raise _open_error(self.path, "audio", error) from error
        rate = samples.sample_rate
        if samples.data.shape[-1] == 0:
            return None
        waveform = to_mono(samples.data, rate, f"`{self.path}`")
        lead = round((samples.pts_seconds - self.origin - start) * rate)  # audio starting late in the window
        if lead > 0:
            waveform = torch.nn.functional.pad(waveform, (lead, 0))
        return _check_waveform(resample(waveform, rate, sampling_rate), f"`{self.path}`")

    def _video_window(self, start: float, end: float, num_frames: int, short_side: int | None):
        meta = self.video.metadata
        begin = meta.begin_stream_seconds or 0.0
        stop = meta.end_stream_seconds if meta.end_stream_seconds is not None else meta.duration_seconds
        if stop is None or min(end + self.origin, stop) <= max(start + self.origin, begin):
            return None
        return sample_decoder_frames(
            self.video, num_frames, start + self.origin, end + self.origin, f"`{self.path}`", short_side
        )

    def window(
        self,
        start_s: float | None = None,
        end_s: float | None = None,
        *,
        sampling_rate: int = 16000,
        num_frames: int = 90,
        short_side: int | None = None,
        max_seconds: float | None = None,
        need_audio: bool = True,
        need_video: bool = True,
    ) -> DecodedWindow:
        """Decode the audio and frames of one window; see :func:`decode_window` for the arguments."""
        start, end = self.span(start_s, end_s, max_seconds)
        waveform = frames = None
        missing = []
        if need_audio:
            if self.audio is None:
                raise self._stream_error("audio")
            waveform = self._audio_window(start, end, sampling_rate)
            if waveform is None:
                missing.append("audio")
        if need_video:
            if self.video is None:
                raise self._stream_error("video")
            frames = self._video_window(start, end, num_frames, short_side)
            if frames is None:
                missing.append("video")
        return DecodedWindow(waveform, frames, start, end, sampling_rate, missing, self.path)


def decode_window(
    source: str | os.PathLike | MediaReader,
    start_s: float | None = None,
    end_s: float | None = None,
    **options: Any,
) -> DecodedWindow:
    """Decode the audio and the frames of the same time window of a media file, opening the file once.

    The whole clip is the window with no `start_s`/`end_s`; the pipeline's timeline decodes each window with this
    same function, so a file's single timeline window and the whole-clip call give the same inputs.

    Args:
        source (`str`, `os.PathLike` or `MediaReader`): a local file, or a file already opened (a timeline reuses it).
        start_s / end_s (`float`, *optional*): the window in seconds from the start of the file (default: all of it).
        options: keyword arguments of :meth:`MediaReader.window`:
            sampling_rate (`int`, *optional*, defaults to 16000): the rate of the returned waveform.
            num_frames (`int`, *optional*, defaults to 90): frames at the centres of equal bins over the window.
            short_side (`int`, *optional*): shrink frames whose shorter side is larger to this size while decoding (see
                :func:`sample_decoder_frames`); never upscales.
            max_seconds (`float`, *optional*): a window longer than this is narrowed to its centre `max_seconds`, for
                audio and frames alike (the processors pass their `clip_seconds`).
            need_audio / need_video (`bool`, *optional*, default `True`): which modalities to decode.

    Audio is decoded at the file's own rate, down-mixed by :func:`to_mono` (the channel mean, exactly as for arrays)
    and resampled by :func:`resample`. A window where an asked-for stream has no data (a sound track that ends
    early, a video shorter than the audio) gets `None` for it and its name in ``missing``.

    Returns:
        :class:`DecodedWindow`.

    Raises:
        FileNotFoundError / ValueError: a missing path, a URL, a file that is not media or is corrupt/truncated, or
            a stream asked for that the file lacks; the message names the file.
    """
    # Duck-typed: under remote code the pipeline's and the processor's copies of this module differ.
    opened = hasattr(source, "window") and hasattr(source, "info")
    return (source if opened else MediaReader(source)).window(start_s, end_s, **options)


def probe_media(path: str | os.PathLike) -> dict[str, Any]:
    """Describe a media file's streams.

    Returns:
        `dict` with ``has_audio``, ``has_video`` (`bool`), ``duration_s`` (`float`, from the earliest stream start to
        the latest stream end), ``fps``, ``width``, ``height`` (video, else `None`), ``num_frames`` (video, else
        `None`) and ``sample_rate``, ``num_channels`` (audio, else `None`).

    Raises:
        FileNotFoundError / ValueError: missing file, URL, or a file FFmpeg cannot open (not media, corrupt).
    """
    return MediaReader(path, seek_mode="approximate").info


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
        start_s (`float`, *optional*): window start in seconds from the start of the file.
        end_s (`float`, *optional*): window end in seconds (defaults to the end), e.g. to cut one IEMOCAP
            utterance out of a dialog video.
        short_side (`int`, *optional*): shrink while decoding so that the shorter side has at most this many pixels,
            keeping the aspect ratio (:func:`resize_short_side`, chunk by chunk). Never upscales.

    Returns:
        `np.ndarray` of shape (num_frames, height, width, 3), uint8 RGB.
    """
    window = decode_window(
        path, start_s, end_s, num_frames=num_frames, short_side=short_side, need_audio=False
    )
    if window.frames is None:
        raise ValueError(f"The time window [{start_s}, {end_s}] s of `{window.path}` holds no video frames.")
    return window.frames
