"""The cross-validation runner: every speaker-independent fold once, mean ± std computed over the folds."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hf_emotion.training import LoopArguments, build_config, parse_config_overrides
from hf_emotion.training.cross_validation import run_cross_validation, write_report

sys.path.insert(0, str(Path(__file__).parent))
from training_fixtures import LABELS, TINY_TUCKER, make_feature_dataset  # noqa: E402


def test_every_fold_once_and_summary_over_folds(tmp_path):
    features = make_feature_dataset(n_speakers=3, clips_per_label=2)
    config = build_config("tucker_av", dict(enumerate(LABELS)), "paper", parse_config_overrides(TINY_TUCKER))
    args = LoopArguments(
        output_dir=str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=8,
        eval_every_epoch=False,
        progress=False,
    )
    report = run_cross_validation(config, features, args, protocol="speaker", n_folds=3, corpus="synthetic")
    folds = report["folds"]
    assert [row["fold"] for row in folds] == [0, 1, 2]
    assert [row["test_speakers"] for row in folds] == [["01"], ["02"], ["03"]]  # each speaker tested once
    assert all(row["num_test"] == 8 and row["num_train"] == 16 for row in folds)
    for row in folds:
        matrix = np.array(row["confusion_matrix"])
        assert matrix.sum() == row["num_test"]
        assert row["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    accuracies = [row["accuracy"] for row in folds]
    mean = sum(accuracies) / 3
    std = (sum((a - mean) ** 2 for a in accuracies) / 3) ** 0.5
    assert report["summary"]["accuracy"]["mean"] == pytest.approx(mean)
    assert report["summary"]["accuracy"]["std"] == pytest.approx(std)
    markdown, data = write_report(report, tmp_path / "report", "tiny")
    text = markdown.read_text()
    assert text.count("\n| ") == 5 and "mean ± std" in text  # header + 3 folds + summary
    assert json.loads(data.read_text())["summary"]["mcc"]["per_fold"] == [row["mcc"] for row in folds]


def test_unknown_folds_are_refused(tmp_path):
    features = make_feature_dataset(n_speakers=2, clips_per_label=1)
    config = build_config("tucker_av", dict(enumerate(LABELS)), "paper", parse_config_overrides(TINY_TUCKER))
    with pytest.raises(ValueError, match="do not exist"):
        run_cross_validation(config, features, LoopArguments(output_dir=str(tmp_path)), n_folds=2, folds=[5])
