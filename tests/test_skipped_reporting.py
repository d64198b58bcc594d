"""Unreadable clips left out of a run are counted where the results are read: `hf-emotion cross-validate`'s
report (cross_validation.json and .md) and the model card (a sentence below the results, not a metric)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hf_emotion import TuckerAVConfig
from hf_emotion.cards import create_model_card
from hf_emotion.cli import main
from hf_emotion.data import make_synthetic_corpus

TINY = "num_frames=2,image_size=32,num_audio_frames=64,num_mel_bins=32"


def test_card_states_the_skipped_count_and_keeps_it_out_of_the_metrics():
    config = TuckerAVConfig(frame_encoder=None)
    card = create_model_card(config, eval_results={"accuracy": 0.5, "uar": 0.4, "skipped_files": 3})
    assert "3 clips of the corpus could not be read" in card.text
    assert "skipped" not in card.data.to_yaml()  # not in the model-index
    assert "| skipped" not in card.text and "0.5000" in card.text
    one = create_model_card(config, eval_results={"accuracy": 0.5, "skipped_files": 1})
    assert "1 clip of the corpus could not be read and was left out" in one.text
    clean = create_model_card(config, eval_results={"accuracy": 0.5, "skipped_files": 0})
    assert "could not be read" not in clean.text


@pytest.mark.slow
def test_cross_validate_reports_the_skipped_count(tmp_path):
    data = tmp_path / "synthetic"
    make_synthetic_corpus(
        data, n_actors=2, duration=1.0, width=64, height=48, statements=1, repetitions=1, num_workers=1
    )
    bad = sorted(data.rglob("*.mp4"))[:2]
    for file in bad:
        file.write_bytes(b"not a video at all")
    code = main(
        [
            "cross-validate",
            "--data-dir",
            str(data),
            "--config-overrides",
            TINY,
            "--n-folds",
            "2",
            "--folds",
            "0",
        ]
        + ["--epochs", "1", "--batch-size", "8", "--output-dir", str(tmp_path / "out")]
    )
    assert code == 0
    out = Path(tmp_path / "out")
    assert len(json.loads((out / "skipped.json").read_text())) == 2
    assert json.loads((out / "cross_validation.json").read_text())["skipped_files"] == 2
    assert "2 clips could not be read" in (out / "cross_validation.md").read_text()
