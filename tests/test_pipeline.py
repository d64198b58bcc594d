"""Tests of the audio-visual emotion pipeline: files, arrays, batching, timeline, remote code, bad input."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from pipeline_fixtures import (
    TINY_CONFIG,
    frame_at,
    tone,
    write_clip,
    write_not_media,
    write_truncated,
)
from transformers import pipeline

from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition
from hf_emotion.models import decoding
from hf_emotion.models.acceleration import inference_context
from hf_emotion.models.decoding import load_audio, load_video_frames
from hf_emotion.models.pipeline_emotion import (
    TASK,
    AudioVisualEmotionPipeline,
    register_pipeline,
    segment_bounds,
)
from hf_emotion.models.processing_emotion import EmotionProcessor, register_processors

register_pipeline()
register_processors(TuckerAVConfig)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    clip = write_clip(root / "clip.mp4")
    return {
        "clip": clip,
        "other": write_clip(root / "other.mp4", duration_s=2.0, fps=8),
        "long": write_clip(root / "long.mp4", duration_s=12.0, fps=10, size=(24, 32)),
        "silent": write_clip(root / "silent.mp4", audio=False),
        "text": write_not_media(root / "notes.mp4"),
        "truncated": write_truncated(clip, root / "truncated.mp4"),
    }


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = TuckerAVConfig(**TINY_CONFIG)
    model = TuckerAVForEmotionRecognition(config).eval()
    directory = tmp_path_factory.mktemp("model")
    model.save_pretrained(directory)
    EmotionProcessor.from_model_config(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def classifier(model_dir):
    return pipeline(TASK, model=str(model_dir), pipeline_class=AudioVisualEmotionPipeline, optimize=False)


def reference_scores(classifier, **processor_inputs) -> dict[str, float]:
    """Label → probability computed by hand: processor, model forward, softmax."""
    features = classifier.processor(return_tensors="pt", **processor_inputs)
    # on the pipeline's inference path (bf16 frame encoder on CPUs with bf16; tests/test_acceleration.py checks
    # that path against float32)
    with torch.no_grad(), inference_context(classifier.model, classifier._plan):
        logits = classifier.model(
            input_features=features["input_features"], pixel_values_videos=features["pixel_values_videos"]
        ).logits
    probabilities = logits.softmax(-1)[0]
    return {classifier.model.config.id2label[i]: float(p) for i, p in enumerate(probabilities)}


def as_dict(predictions):
    return {p["label"]: p["score"] for p in predictions}


def test_video_file_matches_manual_forward(classifier, media):
    predictions = classifier(str(media["clip"]))
    expected = reference_scores(classifier, videos=str(media["clip"]))
    assert len(predictions) == 8
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True)
    assert as_dict(predictions) == pytest.approx(expected, abs=1e-6)
    top2 = classifier(str(media["clip"]), top_k=2)
    assert top2 == predictions[:2]


def test_dict_of_arrays_matches_manual_forward(classifier):
    frames = np.stack([frame_at(i / 10, 48, 64) for i in range(30)])  # (30, 48, 64, 3)
    audio = tone(3.0)
    predictions = classifier({"audio": audio, "sampling_rate": 16000, "frames": frames})
    expected = reference_scores(classifier, videos=frames, audio=audio, sampling_rate=16000)
    assert as_dict(predictions) == pytest.approx(expected, abs=1e-6)


def test_audio_at_another_rate_is_resampled(classifier):
    frames = np.stack([frame_at(i / 10, 48, 64) for i in range(30)])
    audio_16k, audio_8k = tone(3.0, 16000), tone(3.0, 8000)
    at_16k = classifier.preprocess({"audio": audio_16k, "sampling_rate": 16000, "frames": frames})
    at_8k = classifier.preprocess({"audio": audio_8k, "sampling_rate": 8000, "frames": frames})
    wrong = classifier.preprocess({"audio": audio_8k, "sampling_rate": 16000, "frames": frames})
    features_16k = next(at_16k)["input_features"]
    # A 220-470 Hz chirp survives 8 kHz sampling: resampled features match the 16 kHz ones in the chirp's bands.
    resampled_error = (next(at_8k)["input_features"] - features_16k).abs().mean()
    wrong_rate_error = (next(wrong)["input_features"] - features_16k).abs().mean()
    assert resampled_error < 0.25 * wrong_rate_error


def test_batched_list_equals_single_calls(classifier, media):
    paths = [str(media["clip"]), str(media["other"]), str(media["clip"])]
    batched = classifier(paths, batch_size=2)
    assert len(batched) == 3
    for path, result in zip(paths, batched):
        assert as_dict(result) == pytest.approx(as_dict(classifier(path)), abs=1e-5)
    assert as_dict(batched[0]) != pytest.approx(as_dict(batched[1]), abs=1e-6)


def test_segment_bounds_by_hand():
    assert segment_bounds(12.0, 3.0, 3.0) == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0), (9.0, 12.0)]
    assert segment_bounds(10.0, 4.0, 3.0) == [(0.0, 4.0), (3.0, 7.0), (6.0, 10.0)]
    assert segment_bounds(7.0, 3.0, 3.0) == [(0.0, 3.0), (3.0, 6.0), (4.0, 7.0)]  # tail window moved back
    assert segment_bounds(2.0, 3.0, 1.0) == [(0.0, 2.0)]
    with pytest.raises(ValueError, match="positive"):
        segment_bounds(5.0, 0.0, 1.0)


def test_timeline_decodes_window_by_window(classifier, media, monkeypatch):
    path = str(media["long"])
    windows = []
    original = decoding.MediaReader.window

    def recording_window(self, start_s=None, end_s=None, **kwargs):
        windows.append((start_s, end_s))
        return original(self, start_s, end_s, **kwargs)

    monkeypatch.setattr(decoding.MediaReader, "window", recording_window)
    timeline = classifier(path, chunk_length_s=3.0, top_k=3)
    assert [(s["start"], s["end"]) for s in timeline] == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0), (9.0, 12.0)]
    assert windows == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0), (9.0, 12.0)]  # never the whole video
    assert all(len(s["predictions"]) == 3 and s["label"] == s["predictions"][0]["label"] for s in timeline)
    # Reference for the second window, decoded independently: frames of [3, 6) s and samples 48,000-96,000.
    rate = 16000
    frames = load_video_frames(path, 4, 3.0, 6.0)
    audio = load_audio(path, rate)[3 * rate : 6 * rate]
    expected = reference_scores(classifier, videos=frames, audio=audio, sampling_rate=rate)
    assert as_dict(timeline[1]["predictions"]) == pytest.approx(
        {k: expected[k] for k in as_dict(timeline[1]["predictions"])}, abs=2e-3
    )
    assert timeline[0]["predictions"] != timeline[3]["predictions"]  # the content changes over time


def test_timeline_with_overlap_and_batches(classifier, media):
    path = str(media["long"])
    single = classifier(path, chunk_length_s=4.0, stride_length_s=2.0)
    batched = classifier([path, str(media["clip"])], chunk_length_s=4.0, stride_length_s=2.0, batch_size=3)
    assert [(s["start"], s["end"]) for s in single] == [
        (0.0, 4.0),
        (2.0, 6.0),
        (4.0, 8.0),
        (6.0, 10.0),
        (8.0, 12.0),
    ]
    assert len(batched) == 2 and len(batched[1]) == 1 and batched[1][0]["end"] == pytest.approx(3.0, abs=0.05)
    for a, b in zip(single, batched[0]):
        assert as_dict(a["predictions"]) == pytest.approx(as_dict(b["predictions"]), abs=1e-5)


def test_video_only_model_runs_on_a_silent_video(media, tmp_path):
    config = TuckerAVConfig(**{**TINY_CONFIG, "modalities": ["video"]})
    model = TuckerAVForEmotionRecognition(config).eval()
    classifier = pipeline(TASK, model=model, processor=EmotionProcessor.from_model_config(config))
    predictions = classifier(str(media["silent"]))
    assert len(predictions) == 8 and sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-5)
    assert len(classifier({"frames": np.zeros((5, 40, 40, 3), dtype=np.uint8)}, top_k=1)) == 1


@pytest.mark.parametrize(
    "name, error, message",
    [
        ("missing", FileNotFoundError, "does not exist"),
        ("text", ValueError, "not a readable media file"),
        ("truncated", ValueError, "corrupt or truncated"),
        ("silent", ValueError, "has no audio stream"),
        ("url", ValueError, "is a URL"),
    ],
)
def test_bad_files_give_one_clear_error(classifier, media, tmp_path, name, error, message):
    path = {
        "missing": str(tmp_path / "nope.mp4"),
        "url": "https://example.com/video.mp4",
    }.get(name) or str(media[name])
    with pytest.raises(error, match=message) as raised:
        classifier(path)
    assert name == "url" or path in str(raised.value)


def test_bad_dicts_and_arguments(classifier):
    frames = np.zeros((5, 40, 40, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="'sampling_rate'"):
        classifier({"audio": tone(3.0), "frames": frames})
    with pytest.raises(ValueError, match="needs 'audio'"):
        classifier({"frames": frames})
    with pytest.raises(ValueError, match="Unknown input key"):
        classifier({"frames": frames, "audio": tone(3.0), "sampling_rate": 16000, "fps": 10})
    with pytest.raises(ValueError, match="top_k"):
        classifier({"frames": frames, "audio": tone(3.0), "sampling_rate": 16000}, top_k=0)
    with pytest.raises(ValueError, match="Expected a path"):
        classifier(np.zeros(10))


def test_unresolvable_hub_id_offline():
    # Offline (HF_HUB_OFFLINE=1 here) transformers says it could not reach the Hub nor find a cached copy; a hub
    # answering 404 names the repository (see tests/test_hub.py).
    with pytest.raises(OSError, match="couldn't connect|couldn't find them in the cached files"):
        pipeline(TASK, model="no-such-user/no-such-emotion-model")


@pytest.mark.slow
def test_saved_pipeline_loads_with_remote_code_only(classifier, media, tmp_path):
    classifier.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["custom_pipelines"][TASK]["impl"] == "pipeline_emotion.AudioVisualEmotionPipeline"
    expected = classifier(str(media["clip"]))
    expected_timeline = classifier(str(media["long"]), chunk_length_s=6.0)
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["hf_emotion"] = None  # the package must not be importable here
        from transformers import pipeline
        classifier = pipeline(model={str(tmp_path / "saved")!r}, trust_remote_code=True, optimize=False)
        assert type(classifier).__module__.startswith("transformers_modules"), type(classifier).__module__
        result = [classifier({str(media["clip"])!r}), classifier({str(media["long"])!r}, chunk_length_s=6.0)]
        print("RESULT" + json.dumps(result))
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote, remote_timeline = json.loads(result.stdout.split("RESULT", 1)[1])
    assert as_dict(remote) == pytest.approx(as_dict(expected), abs=1e-6)
    assert [(s["start"], s["end"]) for s in remote_timeline] == [(0.0, 6.0), (6.0, 12.0)]
    for a, b in zip(remote_timeline, expected_timeline):
        assert as_dict(a["predictions"]) == pytest.approx(as_dict(b["predictions"]), abs=1e-6)


def test_predict_command(model_dir, media, capsys):
    import argparse

    from hf_emotion.cli.inference import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "predict",
            str(media["long"]),
            "--model",
            str(model_dir),
            "--chunk-length-s",
            "6",
            "--json",
            "--top-k",
            "1",
        ]
    )
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(s["start"], s["end"]) for s in printed["predictions"]] == [(0.0, 6.0), (6.0, 12.0)]


def test_text_model_needs_and_uses_the_transcript(media):
    from hf_emotion.models.configuration_rmlstm import RMLSTMConfig
    from hf_emotion.models.modeling_rmlstm import RMLSTMForEmotionRecognition
    from hf_emotion.models.text_featurization import TfidfTextFeaturizer

    featurizer = TfidfTextFeaturizer().fit(["Kids are talking by the door", "Dogs are sitting by the door"])
    config = RMLSTMConfig(
        modalities=["audio", "text"],
        num_mfcc=13,
        frame_encoder=None,
        text_feature_dim=featurizer.vocabulary_size,
        hidden_size=8,
        num_layers=1,
        num_time_steps=5,
    )
    torch.manual_seed(0)
    model = RMLSTMForEmotionRecognition(config).eval()
    processor = EmotionProcessor.from_model_config(config, text_featurizer=featurizer)
    classifier = pipeline(TASK, model=model, processor=processor)
    clip = str(media["clip"])
    with pytest.raises(ValueError, match="uses text"):
        classifier(clip)
    kids = classifier(clip, transcript="Kids are talking by the door")
    features = processor(videos=clip, text="Kids are talking by the door")
    with torch.no_grad():
        logits = model(
            input_features=features["input_features"], text_features=features["text_features"]
        ).logits
    expected = {config.id2label[i]: float(p) for i, p in enumerate(logits.softmax(-1)[0])}
    assert as_dict(kids) == pytest.approx(expected, abs=1e-6)
    dogs = classifier({"video": clip, "transcript": "Dogs are sitting by the door"})
    assert as_dict(dogs) != pytest.approx(as_dict(kids), abs=1e-7)  # the transcript reaches the model
