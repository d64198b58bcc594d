"""Train-time augmentation from the Tucker cross-attention paper's Table A1.

The training loop (`hf_emotion.training.train_model`) augments every training batch of prepared features with
:class:`FeatureAugmenter` by default for `tucker_av` (the paper's recipe; `augment=False` / `--no-augment` turns it
off); its docstring says which operation applies to which preset. The waveform and frame augmenters below work
on raw media, for pipelines that decode on the fly.

Audio (on waveforms, before feature extraction): pitch shift, time stretch, background noise at a chosen SNR.
Video (on a clip's frame tensor, e.g. one clip of ``pixel_values_videos``): horizontal flip, small rotation,
random crop (resized back to the input size). Every video transform draws its parameters once per clip and
applies them to all frames, so motion stays coherent.

Each operation fires with its own probability; ranges and probabilities are constructor arguments (defaults
below). Randomness comes from a `torch.Generator` seeded by `seed`, so a run is reproducible.

| operation | default probability | default range | implementation |
|---|---|---|---|
| pitch shift | 0.5 | ±2 semitones (integer steps, 0 excluded) | phase vocoder + `torchaudio.functional.resample` |
| time stretch | 0.5 | rate 0.9–1.1 (duration / rate, pitch kept) | STFT → `torchaudio.functional.phase_vocoder` → ISTFT |
| background noise | 0.5 | SNR 10–30 dB; white noise, or a random excerpt of `noise_bank` clips | `torchaudio.functional.add_noise` |
| horizontal flip | 0.5 | — | `torchvision.transforms.v2.functional.horizontal_flip` |
| rotation | 0.5 | ±10° (bilinear, zero fill) | `torchvision.transforms.v2.functional.rotate` |
| random crop | 0.5 | 80–100 % of each side, resized back | `torchvision.transforms.v2.functional.resized_crop` |

Typical use with a `datasets.Dataset` (augment on the fly, never cache augmented features)::

    augmenter = AudioVisualAugmenter(seed=0)
    def train_transform(batch):
        waves = [augmenter.audio(load_audio(p)) for p in batch["path"]]
        inputs = processor(videos=batch["path"], audio=waves, sampling_rate=16000, training=True)
        inputs["pixel_values_videos"] = augmenter.video(inputs["pixel_values_videos"])
        return inputs
    train_dataset.set_transform(train_transform)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torchaudio.functional as audio_functional
import torchvision.transforms.v2.functional as video_functional

logger = logging.getLogger(__name__)


def _check_probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a probability in [0, 1], got {value}.")
    return float(value)


def _check_range(name: str, values: Sequence[float], low: float | None = None) -> tuple[float, float]:
    if len(values) != 2 or values[0] > values[1] or (low is not None and values[0] <= low):
        raise ValueError(f"`{name}` must be a (min, max) pair with min <= max, got {values}.")
    return float(values[0]), float(values[1])


class _Seeded:
    def __init__(self, seed: int | None):
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()  # a non-deterministic seed for this generator only (not the global RNG)
        else:
            self.generator.manual_seed(seed)

    def _fires(self, probability: float) -> bool:
        return probability > 0 and float(torch.rand((), generator=self.generator)) < probability

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=self.generator))


def time_stretch(
    waveform: torch.Tensor, rate: float, n_fft: int = 512, hop_length: int = 128
) -> torch.Tensor:
    """Change duration by 1/rate keeping pitch (phase vocoder). (..., samples) → (..., round(samples / rate))."""
    if rate <= 0:
        raise ValueError(f"`rate` must be positive, got {rate}.")
    window = torch.hann_window(n_fft)
    spec = torch.stft(waveform, n_fft, hop_length, window=window, return_complex=True)  # (..., freq, frames)
    phase_advance = torch.linspace(0, math.pi * hop_length, n_fft // 2 + 1)[:, None]  # (freq, 1)
    stretched = audio_functional.phase_vocoder(spec, rate, phase_advance)
    length = int(round(waveform.shape[-1] / rate))
    return torch.istft(stretched, n_fft, hop_length, window=window, length=length)


def pitch_shift(waveform: torch.Tensor, semitones: float) -> torch.Tensor:
    """Shift pitch by `semitones` keeping duration: phase-vocoder stretch by the ratio r = 2^(semitones/12), then
    band-limited resampling by r (approximated by a fraction with denominator <= 64, i.e. within ~0.03 semitone).

    Same result as `torchaudio.functional.pitch_shift`, whose exact-ratio resampling kernel is ~100x slower.
    """
    ratio = Fraction(2.0 ** (semitones / 12.0)).limit_denominator(64)
    if ratio == 1:
        return waveform
    length = waveform.shape[-1]
    stretched = time_stretch(waveform, 1.0 / float(ratio))  # (..., ~length * ratio)
    shifted = audio_functional.resample(stretched, ratio.numerator, ratio.denominator)  # (..., ~length)
    if shifted.shape[-1] >= length:
        return shifted[..., :length]
    return torch.nn.functional.pad(shifted, (0, length - shifted.shape[-1]))


def mix_at_snr(signal: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """``signal + g·noise`` with g chosen so that 10·log10(P_signal / P_{g·noise}) = `snr_db`. Same shapes."""
    return audio_functional.add_noise(signal[None], noise[None], torch.tensor([float(snr_db)]))[0]


class AudioAugmenter(_Seeded):
    """Random pitch shift, time stretch and background noise for one mono waveform (see the module table).

    Args:
        sampling_rate (`int`, *optional*, defaults to 16000): rate of the waveforms.
        pitch_shift_prob (`float`, *optional*, defaults to 0.5) / pitch_shift_semitones (`tuple`, defaults to
            (-2, 2)): integer semitone steps drawn uniformly from the range, 0 excluded.
        time_stretch_prob (`float`, *optional*, defaults to 0.5) / time_stretch_range (`tuple`, defaults to
            (0.9, 1.1)): stretch rate (>1 faster/shorter).
        noise_prob (`float`, *optional*, defaults to 0.5) / snr_db_range (`tuple`, defaults to (10, 30)).
        noise_bank (`list` of 1-D arrays, *optional*): background recordings at `sampling_rate`; a random excerpt
            (looped when short) is mixed in. Defaults to white Gaussian noise.
        seed (`int`, *optional*): seeds the generator.
    """

    def __init__(
        self,
        sampling_rate: int = 16000,
        pitch_shift_prob: float = 0.5,
        pitch_shift_semitones: tuple[int, int] = (-2, 2),
        time_stretch_prob: float = 0.5,
        time_stretch_range: tuple[float, float] = (0.9, 1.1),
        noise_prob: float = 0.5,
        snr_db_range: tuple[float, float] = (10.0, 30.0),
        noise_bank: Sequence[np.ndarray] | None = None,
        seed: int | None = None,
    ):
        super().__init__(seed)
        self.sampling_rate = sampling_rate
        self.pitch_shift_prob = _check_probability("pitch_shift_prob", pitch_shift_prob)
        self.pitch_shift_semitones = tuple(
            int(s) for s in _check_range("pitch_shift_semitones", pitch_shift_semitones)
        )
        self.time_stretch_prob = _check_probability("time_stretch_prob", time_stretch_prob)
        self.time_stretch_range = _check_range("time_stretch_range", time_stretch_range, low=0.0)
        self.noise_prob = _check_probability("noise_prob", noise_prob)
        self.snr_db_range = _check_range("snr_db_range", snr_db_range)
        self.noise_bank = [torch.as_tensor(np.asarray(n, dtype=np.float32)) for n in (noise_bank or [])]
        if any(n.dim() != 1 or n.numel() == 0 for n in self.noise_bank):
            raise ValueError("`noise_bank` must hold non-empty 1-D (mono) waveforms.")

    def pitch_shift(self, waveform: torch.Tensor, semitones: float) -> torch.Tensor:
        return pitch_shift(waveform, semitones)

    def noise_like(self, waveform: torch.Tensor) -> torch.Tensor:
        length = waveform.shape[-1]
        if not self.noise_bank:
            return torch.randn(length, generator=self.generator)
        noise = self.noise_bank[int(torch.randint(len(self.noise_bank), (1,), generator=self.generator))]
        if noise.numel() < length:
            noise = noise.repeat(math.ceil(length / noise.numel()))
        start = int(torch.randint(noise.numel() - length + 1, (1,), generator=self.generator))
        return noise[start : start + length]

    def __call__(self, waveform: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Augment one mono waveform (samples,); returns a float32 tensor (its length changes with a stretch)."""
        waveform = torch.as_tensor(np.asarray(waveform, dtype=np.float32))
        if waveform.dim() != 1 or waveform.numel() == 0:
            raise ValueError(
                f"Audio augmentation expects one non-empty mono waveform, got shape {tuple(waveform.shape)}."
            )
        if self._fires(self.pitch_shift_prob):
            low, high = self.pitch_shift_semitones
            steps = [s for s in range(low, high + 1) if s != 0]
            if steps:
                semitones = steps[int(torch.randint(len(steps), (1,), generator=self.generator))]
                waveform = self.pitch_shift(waveform, semitones)
        if self._fires(self.time_stretch_prob):
            waveform = time_stretch(waveform, self._uniform(*self.time_stretch_range))
        if self._fires(self.noise_prob):
            waveform = mix_at_snr(waveform, self.noise_like(waveform), self._uniform(*self.snr_db_range))
        return waveform


class VideoAugmenter(_Seeded):
    """Random horizontal flip, rotation and crop with the same parameters for every frame of a clip.

    Args:
        flip_prob (`float`, *optional*, defaults to 0.5).
        rotation_prob (`float`, *optional*, defaults to 0.5) / max_rotation_degrees (`float`, defaults to 10).
        crop_prob (`float`, *optional*, defaults to 0.5) / crop_scale (`tuple`, defaults to (0.8, 1.0)): side
            fraction kept (height and width drawn independently), then resized back to the input size.
        seed (`int`, *optional*): seeds the generator.

    Input: one clip (frames, channels, height, width) or a batch (batch, frames, channels, height, width), float
    or uint8; each clip of a batch draws its own parameters.
    """

    def __init__(
        self,
        flip_prob: float = 0.5,
        rotation_prob: float = 0.5,
        max_rotation_degrees: float = 10.0,
        crop_prob: float = 0.5,
        crop_scale: tuple[float, float] = (0.8, 1.0),
        seed: int | None = None,
    ):
        super().__init__(seed)
        self.flip_prob = _check_probability("flip_prob", flip_prob)
        self.rotation_prob = _check_probability("rotation_prob", rotation_prob)
        if max_rotation_degrees < 0:
            raise ValueError(f"`max_rotation_degrees` must be >= 0, got {max_rotation_degrees}.")
        self.max_rotation_degrees = float(max_rotation_degrees)
        self.crop_prob = _check_probability("crop_prob", crop_prob)
        self.crop_scale = _check_range("crop_scale", crop_scale, low=0.0)
        if self.crop_scale[1] > 1.0:
            raise ValueError(f"`crop_scale` must lie in (0, 1], got {crop_scale}.")

    def augment_clip(self, clip: torch.Tensor) -> torch.Tensor:
        """(frames, channels, height, width) → same shape; one draw of parameters for all frames."""
        height, width = clip.shape[-2:]
        if self._fires(self.flip_prob):
            clip = video_functional.horizontal_flip(clip)
        if self._fires(self.rotation_prob):
            angle = self._uniform(-self.max_rotation_degrees, self.max_rotation_degrees)
            clip = video_functional.rotate(
                clip, angle, interpolation=video_functional.InterpolationMode.BILINEAR
            )
        if self._fires(self.crop_prob):
            crop_h = max(1, round(height * self._uniform(*self.crop_scale)))
            crop_w = max(1, round(width * self._uniform(*self.crop_scale)))
            top = int(torch.randint(height - crop_h + 1, (1,), generator=self.generator))
            left = int(torch.randint(width - crop_w + 1, (1,), generator=self.generator))
            clip = video_functional.resized_crop(clip, top, left, crop_h, crop_w, [height, width])
        return clip

    def __call__(self, videos: torch.Tensor) -> torch.Tensor:
        videos = torch.as_tensor(videos)
        if videos.dim() == 4:
            return self.augment_clip(videos)
        if videos.dim() == 5:
            return torch.stack([self.augment_clip(clip) for clip in videos])  # (batch, frames, C, H, W)
        raise ValueError(
            f"Video augmentation expects (frames, C, H, W) or (batch, frames, C, H, W), got {tuple(videos.shape)}."
        )


class AudioVisualAugmenter:
    """Both augmenters behind one switch: `training=False` (the default) returns the inputs untouched.

    Args:
        audio (`AudioAugmenter`, *optional*): defaults to `AudioAugmenter(seed=seed)`.
        video (`VideoAugmenter`, *optional*): defaults to `VideoAugmenter(seed=seed + 1)`.
        seed (`int`, *optional*, defaults to 0).
    """

    def __init__(
        self, audio: AudioAugmenter | None = None, video: VideoAugmenter | None = None, seed: int = 0
    ):
        self.audio = audio if audio is not None else AudioAugmenter(seed=seed)
        self.video = video if video is not None else VideoAugmenter(seed=seed + 1)

    def __call__(
        self,
        waveform: np.ndarray | torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        training: bool = False,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not training:
            return waveform, pixel_values_videos
        if waveform is not None:
            waveform = self.audio(waveform)
        if pixel_values_videos is not None:
            pixel_values_videos = self.video(pixel_values_videos)
        return waveform, pixel_values_videos


def _htk_mel(frequency: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + frequency / 700.0)


def _htk_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


class FeatureAugmenter(_Seeded):
    """Table A1's augmentations on a collated TRAINING batch of prepared features (the loop applies it to
    training batches only). What applies depends on what a preset prepares:

    | batch input | preset | what applies |
    |---|---|---|
    | `pixel_values_videos` | `demo` (backbone trained on pixels) | flip, rotation, crop: `VideoAugmenter`, as in the paper |
    | `frame_features` | `cached`, `paper` with a frozen backbone | nothing: embeddings of fixed frames cannot be flipped, rotated or cropped |
    | `input_features`, log-Mel | `tucker_av` | time stretch, pitch shift, background noise, on the spectrogram (below) |
    | `input_features`, MFCC | `rmlstm` | time stretch only (pitch and noise do not act simply on cepstra) |
    | `text_features` | `rmlstm` with text | nothing |

    On a log-Mel spectrogram (batch, mel, frames): **time stretch** by rate r resamples the frame axis
    (linear interpolation to frames / r, then centre crop, or edge padding, back to the input length) — what a
    phase-vocoder stretch does to a spectrogram; **pitch shift** by s semitones moves every Mel band to the
    frequency 2^(s/12) times its own (linear interpolation along the HTK Mel axis of the processor's
    filterbank); **background noise** adds white noise at an SNR in the power domain,
    ``log(exp(x) + n)`` with n exponentially distributed around mean power / 10^(SNR/10) per band. Features
    standardised by the processor's normalisation statistics are un-standardised first and standardised again.

    Args:
        feature_extractor (`EmotionFeatureExtractor`, *optional*): the run's audio settings (feature type, Mel
            bands, frequency range, statistics); without it, audio features only get the time stretch.
        video (`VideoAugmenter`, *optional*): for `pixel_values_videos`; defaults to `VideoAugmenter()`.
        time_stretch_prob / time_stretch_range, pitch_shift_prob / pitch_shift_semitones, noise_prob /
            snr_db_range: as in `AudioAugmenter` (same defaults).
        seed (`int`, *optional*): seeds the generator; `__call__(batch, generator=...)` can pass one per batch.
    """

    def __init__(
        self,
        feature_extractor: Any = None,
        video: VideoAugmenter | None = None,
        time_stretch_prob: float = 0.5,
        time_stretch_range: tuple[float, float] = (0.9, 1.1),
        pitch_shift_prob: float = 0.5,
        pitch_shift_semitones: tuple[int, int] = (-2, 2),
        noise_prob: float = 0.5,
        snr_db_range: tuple[float, float] = (10.0, 30.0),
        seed: int | None = None,
    ):
        super().__init__(seed)
        self.feature_extractor = feature_extractor
        self.video = video if video is not None else VideoAugmenter(seed=seed)
        self.time_stretch_prob = _check_probability("time_stretch_prob", time_stretch_prob)
        self.time_stretch_range = _check_range("time_stretch_range", time_stretch_range, low=0.0)
        self.pitch_shift_prob = _check_probability("pitch_shift_prob", pitch_shift_prob)
        self.pitch_shift_semitones = tuple(
            int(s) for s in _check_range("pitch_shift_semitones", pitch_shift_semitones)
        )
        self.noise_prob = _check_probability("noise_prob", noise_prob)
        self.snr_db_range = _check_range("snr_db_range", snr_db_range)

    @classmethod
    def for_processor(cls, processor: Any = None, **kwargs) -> FeatureAugmenter:
        """The augmenter for a run's processor (its feature extractor), with the default probabilities."""
        return cls(getattr(processor, "feature_extractor", None), **kwargs)

    @property
    def _log_mel(self) -> bool:
        return getattr(self.feature_extractor, "feature_type", None) == "log_mel"

    def time_stretch(self, features: torch.Tensor, rate: float) -> torch.Tensor:
        """(channels, frames) → same shape: the frame axis resampled to frames / rate, centre-cropped or
        edge-padded back."""
        frames = features.shape[-1]
        length = max(2, int(round(frames / rate)))
        stretched = torch.nn.functional.interpolate(
            features[None], size=length, mode="linear", align_corners=True
        )[0]  # (channels, length)
        if length >= frames:
            start = (length - frames) // 2
            return stretched[:, start : start + frames]
        left = (frames - length) // 2
        return torch.nn.functional.pad(stretched[None], (left, frames - length - left), mode="replicate")[0]

    def _band_frequencies(self, bands: int) -> torch.Tensor:
        extractor = self.feature_extractor
        f_max = extractor.f_max if extractor.f_max is not None else extractor.sampling_rate / 2
        mels = torch.linspace(
            float(_htk_mel(torch.tensor(extractor.f_min))),
            float(_htk_mel(torch.tensor(float(f_max)))),
            bands + 2,
        )
        return mels  # (bands + 2,) band edges and centres on the Mel axis

    def pitch_shift(self, log_mel: torch.Tensor, semitones: float) -> torch.Tensor:
        """(mel, frames) → same shape: band i takes the value the unshifted spectrogram has at the frequency
        f_i / 2^(semitones/12) (linear interpolation between bands; edges held)."""
        bands = log_mel.shape[0]
        mels = self._band_frequencies(bands)
        centres = mels[1:-1]  # (mel,)
        source = _htk_mel(_htk_hz(centres) / 2.0 ** (semitones / 12.0))
        position = ((source - centres[0]) / (mels[1] - mels[0])).clamp(0, bands - 1)  # fractional band index
        low = position.floor().long().clamp(max=bands - 1)
        high = (low + 1).clamp(max=bands - 1)
        weight = (position - low).unsqueeze(-1)  # (mel, 1)
        return log_mel[low] * (1 - weight) + log_mel[high] * weight

    def add_noise(self, log_mel: torch.Tensor, snr_db: float) -> torch.Tensor:
        """(mel, frames) → same shape: white noise at `snr_db` added in the power domain."""
        offset = float(getattr(self.feature_extractor, "log_offset", 0.0))
        power = (log_mel.exp() - offset).clamp(min=0)
        noise_power = power.mean() / 10.0 ** (snr_db / 10.0)
        noise = -torch.log1p(-torch.rand(power.shape, generator=self.generator)) * noise_power  # Exp(mean)
        return torch.log(power + noise + offset)

    def _audio(self, features: torch.Tensor) -> torch.Tensor:
        """One clip's (channels, frames) audio features."""
        extractor = self.feature_extractor
        mean = getattr(extractor, "normalization_mean", None)
        std = getattr(extractor, "normalization_std", None)
        if mean is not None and std is not None:
            mean, std = torch.tensor(mean).view(-1, 1), torch.tensor(std).view(-1, 1)
            features = features * std + mean
        if self._fires(self.time_stretch_prob):
            features = self.time_stretch(features, self._uniform(*self.time_stretch_range))
        if self._log_mel:
            if self._fires(self.pitch_shift_prob):
                low, high = self.pitch_shift_semitones
                steps = [s for s in range(low, high + 1) if s != 0]
                if steps:
                    semitones = steps[int(torch.randint(len(steps), (1,), generator=self.generator))]
                    features = self.pitch_shift(features, semitones)
            if self._fires(self.noise_prob):
                features = self.add_noise(features, self._uniform(*self.snr_db_range))
        if mean is not None and std is not None:
            features = (features - mean) / std
        return features

    def __call__(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> dict[str, Any]:
        """A new batch dict with augmented `input_features` and `pixel_values_videos` (each clip its own draws);
        other entries are passed through."""
        if generator is not None:
            self.generator = self.video.generator = generator
        batch = dict(batch)
        if "input_features" in batch:
            audio = batch["input_features"]
            augmented = [self._audio(clip.detach().float().cpu()) for clip in audio]
            batch["input_features"] = torch.stack(augmented).to(audio)  # (batch, channels, frames)
        if "pixel_values_videos" in batch:
            pixels = batch["pixel_values_videos"]
            batch["pixel_values_videos"] = self.video(pixels.detach().float().cpu()).to(pixels)
        return batch
