"""EmotionFeatureExtractor against a hand-written numpy log-Mel/MFCC reference, plus crop/pad, resampling,
normalisation, save/load and bad input."""

import numpy as np
import pytest
import torch

from hf_emotion.models.feature_extraction_emotion import EmotionFeatureExtractor

RATE = 16000


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def reference_filterbank(n_fft: int, n_mels: int, rate: int) -> np.ndarray:
    """HTK triangles on the FFT bin frequencies, built by hand: (n_fft // 2 + 1, n_mels)."""
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0), hz_to_mel(rate / 2), n_mels + 2))
    bank = np.zeros((len(freqs), n_mels))
    for m in range(n_mels):
        low, centre, high = edges[m : m + 3]
        rising = (freqs - low) / (centre - low)
        falling = (high - freqs) / (high - centre)
        bank[:, m] = np.maximum(0, np.minimum(rising, falling))
    return bank


def reference_log_mel(signal: np.ndarray, n_mels=128, n_frames=256, win=400, n_fft=1024) -> np.ndarray:
    hop = (len(signal) - win) // (n_frames - 1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    frames = np.stack([signal[i * hop : i * hop + win] for i in range(n_frames)]).astype(np.float64)
    power = np.abs(np.fft.rfft(frames * window, n=n_fft)) ** 2  # (frames, n_fft // 2 + 1)
    return np.log(power @ reference_filterbank(n_fft, n_mels, RATE) + 1e-6).T  # (n_mels, frames)


def reference_dct(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II as an (n_out, n_in) matrix."""
    k, n = np.arange(n_out)[:, None], np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis


def sine(freq, seconds, rate=RATE):
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def test_default_shape_and_frame_rule():
    extractor = EmotionFeatureExtractor()
    features = extractor(np.zeros(48000, dtype=np.float32), sampling_rate=RATE)["input_features"]
    assert features.shape == (1, 128, 256) and features.dtype == torch.float32
    assert extractor.hop_length == 186  # (48000 - 400) // 255, i.e. 11.625 ms
    assert 255 * extractor.hop_length + extractor.win_length <= 48000


def test_log_mel_matches_numpy_reference():
    signal = np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1
    ours = EmotionFeatureExtractor()(signal, sampling_rate=RATE, return_tensors="np")["input_features"][0]
    np.testing.assert_allclose(ours, reference_log_mel(signal), atol=2e-3, rtol=1e-4)


def test_pure_tone_peaks_in_its_mel_bin():
    features = EmotionFeatureExtractor()(sine(1000, 3), sampling_rate=RATE)["input_features"][0]
    centres = mel_to_hz(np.linspace(hz_to_mel(0), hz_to_mel(RATE / 2), 130))[1:-1]
    expected = int(np.argmin(np.abs(centres - 1000)))
    peak_bins = features.argmax(dim=0)  # (frames,)
    assert torch.all(peak_bins == expected)


def test_mfcc_is_dct_of_reference_log_mel():
    signal = np.random.default_rng(1).standard_normal(48000).astype(np.float32) * 0.1
    extractor = EmotionFeatureExtractor(feature_type="mfcc", num_mfcc=40)
    ours = extractor(signal, sampling_rate=RATE, return_tensors="np")["input_features"][0]
    assert ours.shape == (40, 256)
    np.testing.assert_allclose(ours, reference_dct(40, 128) @ reference_log_mel(signal), atol=2e-2, rtol=1e-4)


def test_centre_crop_random_crop_and_padding():
    extractor = EmotionFeatureExtractor()
    signal = np.random.default_rng(2).standard_normal(64000).astype(np.float32)
    centre = extractor(signal, sampling_rate=RATE)["input_features"]
    torch.testing.assert_close(centre, extractor(signal[8000:56000], sampling_rate=RATE)["input_features"])
    first = extractor(signal, sampling_rate=RATE, training=True, generator=torch.Generator().manual_seed(5))
    again = extractor(signal, sampling_rate=RATE, training=True, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(first["input_features"], again["input_features"])
    crops = {
        float(extractor(signal, sampling_rate=RATE, training=True)["input_features"].sum()) for _ in range(4)
    }
    assert len(crops) > 1  # random offsets differ between calls
    short = sine(440, 1.0)  # shorter than the clip: zero-padded at the end
    padded = np.concatenate([short, np.zeros(32000, dtype=np.float32)])
    torch.testing.assert_close(
        extractor(short, sampling_rate=RATE)["input_features"],
        extractor(padded, sampling_rate=RATE)["input_features"],
    )


def test_48k_input_is_resampled():
    extractor = EmotionFeatureExtractor()
    at_16k = extractor(sine(1000, 3, 16000), sampling_rate=16000)["input_features"]
    at_48k = extractor(sine(1000, 3, 48000), sampling_rate=48000)["input_features"]
    assert torch.equal(at_16k.argmax(dim=1), at_48k.argmax(dim=1))
    loud = at_16k > at_16k.max() - 20  # compare where there is energy (the log floor is resampler noise)
    assert (at_16k - at_48k)[loud].abs().max() < 0.1


def test_fit_normalization_standardises_and_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    clips = [(rng.standard_normal(48000) * scale).astype(np.float32) for scale in (0.05, 0.2, 0.5)]
    extractor = EmotionFeatureExtractor().fit_normalization(clips, sampling_rate=RATE)
    features = extractor(clips, sampling_rate=RATE)["input_features"]  # (3, 128, 256)
    pooled = features.transpose(0, 1).reshape(128, -1)
    assert pooled.mean(dim=1).abs().max() < 1e-3
    assert (pooled.std(dim=1, unbiased=False) - 1).abs().max() < 1e-3
    extractor.save_pretrained(tmp_path)
    reloaded = EmotionFeatureExtractor.from_pretrained(tmp_path)
    assert reloaded.normalization_mean == pytest.approx(extractor.normalization_mean)
    torch.testing.assert_close(reloaded(clips, sampling_rate=RATE)["input_features"], features)


def test_batches_lists_and_datasets_style_dicts():
    extractor = EmotionFeatureExtractor(num_frames=64, num_mel_bins=32)
    a, b = sine(300, 2), sine(600, 3)
    batch = extractor([a, {"array": b, "sampling_rate": RATE}], sampling_rate=RATE)["input_features"]
    assert batch.shape == (2, 32, 64)
    torch.testing.assert_close(batch[1:], extractor(b, sampling_rate=RATE)["input_features"])


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(0, dtype=np.float32), "zero-length"),
        (np.zeros((2, 3, 4), dtype=np.float32), "1-D"),
        (np.full(100, np.nan, dtype=np.float32), "NaN"),
        ([], "empty batch"),
    ],
)
def test_bad_audio_input(bad, message):
    with pytest.raises(ValueError, match=message):
        EmotionFeatureExtractor()(bad, sampling_rate=RATE)


def test_bad_configuration():
    with pytest.raises(ValueError, match="feature_type"):
        EmotionFeatureExtractor(feature_type="spectrogram")
    with pytest.raises(ValueError, match="too short"):
        EmotionFeatureExtractor(clip_seconds=0.01)
    with pytest.raises(ValueError, match="num_mfcc"):
        EmotionFeatureExtractor(feature_type="mfcc", num_mfcc=200)
