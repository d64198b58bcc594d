"""Decoding: audio and frame sampling from real container files, and a clear error for every bad input."""

from pathlib import Path

import numpy as np
import pytest
from media_fixtures import tone, write_truncated, write_video, write_wav

from hf_emotion.models.decoding import load_audio, load_video_frames, probe_media


def time_coded_frames(seconds: float, fps: float, size=(32, 48)) -> np.ndarray:
    """Frames whose red channel is 200 · (presentation time in s): sampled frames reveal their timestamp."""
    count = int(round(seconds * fps))
    frames = np.zeros((count, *size, 3), dtype=np.uint8)
    frames[..., 0] = np.round(200 * np.arange(count) / fps).astype(np.uint8)[:, None, None]
    return frames


def peak_frequency(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    av_clip = write_video(root / "clip.mp4", seconds=1.0, fps=30000 / 1001, audio_hz=440.0)
    files = {
        "av": av_clip,
        "silent_video": write_video(root / "silent.mp4", seconds=1.0, audio_hz=None),
        "odd": write_video(root / "odd.mp4", seconds=0.4, size=(37, 51), audio_hz=None),
        "gray": write_video(root / "gray.mkv", seconds=0.4, codec="ffv1", pix_fmt="gray", audio_hz=None),
        "fps25": write_video(root / "fps25.mp4", frames=time_coded_frames(1.0, 25), fps=25, audio_hz=None),
        "fps30": write_video(
            root / "fps30.mp4", frames=time_coded_frames(1.0, 30000 / 1001), fps=30000 / 1001, audio_hz=None
        ),
        "stereo48k": write_wav(root / "stereo.wav", np.stack([tone(440, 0.5, 48000)] * 2, axis=1), 48000),
        "u8": write_wav(root / "u8.wav", tone(440, 0.5, 22050), 22050, sample_width=1),
        "no_samples": write_wav(root / "empty.wav", np.zeros(0, dtype=np.float32), 16000),
        "truncated": write_truncated(av_clip, root / "truncated.mp4"),
    }
    (root / "notes.mp4").write_text("this is not a video")
    (root / "zero.mp4").write_bytes(b"")
    files["not_media"], files["zero_bytes"] = root / "notes.mp4", root / "zero.mp4"
    return files


def test_probe_reports_streams(media):
    info = probe_media(media["av"])
    assert info["has_audio"] and info["has_video"]
    assert info["fps"] == pytest.approx(29.97, abs=0.01) and (info["width"], info["height"]) == (64, 48)
    assert info["sample_rate"] == 48000 and info["duration_s"] == pytest.approx(1.0, abs=0.05)
    wav = probe_media(media["stereo48k"])
    assert wav["has_audio"] and not wav["has_video"] and wav["num_channels"] == 2


def test_stereo_48k_wav_becomes_16k_mono_average(media):
    audio = load_audio(media["stereo48k"], sampling_rate=16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx(8000, abs=20)
    assert peak_frequency(audio, 16000) == pytest.approx(440, abs=4)
    # Both channels hold a 0.5-amplitude tone: their average keeps amplitude 0.5.
    assert np.abs(audio[1000:-1000]).max() == pytest.approx(0.5, abs=0.02)


def test_8bit_wav_is_rescaled_and_resampled(media):
    audio = load_audio(media["u8"], sampling_rate=16000)
    assert len(audio) == pytest.approx(8000, abs=20)
    assert peak_frequency(audio, 16000) == pytest.approx(440, abs=4)
    assert np.abs(audio[1000:-1000]).max() == pytest.approx(0.5, abs=0.03)


def test_audio_track_of_a_video_file(media):
    audio = load_audio(media["av"], sampling_rate=16000)
    assert len(audio) == pytest.approx(16000, abs=200)
    assert peak_frequency(audio, 16000) == pytest.approx(440, abs=4)


def test_in_memory_int16_stereo_array():
    samples = (np.stack([tone(300, 0.25, 16000), tone(300, 0.25, 16000) * 0.5], axis=1) * 32767).astype(
        np.int16
    )
    audio = load_audio((samples, 16000), sampling_rate=16000)
    expected = samples.astype(np.float64).mean(axis=1) / 32768.0  # hand down-mix of (samples, channels)
    np.testing.assert_allclose(audio, expected, atol=1e-6)


def test_frames_sampled_uniformly_whatever_the_frame_rate(media):
    expected_times = (np.arange(10) + 0.5) / 10  # bin centres over the 1 s clip
    for key in ("fps25", "fps30"):
        frames = load_video_frames(media[key], num_frames=10)
        assert frames.shape == (10, 32, 48, 3) and frames.dtype == np.uint8
        seen_times = frames[:, 16, 24, 0] / 200.0
        # Each sample shows the frame on screen at its bin centre: at most one frame period earlier.
        assert np.all(seen_times <= expected_times + 0.01)
        assert np.all(seen_times >= expected_times - 1 / 25 - 0.01)


def test_time_window_and_repeated_frames(media):
    frames = load_video_frames(media["fps25"], num_frames=4, start_s=0.5, end_s=0.7)
    times = frames[:, 16, 24, 0] / 200.0
    assert np.all((times >= 0.5 - 0.01) & (times < 0.7))
    many = load_video_frames(media["fps25"], num_frames=60)  # more than the clip's 25 frames: repeats
    assert many.shape[0] == 60 and len(np.unique(many[:, 16, 24, 0])) <= 25


def test_grayscale_and_odd_sized_videos(media):
    gray = load_video_frames(media["gray"], num_frames=3)
    assert gray.shape == (3, 48, 64, 3)
    np.testing.assert_array_equal(gray[..., 0], gray[..., 1])
    np.testing.assert_array_equal(gray[..., 1], gray[..., 2])
    assert load_video_frames(media["odd"], num_frames=4).shape == (4, 37, 51, 3)


def test_decode_time_resize_keeps_aspect(media):
    frames = load_video_frames(media["av"], num_frames=2, short_side=24)
    assert frames.shape == (2, 24, 32, 3)


@pytest.mark.parametrize(
    "key, loader, error, message",
    [
        ("silent_video", "audio", ValueError, "has no audio stream"),
        ("stereo48k", "video", ValueError, "has no video stream"),
        ("truncated", "audio", ValueError, "corrupt or truncated"),
        ("truncated", "video", ValueError, "corrupt or truncated"),
        ("not_media", "audio", ValueError, "not a readable media file"),
        ("zero_bytes", "video", ValueError, "empty file"),
        ("no_samples", "audio", ValueError, "zero-length"),
    ],
)
def test_bad_files_raise_errors_naming_the_file(media, key, loader, error, message):
    path = media[key]
    with pytest.raises(error, match=message) as info:
        load_audio(path) if loader == "audio" else load_video_frames(path, 4)
    assert path.name in str(info.value)


def test_missing_file_url_and_empty_array(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.mp4"):
        load_audio(tmp_path / "nothing.mp4")
    with pytest.raises(ValueError, match="no network"):
        load_video_frames("https://example.com/clip.mp4", 4)
    with pytest.raises(ValueError, match="zero-length"):
        load_audio((np.zeros(0, dtype=np.float32), 16000))
