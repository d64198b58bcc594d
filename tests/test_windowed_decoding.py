"""One windowed decoder: audio and frames of the same window from one opened file, one down-mix rule for files and
arrays, windows with a missing stream, frames shrunk while decoding. References are independent: PyAV decoding +
numpy channel means, hand-sliced samples, full-size decoding + resizing."""

import shutil
import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from media_fixtures import write_video
from pipeline_fixtures import TINY_CONFIG
from transformers import pipeline

from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition
from hf_emotion.models import decoding
from hf_emotion.models.decoding import MediaReader, decode_window, load_video_frames
from hf_emotion.models.feature_extraction_emotion import EmotionFeatureExtractor
from hf_emotion.models.pipeline_emotion import TASK, register_pipeline
from hf_emotion.models.processing_emotion import EmotionProcessor
from hf_emotion.models.video_processing_emotion import EmotionVideoProcessor

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command-line tool")
register_pipeline()
RED_PER_SECOND = 12  # time-coded frames: red channel = 12 × (presentation time in s)


def coded_frames(seconds: float, fps: int, size=(32, 48)) -> np.ndarray:
    count = int(round(seconds * fps))
    frames = np.zeros((count, *size, 3), dtype=np.uint8)
    frames[..., 0] = np.round(RED_PER_SECOND * np.arange(count) / fps).astype(np.uint8)[:, None, None]
    return frames


def frame_times(frames: np.ndarray) -> np.ndarray:
    return frames[:, frames.shape[1] // 2, frames.shape[2] // 2, 0] / RED_PER_SECOND


def write_pcm(path: Path, channels: np.ndarray, rate: int) -> Path:
    """(channels, samples) float in [-1, 1] → 16-bit WAV."""
    pcm = np.clip(np.round(channels.T * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels.shape[0])
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return path


def mux(path: Path, video: Path | None, audio: Path, audio_offset_s: float = 0.0) -> Path:
    """Video stream copied, audio as 16-bit PCM (decoded bit-exactly by FFmpeg), into a Matroska file."""
    command = ["ffmpeg", "-v", "error", "-y"]
    if video is not None:
        command += ["-i", str(video)]
    command += ["-itsoffset", str(audio_offset_s), "-i", str(audio)] if audio_offset_s else ["-i", str(audio)]
    command += (["-c:v", "copy"] if video is not None else []) + ["-c:a", "pcm_s16le", str(path)]
    subprocess.run(command, check=True)
    return path


def chirp(seconds: float, rate: int, start_hz: float = 200.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.4 * np.sin(2 * np.pi * (start_hz * t + 30 * t**2))).astype(np.float32)


def pyav_channels(path: Path) -> tuple[np.ndarray, int]:
    """All audio of `path` as (channels, samples) float, decoded by PyAV (an independent FFmpeg binding)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray() for frame in container.decode(stream)]
        rate = stream.rate
    data = np.concatenate(chunks, axis=-1)
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    return (data.reshape(-1, stream.channels).T if data.shape[0] == 1 and stream.channels > 1 else data), rate


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("windowed")
    stereo = np.stack([chirp(3.5, 48000), 0.5 * chirp(3.5, 48000, 300.0)])  # unequal channels
    surround = np.stack([chirp(2.0, 16000, 150.0 + 60 * i) * (0.3 + 0.1 * i) for i in range(6)])
    files = {
        "stereo_wav": write_pcm(root / "stereo48k.wav", stereo, 48000),
        "surround_wav": write_pcm(root / "surround.wav", surround, 16000),
        "video_3_5": write_video(root / "v35.mp4", frames=coded_frames(3.5, 10), fps=10, audio_hz=None),
        "video_20": write_video(root / "v20.mp4", frames=coded_frames(20.0, 10), fps=10, audio_hz=None),
        "video_6": write_video(root / "v6.mp4", frames=coded_frames(6.0, 10), fps=10, audio_hz=None),
        "video_1_frame": write_video(root / "v1.mp4", frames=coded_frames(0.1, 10), fps=10, audio_hz=None),
        "hd": write_video(root / "hd.mp4", seconds=0.4, fps=10, size=(360, 640), audio_hz=None),
    }
    files["short_audio"] = write_pcm(root / "short.wav", chirp(2.5, 16000)[None], 16000)
    files["long_audio"] = write_pcm(root / "long.wav", chirp(20.0, 16000)[None], 16000)
    files["six_s_audio"] = write_pcm(root / "six.wav", chirp(6.0, 16000)[None], 16000)
    files["stereo_av"] = mux(root / "stereo_av.mkv", files["video_3_5"], files["stereo_wav"])
    files["surround_av"] = mux(root / "surround_av.mkv", files["video_3_5"], files["surround_wav"])
    files["long_av"] = mux(root / "long_av.mkv", files["video_20"], files["long_audio"])
    files["audio_ends_early"] = mux(root / "early.mkv", files["video_6"], files["short_audio"])
    files["audio_starts_late"] = mux(root / "late.mkv", files["video_6"], files["short_audio"], 1.0)
    files["one_frame"] = mux(root / "one_frame.mkv", files["video_1_frame"], files["six_s_audio"])
    files["gap"] = mux(
        root / "gap.mkv", files["video_1_frame"], files["short_audio"], 4.0
    )  # nothing in 1-4 s
    return files


@pytest.fixture(scope="module")
def tucker():
    torch.manual_seed(0)
    config = TuckerAVConfig(**TINY_CONFIG)
    return config, TuckerAVForEmotionRecognition(config).eval()


def scores(predictions):
    return {p["label"]: p["score"] for p in predictions}


def make_pipeline(config, model, modalities=None):
    processor = EmotionProcessor.from_model_config(config)
    if modalities is not None:
        processor.modalities = modalities
    return pipeline(TASK, model=model, processor=processor)


# One down-mix rule ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key, rate", [("stereo_wav", 48000), ("surround_wav", 16000)])
def test_file_audio_is_the_channel_mean_of_an_independent_decode(media, key, rate):
    channels, native = pyav_channels(media[key])
    assert native == rate and channels.shape[0] in (2, 6)
    window = decode_window(media[key], sampling_rate=rate, need_video=False)
    np.testing.assert_allclose(window.waveform, channels.mean(axis=0), atol=1e-6)
    # FFmpeg's own down-mix (what the timeline used) is louder than the mean: not what the model was trained on.
    ffmpeg_mix = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(media[key]), "-ac", "1", "-f", "f32le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    ffmpeg_mix = np.frombuffer(ffmpeg_mix, dtype=np.float32)
    assert np.sqrt(np.mean(ffmpeg_mix**2)) > 1.2 * np.sqrt(np.mean(window.waveform**2))


@pytest.mark.parametrize("layout", ["samples_channels", "channels_samples"])
def test_stereo_array_gives_the_features_of_its_file(media, layout):
    with wave.open(str(media["stereo_wav"])) as handle:  # soundfile's layout: (samples, channels) int16
        array = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").reshape(-1, 2)
    array = array if layout == "samples_channels" else np.ascontiguousarray(array.T)
    extractor = EmotionFeatureExtractor(num_mel_bins=16, num_frames=32)
    from_file = extractor(str(media["stereo_wav"]))["input_features"]
    from_array = extractor(array, sampling_rate=48000)["input_features"]
    assert from_array.shape == (1, 16, 32)  # one clip, never 2 (or N) clips
    torch.testing.assert_close(from_array, from_file, atol=1e-4, rtol=0)


def test_pipeline_dict_takes_a_2d_array_as_one_stereo_clip(media, tucker):
    config, model = tucker
    classifier = make_pipeline(config, model)
    with wave.open(str(media["stereo_wav"])) as handle:
        array = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").reshape(-1, 2)
    frames = coded_frames(3.0, 10)
    inputs = next(iter(classifier.preprocess({"audio": array, "sampling_rate": 48000, "frames": frames})))
    expected = classifier.processor.feature_extractor(str(media["stereo_wav"]))["input_features"]
    torch.testing.assert_close(inputs["input_features"], expected, atol=1e-4, rtol=0)
    assert len(classifier({"audio": array, "sampling_rate": 48000, "frames": frames})) == 8
    with pytest.raises(ValueError, match=r"shape \(5, 7\).*list of arrays"):
        classifier({"audio": np.zeros((5, 7), np.float32), "sampling_rate": 48000, "frames": frames})


# One window for the whole clip and the timeline ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["stereo_av", "surround_av"])
def test_single_timeline_window_equals_the_whole_clip_call(media, tucker, key):
    config, model = tucker
    classifier = make_pipeline(config, model)
    path = str(media[key])
    whole = classifier.processor(videos=path)
    timeline = list(classifier.preprocess(path, chunk_length_s=3.0))  # 3.5 s file, 3 s windows: 2 windows
    one_window = list(classifier.preprocess(path, chunk_length_s=10.0))
    assert len(timeline) == 2 and len(one_window) == 1
    for name in ("input_features", "pixel_values_videos"):
        torch.testing.assert_close(one_window[0][name], whole[name], atol=0, rtol=0)
    assert scores(classifier(path, chunk_length_s=10.0)[0]["predictions"]) == pytest.approx(
        scores(classifier(path)), abs=1e-6
    )


def test_long_file_audio_and_frames_cover_the_same_centre_span(media, caplog):
    path = media["long_av"]
    window = decode_window(path, sampling_rate=16000, num_frames=9, max_seconds=3.0)
    assert (window.start_s, window.end_s) == pytest.approx((8.5, 11.5))
    reference = pyav_channels(path)[0].mean(axis=0)[8 * 16000 + 8000 : 11 * 16000 + 8000]
    np.testing.assert_allclose(window.waveform, reference, atol=1e-6)  # samples 8.5-11.5 s
    assert np.all((frame_times(window.frames) >= 8.5 - 0.1) & (frame_times(window.frames) <= 11.5))
    # The processors' path inputs use the same span: frames from 8.5-11.5 s, not 0-20 s.
    frames = EmotionVideoProcessor(num_frames=9, image_size=32).load_clip(str(path))
    assert np.all((frame_times(frames.numpy()) >= 8.5 - 0.1) & (frame_times(frames.numpy()) <= 11.5))
    extractor = EmotionFeatureExtractor(num_mel_bins=16, num_frames=32)
    torch.testing.assert_close(
        extractor(str(path))["input_features"],
        extractor(reference, sampling_rate=16000)["input_features"],
        atol=1e-4,
        rtol=0,
    )


def test_pipeline_says_a_long_file_is_judged_on_its_centre(media, tucker, caplog):
    config, model = tucker
    classifier = make_pipeline(config, model)
    with caplog.at_level("WARNING"):
        classifier(str(media["long_av"]))
    assert "centre 3.0 s" in caplog.text and "chunk_length_s=3.0" in caplog.text


def test_a_file_is_opened_once_per_clip_and_once_per_timeline(media, tucker, monkeypatch):
    config, model = tucker
    classifier = make_pipeline(config, model)
    import torchcodec.decoders as decoders

    opened = []
    for name in ("AudioDecoder", "VideoDecoder"):
        original = getattr(decoders, name)

        def counting(*args, _original=original, _name=name, **kwargs):
            opened.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(decoders, name, counting)
    classifier.processor(videos=str(media["stereo_av"]))
    assert sorted(opened) == ["AudioDecoder", "VideoDecoder"]
    opened.clear()
    classifier(str(media["long_av"]), chunk_length_s=5.0)  # 4 windows
    assert sorted(opened) == ["AudioDecoder", "VideoDecoder"]


# Windows with a missing stream ---------------------------------------------------------------------------------------


def test_audio_that_starts_late_is_placed_at_its_time(media):
    window = decode_window(media["audio_starts_late"], 0.0, 3.0, sampling_rate=16000, num_frames=4)
    reference = pyav_channels(media["short_audio"])[0][0][: 2 * 16000]  # the sound track's first 2 s
    assert len(window.waveform) == 3 * 16000 and not window.missing
    np.testing.assert_array_equal(window.waveform[:16000], 0.0)  # silence before it starts at 1 s
    np.testing.assert_allclose(window.waveform[16000:], reference, atol=1e-6)


@pytest.mark.parametrize("key, missing", [("audio_ends_early", ["audio"]), ("one_frame", ["video"])])
def test_timeline_window_with_a_missing_stream(media, tucker, key, missing):
    config, model = tucker
    timeline = make_pipeline(config, model)(str(media[key]), chunk_length_s=3.0)
    assert [(w["start"], w["end"]) for w in timeline] == [(0.0, 3.0), (3.0, 6.0)]
    assert "missing" not in timeline[0] and timeline[0]["label"] is not None
    # Judged on the modality it holds; the other replaced by silence or black frames, and marked.
    assert timeline[1]["missing"] == missing
    assert timeline[1]["label"] is not None and len(timeline[1]["predictions"]) == 8


def test_timeline_window_with_nothing_the_model_uses(media, tucker):
    config, model = tucker  # a 1-frame video at 0 s, a sound track from 4 to 6.5 s
    timeline = make_pipeline(config, model)(str(media["gap"]), chunk_length_s=1.0)
    assert [w.get("missing") for w in timeline[:5]] == [
        ["audio"],
        ["audio", "video"],
        ["audio", "video"],
        ["audio", "video"],
        ["video"],
    ]
    assert timeline[1]["label"] is None and timeline[1]["score"] is None and timeline[1]["predictions"] == []
    assert timeline[4]["label"] is not None


def test_batched_timeline_keeps_the_missing_marker(media, tucker):
    config, model = tucker
    classifier = make_pipeline(config, model)
    single = classifier(str(media["audio_ends_early"]), chunk_length_s=3.0)
    batched = classifier(str(media["audio_ends_early"]), chunk_length_s=3.0, batch_size=2)
    assert [w.get("missing") for w in batched] == [None, ["audio"]]
    assert scores(batched[1]["predictions"]) == pytest.approx(scores(single[1]["predictions"]), abs=1e-5)


# Frames shrunk while decoding --------------------------------------------------------------------------------------


def test_frames_are_decoded_at_the_target_size_and_match_a_full_size_reference(media, monkeypatch):
    path = str(media["hd"])  # 640 × 360
    small = MediaReader(path).window(num_frames=3, short_side=32, need_audio=False)
    assert small.frames.shape == (3, 32, 57, 3)
    processor = EmotionVideoProcessor(num_frames=3, image_size=32)
    full = load_video_frames(path, 3)  # naive reference: full size, then the processor resizes
    assert full.shape == (3, 360, 640, 3)
    expected = processor(full)["pixel_values_videos"]
    seen = []
    original = decoding.resize_short_side
    monkeypatch.setattr(
        decoding, "resize_short_side", lambda f, s: seen.append(tuple(f.shape)) or original(f, s)
    )
    from_path = processor(path)["pixel_values_videos"]
    torch.testing.assert_close(from_path, expected, atol=1e-5, rtol=0)
    assert seen and all(shape[0] <= decoding.DECODE_CHUNK_FRAMES for shape in seen)  # never the whole clip
    faces = EmotionVideoProcessor(num_frames=3, image_size=32, crop_faces=True)
    assert faces.decode_short_side == 96  # face crops keep 3x the output resolution


def test_whole_clip_without_frames_in_its_span_is_one_clear_line(media, tucker):
    config, model = tucker  # 6 s of audio, one frame at 0 s: the centre 3 s (1.5-4.5 s) hold no frames
    with pytest.raises(ValueError, match=r"one_frame.mkv` holds no video data in 1.50-4.50 s"):
        EmotionProcessor.from_model_config(config)(videos=str(media["one_frame"]))
    with pytest.raises(ValueError, match=r"holds no video data in 1.50-4.50 s"):
        make_pipeline(config, model)(str(media["one_frame"]))


def test_sub_processors_and_processor_take_the_same_span(media, tucker):
    config, _ = tucker  # video 6 s, audio 2.5 s: the file's centre 3 s is 1.5-4.5 s for every route
    processor = EmotionProcessor.from_model_config(config)
    path = str(media["audio_ends_early"])
    both = processor(videos=path)
    torch.testing.assert_close(processor.feature_extractor(path)["input_features"], both["input_features"])
    torch.testing.assert_close(
        processor.video_processor(path)["pixel_values_videos"], both["pixel_values_videos"]
    )
    audio = decode_window(path, sampling_rate=16000, max_seconds=3.0, need_video=False)
    assert (audio.start_s, audio.end_s) == (1.5, 4.5) and len(audio.waveform) == 16000  # sound up to 2.5 s
