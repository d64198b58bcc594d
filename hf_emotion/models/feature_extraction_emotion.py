"""Audio feature extractor for the hf_emotion models: fixed-length log-Mel spectrograms (tucker_av) or MFCCs (rmlstm).

This file travels to the Hub (``register_for_auto_class``): module-level imports are limited to the standard
library, numpy, torch, transformers and siblings; torchaudio (filterbanks, DCT, resampling) is imported lazily.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature

from .decoding import _require, centre_span, decode_window, is_decoder, load_audio, resample, to_mono

logger = logging.getLogger(__name__)

FEATURE_TYPES = ("log_mel", "mfcc")


@functools.lru_cache(maxsize=16)
def _filterbank_and_window(
    n_fft: int, win_length: int, num_mel_bins: int, sampling_rate: int, f_min: float, f_max
):
    functional = _require("torchaudio.functional", "Computing Mel filterbanks")
    mel_fbank = functional.melscale_fbanks(
        n_freqs=n_fft // 2 + 1,
        f_min=f_min,
        f_max=float(f_max if f_max is not None else sampling_rate / 2),
        n_mels=num_mel_bins,
        sample_rate=sampling_rate,
        norm=None,
        mel_scale="htk",
    )  # (n_fft // 2 + 1, num_mel_bins)
    window = torch.hann_window(win_length, periodic=True)
    return mel_fbank, window


@functools.lru_cache(maxsize=16)
def _dct_matrix(num_mfcc: int, num_mel_bins: int) -> torch.Tensor:
    functional = _require("torchaudio.functional", "Computing MFCCs")
    return functional.create_dct(num_mfcc, num_mel_bins, norm="ortho")  # (num_mel_bins, num_mfcc)


class EmotionFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns raw speech into a fixed-size time-frequency image: crop/pad to the clip length, then log-Mel (default,
    for `tucker_av`) or MFCC (for `rmlstm`).

    Pipeline: decode (paths) → float32 mono → resample to `sampling_rate` → crop or pad to `clip_seconds`
    (random crop with ``training=True``, centre crop otherwise; shorter clips are zero-padded at the end) →
    power STFT (Hann window of `win_length_ms`, `n_fft` points, no centre padding) → HTK Mel filterbank →
    ``log(mel + log_offset)`` → optionally DCT-II (orthonormal) to `num_mfcc` coefficients → optionally
    per-bin mean/std normalisation.

    **Frame rule (SPEC §1).** The hop is derived from the clip length so that exactly `num_frames` frames span
    the whole clip: ``hop = (clip_samples - win_length) // (num_frames - 1)``. With the defaults (3 s at 16 kHz =
    48,000 samples, 25 ms = 400-sample window, 256 frames) the hop is 186 samples = **11.625 ms** (the paper's
    nominal 10 ms would give ~300 frames, not the 128 × 256 input it reports), and the 256 frames cover
    samples 0–47,830 of 48,000.

    Args:
        feature_type (`str`, *optional*, defaults to `"log_mel"`): `"log_mel"` or `"mfcc"`.
        sampling_rate (`int`, *optional*, defaults to 16000): rate the features are computed at; inputs at other
            rates are resampled.
        clip_seconds (`float`, *optional*, defaults to 3.0): clip length after crop/pad.
        num_mel_bins (`int`, *optional*, defaults to 128): Mel bands.
        num_frames (`int`, *optional*, defaults to 256): frames per clip (sets the hop, see above).
        win_length_ms (`float`, *optional*, defaults to 25.0): analysis window.
        n_fft (`int`, *optional*): FFT size; defaults to the next power of two ≥ twice the window (1024 at
            25 ms/16 kHz), so that all 128 HTK Mel filters get at least one FFT bin.
        num_mfcc (`int`, *optional*, defaults to 40): MFCC coefficients kept when `feature_type="mfcc"`.
        f_min (`float`, *optional*, defaults to 0.0) / f_max (`float`, *optional*): Mel filterbank range
            (f_max defaults to the Nyquist frequency).
        log_offset (`float`, *optional*, defaults to 1e-6): added before the log (silence floor).
        normalization_mean / normalization_std (`list[float]`, *optional*): per-bin statistics set by
            :meth:`fit_normalization`; when present, features are standardised with them.
        padding_value (`float`, *optional*, defaults to 0.0): sample value used to pad short clips.
        do_normalize (`bool`, *optional*, defaults to `False`): the statistics are learnt from the training clips
            (`EmotionProcessor.fit` fits them when this is on); stored statistics are applied either way.

    Output: ``input_features`` of shape (batch, num_mel_bins or num_mfcc, num_frames).

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_emotion.models.feature_extraction_emotion import EmotionFeatureExtractor
    >>> extractor = EmotionFeatureExtractor()
    >>> extractor(np.zeros(48000, dtype=np.float32), sampling_rate=16000)["input_features"].shape
    torch.Size([1, 128, 256])
    ```
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        feature_type: str = "log_mel",
        sampling_rate: int = 16000,
        clip_seconds: float = 3.0,
        num_mel_bins: int = 128,
        num_frames: int = 256,
        win_length_ms: float = 25.0,
        n_fft: int | None = None,
        num_mfcc: int = 40,
        f_min: float = 0.0,
        f_max: float | None = None,
        log_offset: float = 1e-6,
        normalization_mean: list[float] | None = None,
        normalization_std: list[float] | None = None,
        padding_value: float = 0.0,
        do_normalize: bool = False,
        **kwargs,
    ):
        if feature_type not in FEATURE_TYPES:
            raise ValueError(f"`feature_type` must be one of {FEATURE_TYPES}, got {feature_type!r}.")
        if num_frames < 2:
            raise ValueError(f"`num_frames` must be >= 2, got {num_frames}.")
        if feature_type == "mfcc" and not 1 <= num_mfcc <= num_mel_bins:
            raise ValueError(f"`num_mfcc` must be in [1, num_mel_bins={num_mel_bins}], got {num_mfcc}.")
        kwargs.pop("feature_size", None)
        kwargs.setdefault("return_attention_mask", False)
        feature_size = num_mfcc if feature_type == "mfcc" else num_mel_bins
        super().__init__(
            feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs
        )
        self.feature_type = feature_type
        self.clip_seconds = float(clip_seconds)
        self.num_mel_bins = num_mel_bins
        self.num_frames = num_frames
        self.win_length_ms = float(win_length_ms)
        self.num_mfcc = num_mfcc
        self.f_min = float(f_min)
        self.f_max = f_max
        self.log_offset = float(log_offset)
        self.do_normalize = bool(do_normalize)
        win_length = self.win_length
        # Zero-padding the 25 ms window to 1024 points keeps every one of 128 Mel filters non-empty.
        self.n_fft = int(n_fft) if n_fft is not None else 2 ** math.ceil(math.log2(2 * win_length))
        if self.n_fft < win_length:
            raise ValueError(f"`n_fft` ({self.n_fft}) must be >= the window length ({win_length} samples).")
        if self.clip_samples < win_length + num_frames - 1:
            raise ValueError(
                f"A {self.clip_seconds} s clip ({self.clip_samples} samples) is too short for {num_frames} frames of "
                f"{win_length} samples; lower `num_frames` or `win_length_ms`, or raise `clip_seconds`."
            )
        self.normalization_mean = (
            None if normalization_mean is None else [float(v) for v in normalization_mean]
        )
        self.normalization_std = None if normalization_std is None else [float(v) for v in normalization_std]
        for name in ("normalization_mean", "normalization_std"):
            values = getattr(self, name)
            if values is not None and len(values) != feature_size:
                raise ValueError(
                    f"`{name}` must have {feature_size} values (one per feature bin), got {len(values)}."
                )

    # Derived sizes -------------------------------------------------------------------------------------------

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sampling_rate))

    @property
    def win_length(self) -> int:
        return int(round(self.win_length_ms * self.sampling_rate / 1000))

    @property
    def hop_length(self) -> int:
        """Hop in samples so that `num_frames` frames span the clip (11.625 ms with the defaults)."""
        return (self.clip_samples - self.win_length) // (self.num_frames - 1)

    # Waveform handling -----------------------------------------------------------------------------------------

    def _to_waveforms(
        self, raw_audio: Any, sampling_rate: int | None, training: bool = False
    ) -> list[torch.Tensor]:
        """Normalise the accepted input forms into a list of float32 mono tensors at `self.sampling_rate`.

        One clip: a path, a 1-D array, a 2-D array (one multi-channel clip, ``(channels, samples)`` or
        ``(samples, channels)``, down-mixed by the channel mean), a dict or a decoder. A batch is a list of them.
        A path is decoded by `decode_window`: its centre `clip_seconds` (the span the video processor samples
        frames from); with ``training=True`` the whole sound track, for the random crop.
        """
        if (
            isinstance(raw_audio, (str, bytes, dict, np.ndarray, torch.Tensor))
            or hasattr(raw_audio, "__fspath__")
            or is_decoder(raw_audio, "audio")
        ):
            raw_audio = [raw_audio]
        elif not isinstance(raw_audio, (list, tuple)):
            raise ValueError(
                f"`raw_audio` must be a path, an array or a list of them, got {type(raw_audio).__name__}."
            )
        if len(raw_audio) == 0:
            raise ValueError("`raw_audio` is an empty batch.")
        if isinstance(raw_audio[0], (int, float, np.floating)):
            raw_audio = [np.asarray(raw_audio, dtype=np.float32)]  # a plain list of samples is one clip
        waveforms = []
        for index, item in enumerate(raw_audio):
            name = f"raw_audio[{index}]"
            if isinstance(item, bytes) or is_decoder(item, "audio"):
                waveform = torch.from_numpy(load_audio(item, self.sampling_rate))
            elif isinstance(item, str) or hasattr(item, "__fspath__"):
                window = decode_window(
                    item,
                    sampling_rate=self.sampling_rate,
                    max_seconds=None if training else self.clip_seconds,
                    need_video=False,
                )
                if window.waveform is None:
                    raise ValueError(
                        f"`{window.path}` holds zero-length audio (no samples); it cannot be used."
                    )
                waveform = torch.from_numpy(window.waveform)
            else:
                if isinstance(item, dict) and "array" in item:  # datasets.Audio-style dict
                    item, rate = (
                        item["array"],
                        int(item.get("sampling_rate", sampling_rate or self.sampling_rate)),
                    )
                else:
                    if sampling_rate is None:
                        logger.warning(
                            "No `sampling_rate` given with the audio arrays; assuming %d Hz. Pass `sampling_rate` "
                            "to avoid silently wrong features.",
                            self.sampling_rate,
                        )
                        sampling_rate = self.sampling_rate
                    rate = int(sampling_rate)
                waveform = to_mono(item, rate, name)
                if not training:  # the centre span at the array's own rate, cut exactly as a file's window is
                    first, last = centre_span(waveform.shape[-1], rate, self.clip_seconds)
                    waveform = waveform[first:last]
                waveform = resample(waveform, rate, self.sampling_rate)
            if waveform.numel() == 0:
                raise ValueError(f"`{name}` is zero-length audio (no samples).")
            if not torch.isfinite(waveform).all():
                raise ValueError(f"`{name}` contains NaN or infinite samples.")
            waveforms.append(waveform)
        return waveforms

    def crop_or_pad(
        self, waveform: torch.Tensor, training: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Random (training) or centre (eval) crop to `clip_samples`; shorter clips are padded at the end."""
        length, target = waveform.shape[-1], self.clip_samples
        if length > target:
            if training:
                offset = int(torch.randint(0, length - target + 1, (1,), generator=generator))
            else:
                offset = (length - target) // 2
            return waveform[offset : offset + target]
        if length < target:
            logger.debug("Padding a %d-sample clip to %d samples.", length, target)
            return torch.nn.functional.pad(waveform, (0, target - length), value=self.padding_value)
        return waveform

    # Features --------------------------------------------------------------------------------------------------

    def log_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, clip_samples) float → (batch, num_mel_bins, num_frames) natural-log Mel power."""
        mel_fbank, window = _filterbank_and_window(
            self.n_fft, self.win_length, self.num_mel_bins, self.sampling_rate, self.f_min, self.f_max
        )
        frames = waveforms.unfold(-1, self.win_length, self.hop_length)[:, : self.num_frames]
        # frames: (batch, num_frames, win_length)
        spectrum = torch.fft.rfft(frames * window, n=self.n_fft).abs().pow(2)  # (batch, num_frames, n_freqs)
        mel = spectrum @ mel_fbank  # (batch, num_frames, num_mel_bins)
        return torch.log(mel + self.log_offset).transpose(1, 2)  # (batch, num_mel_bins, num_frames)

    def _features(self, waveforms: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        features = self.log_mel(waveforms)
        if self.feature_type == "mfcc":
            dct = _dct_matrix(self.num_mfcc, self.num_mel_bins)  # (num_mel_bins, num_mfcc)
            features = (features.transpose(1, 2) @ dct).transpose(1, 2)  # (batch, num_mfcc, num_frames)
        if normalize and self.normalization_mean is not None and self.normalization_std is not None:
            mean = torch.tensor(self.normalization_mean).view(1, -1, 1)
            std = torch.tensor(self.normalization_std).view(1, -1, 1)
            features = (features - mean) / std
        return features

    def __call__(
        self,
        raw_audio: Any,
        sampling_rate: int | None = None,
        training: bool = False,
        return_tensors: str | None = "pt",
        generator: torch.Generator | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Featurise one clip or a batch.

        Args:
            raw_audio: one clip — a 1-D array, a 2-D array (one multi-channel clip, (channels, samples) or
                (samples, channels), down-mixed by the channel mean), a path (decoded with torchcodec) — or a batch
                as a **list** of them (a 2-D array is never a batch), ``{"array", "sampling_rate"}`` dicts, or torchcodec `AudioDecoder`s
                (what a ``datasets.Audio`` column yields).
            sampling_rate (`int`, *optional*): the rate of the arrays; they are resampled when it differs from
                `self.sampling_rate`.
            training (`bool`, *optional*, defaults to `False`): random crop instead of centre crop.
            return_tensors (`str`, *optional*, defaults to `"pt"`): `"pt"`, `"np"` or `None` (numpy).
            generator (`torch.Generator`, *optional*): seeds the random crop.

        Returns:
            `BatchFeature` with ``input_features`` (batch, feature_size, num_frames), float32.
        """
        if kwargs:
            logger.debug("Ignoring unused feature-extractor arguments: %s", sorted(kwargs))
        waveforms = self._to_waveforms(raw_audio, sampling_rate, training)
        batch = torch.stack(
            [self.crop_or_pad(w, training, generator) for w in waveforms]
        )  # (batch, clip_samples)
        features = self._features(batch).float()
        return BatchFeature({"input_features": features.numpy()}, tensor_type=return_tensors)

    def fit_normalization(
        self, audios: Iterable[Any], sampling_rate: int | None = None
    ) -> EmotionFeatureExtractor:
        """Compute per-bin mean and standard deviation over a dataset's clips (centre-cropped) and store them.

        Args:
            audios: an iterable of anything `__call__` accepts for one clip (arrays at `sampling_rate`, paths or
                ``datasets.Audio`` dicts), e.g. ``(row["audio"] for row in dataset)``.
            sampling_rate (`int`, *optional*): the rate of array inputs.

        Returns:
            `self`, with `normalization_mean` / `normalization_std` set (saved by `save_pretrained`).
        """
        return self.fit_normalization_from_features(
            self._features(
                self.crop_or_pad(self._to_waveforms([audio], sampling_rate or self.sampling_rate)[0])[None],
                normalize=False,
            )[0]
            for audio in audios
        )

    def fit_normalization_from_features(self, features: Iterable[Any]) -> EmotionFeatureExtractor:
        """Per-bin mean and standard deviation from already computed, *unnormalised* ``input_features`` (one
        (feature_size, frames) array per clip, or (batch, feature_size, frames) arrays), stored on `self`."""
        total = torch.zeros(self.feature_size, dtype=torch.float64)
        total_sq = torch.zeros(self.feature_size, dtype=torch.float64)
        count = 0
        for item in features:
            item = torch.as_tensor(np.asarray(item), dtype=torch.float64)
            item = item.reshape(-1, *item.shape[-2:]) if item.dim() >= 2 else item
            if item.dim() != 3 or item.shape[1] != self.feature_size:
                raise ValueError(
                    f"Features must be (feature_size={self.feature_size}, frames) per clip, got {tuple(item.shape)}."
                )
            total += item.sum(dim=(0, 2))
            total_sq += item.pow(2).sum(dim=(0, 2))
            count += item.shape[0] * item.shape[2]
        if count == 0:
            raise ValueError("`fit_normalization` got no audio; pass an iterable of clips.")
        mean = total / count
        std = (total_sq / count - mean.pow(2)).clamp(min=0).sqrt().clamp(min=1e-5)
        self.normalization_mean = mean.tolist()
        self.normalization_std = std.tolist()
        return self

    def normalize(self, features: Any) -> np.ndarray:
        """Apply the fitted statistics to raw (unnormalised) ``input_features`` (..., feature_size, frames), e.g.
        a feature cache computed before fitting: the result equals what `__call__` gives on the same audio."""
        if self.normalization_mean is None or self.normalization_std is None:
            raise ValueError("No normalisation statistics: fit them first (`fit_normalization`).")
        features = np.asarray(features, dtype=np.float32)
        mean = np.asarray(self.normalization_mean, dtype=np.float32)[:, None]
        std = np.asarray(self.normalization_std, dtype=np.float32)[:, None]
        return (features - mean) / std


EmotionFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
