"""Tests of the model cards: YAML metadata parsed back, licences, the usage snippet, the template copies."""

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, metadata_load

from hf_emotion import TuckerAVConfig
from hf_emotion.cards import TEMPLATE_FILES, create_model_card, save_model_card, summarize_metrics

REPO = Path(__file__).resolve().parent.parent
CV_RESULTS = {
    "protocol": "speaker-independent 6-fold (4 actors per fold)",
    "metrics": {"accuracy": [0.60, 0.70, 0.80, 0.65, 0.75, 0.70], "macro_f1": {"mean": 0.5, "std": 0.1}},
}


def test_templates_in_model_cards_and_package_are_identical():
    for name in TEMPLATE_FILES:
        assert (REPO / "model_cards" / name).read_bytes() == (
            REPO / "hf_emotion" / "templates" / name
        ).read_bytes()


def test_summaries_of_folds_by_hand():
    summaries = {s.name: s for s in summarize_metrics(CV_RESULTS)}
    # mean of the six folds = 4.2 / 6 = 0.7; population variance = (0.01+0+0.01+0.0025+0.0025+0) / 6 = 0.025 / 6
    assert summaries["accuracy"].mean == pytest.approx(0.7)
    assert summaries["accuracy"].std == pytest.approx((0.025 / 6) ** 0.5)
    assert summaries["accuracy"].num_folds == 6
    flat = {s.name: s for s in summarize_metrics({"eval_accuracy": 0.5, "eval_loss": 1.2, "uar": 0.4})}
    assert set(flat) == {"accuracy", "uar"} and flat["uar"].std is None
    with pytest.raises(ValueError, match="No numeric metrics"):
        summarize_metrics({"eval_loss": 1.0})


def test_card_metadata_round_trip(tmp_path):
    config = TuckerAVConfig(frame_encoder=None)
    path = save_model_card(
        tmp_path,
        config,
        eval_results=CV_RESULTS,
        dataset_names=["RAVDESS", "CREMA-D"],
        training_args={"learning_rate": 1e-4, "num_train_epochs": 50},
        repo_id="someone/tucker-av-ravdess",
    )
    metadata = metadata_load(path)
    assert metadata["license"] == "cc-by-nc-sa-4.0"
    assert metadata["datasets"] == ["ravdess", "crema-d"]
    assert metadata["pipeline_tag"] == "video-classification"
    assert {"hf_emotion", "tucker_av", "emotion-recognition"} <= set(metadata["tags"])
    (index,) = metadata["model-index"]
    assert index["name"] == "tucker-av-ravdess"
    metrics = {m["type"]: m for m in index["results"][0]["metrics"]}
    assert metrics["accuracy"]["value"] == pytest.approx(0.7)
    assert metrics["accuracy"]["args"]["std"] == pytest.approx((0.025 / 6) ** 0.5, abs=1e-6)
    assert "speaker-independent 6-fold" in metrics["accuracy"]["name"]
    assert metrics["f1"]["value"] == pytest.approx(0.5) and metrics["f1"]["config"] == "macro"
    assert index["results"][0]["dataset"] == {"name": "RAVDESS", "type": "ravdess"}
    card = ModelCard.load(path)
    assert card.data.eval_results[0].metric_value == pytest.approx(0.7)
    text = card.text
    assert text.count("Non-commercial use only") == 2  # RAVDESS and CREMA-D
    assert "CC BY-NC-SA 4.0" in text and "non-commercial research" in text
    for phrase in ("acted", "Demographic coverage", "Do not use this model to make decisions about people"):
        assert phrase in text
    assert "| RAVDESS | Accuracy (WA) | 0.7000 ± 0.0645 |" in text
    assert "| `learning_rate` | `0.0001` |" in text


def test_single_split_metrics_file(tmp_path):
    results = tmp_path / "metrics.json"
    results.write_text(json.dumps({"accuracy": 0.71, "uar": 0.69, "f1_macro": 0.68}))
    card = create_model_card(
        TuckerAVConfig(frame_encoder=None),
        eval_results=results,
        dataset_names=["synthetic"],
        protocol="random 80:20",
    )
    metrics = {r.metric_type: r for r in card.data.eval_results}
    assert metrics["recall"].metric_value == pytest.approx(0.69) and metrics["recall"].metric_args is None
    assert card.data.license == "apache-2.0"
    assert "random split puts the same actors" in card.text
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_model_card(TuckerAVConfig(frame_encoder=None), eval_results=tmp_path / "missing.json")


def test_usage_snippet_names_the_task_and_repo():
    card = create_model_card(TuckerAVConfig(frame_encoder=None), repo_id="someone/model")
    snippet = card.text.split("```python", 1)[1].split("```", 1)[0]
    assert (
        'pipeline("audio-visual-emotion-recognition", model="someone/model", trust_remote_code=True)'
        in snippet
    )
    compile(snippet, "snippet", "exec")  # valid Python
    assert "No evaluation results" in card.text


def test_rmlstm_card_and_unknown_type():
    rmlstm = pytest.importorskip("hf_emotion.models.configuration_rmlstm")
    card = create_model_card(rmlstm.RMLSTMConfig(frame_encoder=None), dataset_names=["savee"])
    assert card.data.license == "other" and "rmlstm" in card.data.tags and "transcript=" in card.text
    with pytest.raises(ValueError, match="model type"):
        create_model_card(type("C", (), {"model_type": "bert"})())
