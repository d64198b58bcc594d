"""Augmentation: measured SNR, pitch-shift ratio, time-stretch length, frame-consistent video ops, seeding."""

import numpy as np
import pytest
import torch

from hf_emotion.data.augment import (
    AudioAugmenter,
    AudioVisualAugmenter,
    VideoAugmenter,
    mix_at_snr,
    time_stretch,
)

RATE = 16000


def tone(freq: float, seconds: float = 1.0) -> torch.Tensor:
    return torch.sin(2 * torch.pi * freq * torch.arange(int(seconds * RATE)) / RATE) * 0.5


def peak_hz(signal: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(signal.numpy() * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / RATE)[np.argmax(spectrum)])


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
def test_noise_mixed_at_the_requested_snr(snr_db):
    clean = tone(440)
    noisy = mix_at_snr(clean, torch.randn(clean.shape[0], generator=torch.Generator().manual_seed(1)), snr_db)
    added = noisy - clean
    measured = 10 * torch.log10(clean.pow(2).mean() / added.pow(2).mean())
    assert float(measured) == pytest.approx(snr_db, abs=0.05)


def test_augmenter_noise_stays_in_its_snr_range():
    augmenter = AudioAugmenter(
        pitch_shift_prob=0, time_stretch_prob=0, noise_prob=1, snr_db_range=(12, 15), seed=0
    )
    clean = tone(300)
    for _ in range(3):
        added = augmenter(clean) - clean
        measured = float(10 * torch.log10(clean.pow(2).mean() / added.pow(2).mean()))
        assert 12 - 0.05 <= measured <= 15 + 0.05


def test_pitch_shift_moves_the_peak_by_the_semitone_ratio():
    augmenter = AudioAugmenter(pitch_shift_prob=0, time_stretch_prob=0, noise_prob=0)
    shifted = augmenter.pitch_shift(tone(500), 2)
    assert peak_hz(shifted) == pytest.approx(500 * 2 ** (2 / 12), rel=0.02)
    assert shifted.shape == (RATE,)


def test_time_stretch_changes_duration_not_pitch():
    stretched = time_stretch(tone(500), rate=0.8)
    assert stretched.shape[0] == round(RATE / 0.8)
    assert peak_hz(stretched) == pytest.approx(500, rel=0.02)


def test_video_ops_are_the_same_for_every_frame():
    clip = torch.rand(6, 3, 20, 24)
    flipped = VideoAugmenter(flip_prob=1, rotation_prob=0, crop_prob=0)(clip)
    torch.testing.assert_close(flipped, torch.stack([torch.flip(frame, dims=[-1]) for frame in clip]))
    identical = torch.rand(1, 3, 20, 24).expand(6, -1, -1, -1).clone()  # six copies of one frame
    augmented = VideoAugmenter(flip_prob=1, rotation_prob=1, crop_prob=1, seed=3)(identical)
    assert augmented.shape == identical.shape and not torch.allclose(augmented, identical)
    for frame in augmented[1:]:  # one draw of angle/crop per clip: all frames stay identical
        torch.testing.assert_close(frame, augmented[0])


def test_batches_draw_per_clip_and_seeds_reproduce():
    batch = torch.rand(4, 2, 3, 16, 16)
    first = VideoAugmenter(seed=7)(batch)
    second = VideoAugmenter(seed=7)(batch)
    torch.testing.assert_close(first, second)
    audio_a = AudioAugmenter(seed=5)(tone(440).numpy())
    audio_b = AudioAugmenter(seed=5)(tone(440).numpy())
    torch.testing.assert_close(audio_a, audio_b)


def test_off_in_eval_and_bad_settings():
    augmenter = AudioVisualAugmenter(seed=0)
    waveform, video = tone(440), torch.rand(2, 3, 8, 8)
    same_audio, same_video = augmenter(waveform, video)  # training=False by default
    assert same_audio is waveform and same_video is video
    changed_audio, changed_video = AudioVisualAugmenter(
        AudioAugmenter(pitch_shift_prob=0, time_stretch_prob=0, noise_prob=1, seed=0),
        VideoAugmenter(flip_prob=1, seed=0),
    )(waveform, video, training=True)
    assert not torch.allclose(changed_audio, waveform) and not torch.allclose(changed_video, video)
    with pytest.raises(ValueError, match="probability"):
        VideoAugmenter(flip_prob=1.5)
    with pytest.raises(ValueError, match="crop_scale"):
        VideoAugmenter(crop_scale=(0.5, 1.2))
    with pytest.raises(ValueError, match="mono waveform"):
        AudioAugmenter()(np.zeros((2, 100), dtype=np.float32))
