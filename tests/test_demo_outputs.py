"""`hf-emotion demo --tiny`: the attention flatness it prints and saves is the saved model's, on the test clips."""

import json
import re

import pytest
import torch
from datasets import load_from_disk

from hf_emotion.cli import main
from hf_emotion.metrics import attention_kl_from_uniform
from hf_emotion.models.modeling_tucker_av import TuckerAVForEmotionRecognition
from hf_emotion.training.collate import EmotionDataCollator, model_input_names
from hf_emotion.training.experiment import split_fold
from hf_emotion.training.prepare import normalize_prepared


@pytest.mark.slow
def test_tiny_demo_saves_and_prints_the_attention_kl_of_its_test_clips(tmp_path, capsys):
    out, corpus = tmp_path / "demo", tmp_path / "corpus"
    assert main(["demo", "--tiny", "--output-dir", str(out), "--corpus-dir", str(corpus)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "metrics.json").read_text())["attention_kl_from_uniform"]
    line = re.search(r"attention KL from uniform .*audio → video ([\d.]+), video → audio ([\d.]+)", printed)
    assert line and [float(v) for v in line.groups()] == [
        round(saved["audio_to_video"], 3),
        round(saved["video_to_audio"], 3),
    ]

    # Recompute from the SAVED model on the test split of the demo's cached features (fold 0 of 2, seed 0).
    model = TuckerAVForEmotionRecognition.from_pretrained(out / "model").eval()
    assert model.config.initializer_range == pytest.approx(0.125)  # the demo's unit-gain init is recorded
    features = load_from_disk(str(corpus / ".hf_emotion_cache" / "tiny_demo" / "features"))
    test = normalize_prepared(split_fold(features, "speaker", 0, 2, "synthetic", 0)["test"], model.processor)
    rows = test.with_format("numpy")
    batch = EmotionDataCollator(model_input_names(model.config))([rows[i] for i in range(len(rows))])
    batch.pop("labels")
    with torch.no_grad():
        output = model(**batch, output_attentions=True)
    assert saved["num_clips"] == len(test)
    assert saved["audio_to_video"] == pytest.approx(
        attention_kl_from_uniform(output.audio_to_video_attentions), abs=1e-5
    )
    assert saved["video_to_audio"] == pytest.approx(
        attention_kl_from_uniform(output.video_to_audio_attentions), abs=1e-5
    )
