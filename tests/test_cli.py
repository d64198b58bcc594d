"""`hf-emotion`: help texts, one-line errors, and the demo end to end at a tiny size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hf_emotion.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "hf_emotion.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def assert_one_line_error(completed, pattern):
    assert completed.returncode == 2, completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip() and "it/s]" not in line]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and pattern in errors[0], completed.stderr
    assert "Traceback" not in completed.stderr


def test_every_command_has_help(capsys):
    for command in ("make-corpus", "train", "evaluate", "cross-validate", "demo"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "--output-dir" in capsys.readouterr().out or command == "evaluate"
    assert {"make-corpus", "train", "evaluate", "cross-validate", "demo"} <= set(
        build_parser()._subparsers._group_actions[0].choices
    )


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert (
        main(["train", "--corpus", "nope", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "o")])
        == 2
    )
    assert capsys.readouterr().err.strip().count("\n") == 0
    missing = ["train", "--data-dir", str(tmp_path / "absent"), "--output-dir", str(tmp_path / "o2")]
    assert main(missing) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "does not exist" in err and err.strip().count("\n") == 0
    typo = [
        "train",
        "--features-dir",
        str(tmp_path),
        "--config-overrides",
        "hiden_size=3",
        "--output-dir",
        str(tmp_path / "o3"),
    ]
    assert main(typo) == 2
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("previous run")
    assert main(["demo", "--output-dir", str(full), "--tiny"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (full / "keep.txt").read_text() == "previous run"
    assert main(["evaluate", "--model-dir", str(tmp_path), "--data-dir", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_unknown_model_type_in_a_subprocess(tmp_path):
    completed = cli("cross-validate", "--model-type", "bert", "--output-dir", tmp_path)
    assert completed.returncode == 2 and "invalid choice" in completed.stderr


@pytest.mark.slow
def test_tiny_demo_end_to_end_then_evaluate_the_saved_model(tmp_path):
    out, corpus = tmp_path / "demo", tmp_path / "corpus"
    # the frozen-backbone path: frame embeddings cached once, training on `frame_features`
    completed = cli("demo", "--tiny", "--preset", "cached", "--output-dir", out, "--corpus-dir", corpus)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "accuracy (WA)" in completed.stdout and "UAR" in completed.stdout
    for name in (
        "model/config.json",
        "model/model.safetensors",
        "model/processor_config.json",
        "model/README.md",
        "metrics.json",
        "history.json",
        "confusion_matrix.png",
        "confusion_matrix_normalized.png",
        "per_class_f1.png",
        "training_curves.png",
        "attention_maps.png",
        "feature_correlation.png",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["num_samples"]

    # Evaluating the saved model from the raw videos (frames embedded again by the backbone saved INSIDE the model)
    # must reproduce the demo's metrics, which came from the cached frame features.
    completed = cli(
        "evaluate",
        "--model-dir",
        out / "model",
        "--data-dir",
        corpus,
        "--n-folds",
        "2",
        "--output",
        tmp_path / "m.json",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    again = json.loads((tmp_path / "m.json").read_text())
    assert again["confusion_matrix"] == metrics["confusion_matrix"]

    assert_one_line_error(cli("demo", "--tiny", "--output-dir", out, "--corpus-dir", corpus), "--overwrite")
