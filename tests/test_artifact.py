"""The processor as the run's one fitted artifact (issue 11 point 7) and what `hf-emotion push` makes of the
files the package writes (points 3 and 4)."""

import json

import numpy as np
import pytest
import torch
from conftest import TRANSCRIPTS, tiny_config
from huggingface_hub import ModelCard

from hf_emotion import EmotionProcessor, TfidfTextFeaturizer
from hf_emotion.cards import create_model_card, placeholder_repo_id, summarize_metrics
from hf_emotion.hub import stage_model
from hf_emotion.metrics import compute_emotion_metrics
from hf_emotion.training.cross_validation import write_report


def test_fit_learns_the_tfidf_from_the_training_transcripts():
    config = tiny_config("rmlstm")
    processor = EmotionProcessor.from_model_config(config)
    with pytest.raises(ValueError, match="pass the training transcripts"):
        processor.fit()
    assert processor.fit(texts=TRANSCRIPTS) is processor
    reference = TfidfTextFeaturizer(max_features=config.text_feature_dim).fit(TRANSCRIPTS)
    assert processor.text_featurizer.vocabulary == reference.vocabulary
    np.testing.assert_array_equal(
        processor(text="dogs by the door")["text_features"].numpy(), reference(["dogs by the door"])
    )
    fitted = processor.text_featurizer
    processor.fit(texts=["other words entirely"])  # an already fitted featurizer is kept
    assert processor.text_featurizer is fitted


def test_fit_learns_normalisation_and_cached_features_match_the_file(clip_path, tmp_path):
    config = tiny_config("tucker_av")
    processor = EmotionProcessor.from_model_config(config, do_normalize=True)
    assert processor.feature_extractor.do_normalize
    raw = EmotionProcessor.from_model_config(config, modalities=["audio"])  # no statistics: raw log-Mel
    clips = [str(clip_path)]
    features = raw(audio=clips)["input_features"].numpy()  # (1, bins, frames): what a feature cache holds
    processor.fit(audio=clips)
    # Independent reference: mean and population std per bin over every frame of every clip.
    mean = features.transpose(1, 0, 2).reshape(features.shape[1], -1).mean(axis=1)
    std = features.transpose(1, 0, 2).reshape(features.shape[1], -1).std(axis=1)
    np.testing.assert_allclose(processor.feature_extractor.normalization_mean, mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(processor.feature_extractor.normalization_std, std, rtol=1e-4, atol=1e-5)
    from_features = EmotionProcessor.from_model_config(
        config
    ).feature_extractor.fit_normalization_from_features(list(features))
    np.testing.assert_allclose(
        from_features.normalization_mean, processor.feature_extractor.normalization_mean
    )
    on_file = processor(videos=str(clip_path))["input_features"].numpy()
    np.testing.assert_allclose(processor.feature_extractor.normalize(features), on_file, atol=1e-5, rtol=1e-5)
    # The statistics travel with the processor.
    processor.save_pretrained(tmp_path)
    again = EmotionProcessor.from_pretrained(tmp_path)
    np.testing.assert_allclose(again(videos=str(clip_path))["input_features"].numpy(), on_file)
    with pytest.raises(ValueError, match="fit its statistics"):
        EmotionProcessor.from_model_config(config, do_normalize=True).fit()


def metrics_payload() -> dict:
    return compute_emotion_metrics(
        [0, 1, 2, 2, 1], [0, 1, 2, 1, 1], label_names=["neutral", "happy", "angry"]
    )


def test_every_metrics_file_the_package_writes_is_accepted(tmp_path):
    """`metrics.json` / `hf-emotion evaluate --output` (the metrics dict, with per-class results, the confusion
    matrix and label names) and `cross_validation.json`."""
    metrics = metrics_payload()
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    summaries = {s.name: s for s in summarize_metrics(json.loads((tmp_path / "metrics.json").read_text()))}
    assert summaries["uar"].mean == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert summaries["accuracy"].mean == pytest.approx(0.8)
    assert "confusion_matrix" not in summaries and "labels" not in summaries
    folds = [{**metrics, "fold": 0}, {**compute_emotion_metrics([0, 1, 2], [0, 1, 2]), "fold": 1}]
    report = {
        "protocol": "speaker-independent 2-fold",
        "num_folds": 2,
        "folds": [
            {
                "fold": f["fold"],
                "test_speakers": ["01"],
                "num_train": 3,
                "num_test": 3,
                **{k: f[k] for k in ("accuracy", "uar", "macro_f1", "mcc")},
            }
            for f in folds
        ],
        "summary": {
            k: {"mean": (folds[0][k] + folds[1][k]) / 2, "std": 0.1, "per_fold": [folds[0][k], folds[1][k]]}
            for k in ("accuracy", "uar", "macro_f1", "mcc")
        },
        "labels": ["neutral", "happy", "angry"],
        "config": {"model_type": "tucker_av"},
    }
    _, path = write_report(report, tmp_path / "cv")
    card = create_model_card(tiny_config("tucker_av"), eval_results=path, dataset_names=["synthetic"])
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values["recall"] == pytest.approx(((1 + 2 / 3 + 1) / 3 + 1) / 2, abs=1e-6)
    assert "speaker-independent 2-fold" in card.text and "UAR" in card.text


def test_push_keeps_the_trained_card_with_the_real_repo_id(tiny_folders, tmp_path):
    import shutil

    folder = shutil.copytree(tiny_folders["tucker_av"], tmp_path / "model")
    create_model_card(
        tiny_config("tucker_av"), eval_results=metrics_payload(), dataset_names=["synthetic"]
    ).save(folder / "README.md")
    assert placeholder_repo_id("tucker_av") in (folder / "README.md").read_text()
    staged = stage_model(folder, tmp_path / "staged", repo_id="me/emotion")
    text = (staged / "README.md").read_text()
    assert 'model="me/emotion"' in text and "<user>" not in text
    assert ModelCard.load(staged / "README.md").data.eval_results[0].metric_value is not None
    # Re-rendering for new card arguments (no eval results given) keeps the model-index training wrote.
    restaged = stage_model(folder, tmp_path / "restaged", repo_id="me/emotion", dataset_names=["ravdess"])
    card = ModelCard.load(restaged / "README.md")
    assert card.data.eval_results and card.data.license == "cc-by-nc-sa-4.0"
    torch.testing.assert_close(
        torch.tensor(card.data.eval_results[0].metric_value),
        torch.tensor(ModelCard.load(folder / "README.md").data.eval_results[0].metric_value),
    )
