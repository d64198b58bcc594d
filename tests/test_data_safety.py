"""Nothing lost, nothing read from or written outside where it should be, bad clips skipped and reported.

Output folders checked against the inputs and swapped in only after success; the feature cache keyed on the
files' sizes and times and kept in shards; corrupt clips listed in skipped.json; paths from corpus metadata
confined to the corpus; duplicate clips dropped; bad command-line input answered with one line.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, Value

from hf_emotion.cli import main
from hf_emotion.data import load_ravdess, make_synthetic_corpus
from hf_emotion.data.iemocap import load_iemocap
from hf_emotion.training import build_config, safe_output_dir
from hf_emotion.training import prepare as prepare_module

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
from corpus_fixtures import make_iemocap, make_ravdess  # noqa: E402
from media_fixtures import write_video  # noqa: E402
from pipeline_fixtures import TINY_CONFIG, write_clip  # noqa: E402

TINY = "num_frames=2,image_size=32,num_audio_frames=64,num_mel_bins=32"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- output folders ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A tiny synthetic corpus (2 actors x 15 clips of 1 s at 64 x 48 px)."""
    root = tmp_path_factory.mktemp("corpus") / "synthetic"
    make_synthetic_corpus(
        root, n_actors=2, duration=1.0, width=64, height=48, statements=1, repetitions=1, num_workers=1
    )
    return root


def test_output_dir_equal_to_or_inside_the_data_dir_is_refused_and_the_corpus_survives(corpus, capsys):
    before = snapshot(corpus)
    for output in (corpus, corpus / "runs" / "a", corpus.parent):
        code = main(["train", "--data-dir", str(corpus), "--output-dir", str(output), "--overwrite"])
        assert code == 2
        line = one_error_line(capsys)
        assert "the input" in line and "outside every input folder" in line
    assert snapshot(corpus) == before
    assert not (corpus / "runs").exists()


def test_overwrite_keeps_the_old_folder_until_the_new_run_exists(tmp_path, capsys):
    old = tmp_path / "run"
    old.mkdir()
    (old / "model.txt").write_text("the previous model")
    # the run fails on its inputs (a misspelt features folder): the previous output is untouched
    code = main(["train", "--features-dir", str(tmp_path / "typo"), "--output-dir", str(old), "--overwrite"])
    assert code == 2 and "does not exist" in one_error_line(capsys)
    assert (old / "model.txt").read_text() == "the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder left behind
    # while a run works, the old folder stays whole; it is replaced only at the end
    with safe_output_dir(old, overwrite=True) as staging:
        assert staging != old and staging.parent == old.parent
        (staging / "model.txt").write_text("the new model")
        assert (old / "model.txt").read_text() == "the previous model"
    assert (old / "model.txt").read_text() == "the new model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_failed_run_keeps_its_checkpoints_aside_and_resume_finishes_it(tmp_path, monkeypatch, capsys):
    from training_fixtures import TINY_TUCKER, make_feature_dataset

    from hf_emotion.training import outputs

    make_feature_dataset().save_to_disk(str(tmp_path / "features"))
    out = tmp_path / "run"
    command = ["train", "--features-dir", str(tmp_path / "features"), "--config-overrides", TINY_TUCKER]
    command += ["--preset", "paper", "--max-steps", "6", "--batch-size", "8", "--checkpointing-steps", "2"]
    command += ["--output-dir", str(out)]
    real = outputs.write_run_outputs

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "write_run_outputs", crash)
    assert main(command) == 2
    assert "No space left on device" in one_error_line(capsys)
    staging = tmp_path / ".run.partial"
    assert not out.exists() and sorted(p.name for p in (staging / "checkpoints").iterdir())[-1] == "step_6"
    monkeypatch.setattr(outputs, "write_run_outputs", real)
    assert main([*command, "--resume"]) == 0
    assert (out / "model" / "model.safetensors").is_file() and (out / "checkpoints" / "step_6").is_dir()
    assert not staging.exists()


def test_evaluate_output_inside_the_corpus_is_refused(corpus, tmp_path, capsys):
    code = main(
        [
            "evaluate",
            "--model-dir",
            str(tmp_path),
            "--data-dir",
            str(corpus),
            "--output",
            str(corpus / "m.json"),
        ]
    )
    assert code == 2 and "outside every input folder" in one_error_line(capsys)


# --- bad clips --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_three_corrupt_clips_are_skipped_and_reported_and_strict_aborts(corpus, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    bad = sorted((data / "Actor_01").glob("*.mp4"))[:3]
    for file in bad:
        file.write_bytes(b"not a video at all")
    common = ["--data-dir", str(data), "--config-overrides", TINY, "--epochs", "1", "--n-folds", "2"]
    assert main(["train", *common, "--batch-size", "8", "--output-dir", str(tmp_path / "out")]) == 0
    skipped = json.loads((tmp_path / "out" / "skipped.json").read_text())
    assert sorted(entry["path"] for entry in skipped) == sorted(str(f) for f in bad)
    assert all("not a readable media file" in entry["reason"] for entry in skipped)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["skipped_files"] == 3 and metrics["num_samples"] == 15 - 3
    assert "3 clips could not be read" in capsys.readouterr().out
    # --strict stops at the first bad clip instead (a fresh cache: the skips above were cached)
    strict = [
        "train",
        *common,
        "--strict",
        "--cache-dir",
        str(tmp_path / "c2"),
        "--output-dir",
        str(tmp_path / "o2"),
    ]
    assert main(strict) == 2
    assert "--strict" in one_error_line(capsys)
    assert not (tmp_path / "o2").exists()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    import torch

    from hf_emotion.models.configuration_tucker_av import TuckerAVConfig
    from hf_emotion.models.modeling_tucker_av import TuckerAVForEmotionRecognition
    from hf_emotion.models.processing_emotion import EmotionProcessor

    torch.manual_seed(0)
    config = TuckerAVConfig(**TINY_CONFIG)
    directory = tmp_path_factory.mktemp("model")
    TuckerAVForEmotionRecognition(config).save_pretrained(directory)
    EmotionProcessor.from_model_config(config).save_pretrained(directory)
    return directory


def test_predict_prints_every_good_result_and_lists_the_bad_files(model_dir, tmp_path, capsys):
    good = write_clip(tmp_path / "a.mp4", duration_s=1.0)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    missing = tmp_path / "missing.mp4"
    code = main(["predict", str(good), str(bad), str(missing), "--model", str(model_dir)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.startswith(f"{good}: ") and len(captured.out.splitlines()) == 1
    assert f"error: {bad}:" in captured.err and f"error: {missing}:" in captured.err
    assert "2 of 3 videos could not be read" in captured.err


# --- the feature cache ------------------------------------------------------------------------------------


@pytest.fixture()
def clips(tmp_path) -> Dataset:
    paths = [
        str(
            write_video(
                tmp_path / f"clip{i}.mp4", seconds=0.5, fps=10, audio_hz=300.0 + 100 * i, size=(32, 40)
            )
        )
        for i in range(5)
    ]
    features = Features({"path": Value("string"), "label": ClassLabel(names=["a", "b"])})
    return Dataset.from_dict({"path": paths, "label": [0, 1, 0, 1, 0]}).cast(features)


def tiny_config():
    return build_config(
        "tucker_av",
        {0: "a", 1: "b"},
        "demo",
        {"num_frames": 2, "image_size": 32, "num_audio_frames": 32, "num_mel_bins": 16},
    )


def test_changing_a_file_rebuilds_the_cache_and_says_so(clips, tmp_path, caplog):
    cache = tmp_path / "cache"
    first, _ = prepare_module.load_or_prepare(clips, tiny_config(), cache_dir=cache)
    source = Path(clips[2]["path"])
    shutil.copy(Path(clips[0]["path"]), source)  # same name, other content
    with caplog.at_level(logging.WARNING):
        second, _ = prepare_module.load_or_prepare(clips, tiny_config(), cache_dir=cache)
    assert "is stale" in caplog.text and "1 changed files" in caplog.text and "clip2.mp4" in caplog.text
    rows = second.with_format("numpy")
    assert (rows[2]["input_features"] == rows[0]["input_features"]).all()  # the new content's features
    assert not (first.with_format("numpy")[2]["input_features"] == rows[2]["input_features"]).all()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        prepare_module.load_or_prepare(clips, tiny_config(), cache_dir=cache)
    assert "Reusing prepared features" in caplog.text


def test_an_interrupted_preparation_continues_from_its_shards(clips, tmp_path, monkeypatch):
    real = prepare_module.prepare_features
    calls = []

    stop = {"at": 2}

    def interrupted(dataset, *args, **kwargs):
        calls.append(list(dataset["path"]))
        if len(calls) == stop["at"]:
            raise KeyboardInterrupt  # the user stops the run in the second shard
        return real(dataset, *args, **kwargs)

    monkeypatch.setattr(prepare_module, "prepare_features", interrupted)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        prepare_module.load_or_prepare(clips, tiny_config(), cache_dir=cache, shard_size=2)
    calls.clear()
    stop["at"] = None
    features, _ = prepare_module.load_or_prepare(clips, tiny_config(), cache_dir=cache, shard_size=2)
    assert [len(c) for c in calls] == [2, 1]  # only shards 2 and 3 were computed again
    assert features["path"] == clips["path"]
    assert not (cache / "shards").exists()  # folded into features/ once complete


# --- paths from corpus metadata, the synthetic marker, duplicates -----------------------------------------


def test_iemocap_utterance_id_cannot_escape_the_corpus_or_the_cache(tmp_path):
    root = make_iemocap(tmp_path / "iemocap")
    outside = root / "x"
    outside.mkdir()
    shutil.copy(next((root / "Session1" / "sentences" / "wav").rglob("*.wav")), outside / "pwn.wav")
    evaluation = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    with evaluation.open("a") as file:
        file.write("[0.5000 - 1.5000]\t../../../../x/pwn\tneu\t[2.5000, 3.0000, 3.5000]\n")
    cache = tmp_path / "caches" / "hf"
    dataset, report = load_iemocap(root, cache_dir=cache, num_workers=1, return_report=True)
    assert not list(tmp_path.rglob("pwn.mp4"))
    assert all("pwn" not in path for path in dataset["path"])
    assert any("leads outside the corpus folder" in reason for reason in report.skipped.values())


def test_a_crafted_synthetic_marker_deletes_nothing(tmp_path):
    victim, absolute = tmp_path / "victim.txt", tmp_path / "elsewhere" / "keep.mp4"
    victim.write_text("precious")
    absolute.parent.mkdir()
    absolute.write_text("precious too")
    root = tmp_path / "corpus"
    (root / "Actor_01").mkdir(parents=True)
    (root / "Actor_01" / "link.mp4").symlink_to(absolute)
    for listed in ("../victim.txt", str(absolute), "Actor_01/link.mp4"):
        (root / "hf_emotion_synthetic.json").write_text(json.dumps({"config": {}, "files": [listed]}))
        with pytest.raises(ValueError, match="nothing was deleted"):
            make_synthetic_corpus(root, n_actors=1, duration=1.0, width=32, height=32, num_workers=1)
        assert victim.read_text() == "precious" and absolute.read_text() == "precious too"


def test_duplicate_clips_are_reported_and_kept_once(tmp_path):
    root = make_ravdess(tmp_path / "ravdess")
    clean = load_ravdess(root)
    shutil.copytree(root / "Actor_01", root / "backup" / "Actor_01")  # the same clips in another folder
    case = root / "Actor_02" / "01-01-03-01-01-02-02.mp4"
    os.link(case, case.with_suffix(".MP4"))  # a case variant of one name
    dataset, report = load_ravdess(root, return_report=True)
    assert sorted(dataset["path"]) == sorted(clean["path"])
    assert len(report.duplicates) == 3
    assert report.duplicates[str(case.with_suffix(".MP4"))] == str(case)
    assert "3 duplicates dropped" in report.summary()


# --- one-line answers to bad command-line input -----------------------------------------------------------


def test_bad_cli_input_is_one_line_naming_the_fix(model_dir, tmp_path, capsys, monkeypatch):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert main(["train", "--data-dir", str(loop), "--output-dir", str(tmp_path / "o")]) == 2
    assert "symbolic link loop" in one_error_line(capsys)
    assert main(["predict", "x.mp4", "--model", str(tmp_path / "no_model")]) == 2
    line = one_error_line(capsys)
    assert "model folder" in line and "does not exist" in line
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "tucker_av",')  # truncated JSON
    assert main(["evaluate", "--model-dir", str(model), "--data-dir", str(tmp_path)]) == 2
    assert "config.json" in one_error_line(capsys)
    damaged = tmp_path / "damaged"
    shutil.copytree(model_dir, damaged)
    (damaged / "processor_config.json").write_text("{")
    assert main(["predict", "x.mp4", "--model", str(damaged)]) == 2
    assert "processor_config.json is not valid JSON" in one_error_line(capsys)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "x.mp4", "--model", str(model), "--chunk-length-s", "nan"])
    assert exit_info.value.code == 2 and "finite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--epochs", "0", "--output-dir", str(tmp_path / "o")])
    assert "at least 1" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", "--features-dir", str(tmp_path / "f"), "--output-dir", str(blocker / "out")]) == 2
    assert "Cannot write in" in one_error_line(capsys)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: no network
    assert main(["push", str(model_dir), "user/name", "--token", "hf_x"]) == 2
    line = one_error_line(capsys)
    assert "network or Hub error" in line and len(line) < 450
