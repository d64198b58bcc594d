"""Every figure is written as a real PNG with content; bad shapes are clear errors."""

import numpy as np
import pytest
import torch
from matplotlib import image as mpimg

from hf_emotion import plots
from hf_emotion.metrics import compute_emotion_metrics

LABELS = ["neutral", "happy", "sad"]


def read_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.01  # not a blank canvas
    return pixels


def test_metric_figures(tmp_path):
    metrics = compute_emotion_metrics([0, 1, 2, 2, 1, 0], [0, 1, 2, 1, 1, 2], label_names=LABELS)
    read_png(plots.plot_confusion_matrix(metrics["confusion_matrix"], LABELS, tmp_path / "cm.png"))
    read_png(
        plots.plot_confusion_matrix(metrics["confusion_matrix"], LABELS, tmp_path / "cmn.png", normalize=True)
    )
    read_png(plots.plot_per_class_f1(metrics, tmp_path / "f1.png"))
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix([[1, 2]], LABELS, tmp_path / "bad.png")


def test_training_curves(tmp_path):
    history = [{"step": s, "loss": 2.0 / s} for s in range(1, 20)] + [
        {"step": 10, "eval_accuracy": 0.4, "eval_uar": 0.35},
        {"step": 19, "eval_accuracy": 0.6, "eval_uar": 0.55},
    ]
    read_png(plots.plot_training_curves(history, tmp_path / "curves.png"))
    with pytest.raises(ValueError, match="no `loss`"):
        plots.plot_training_curves([{"step": 1}], tmp_path / "none.png")


def test_attention_maps_and_correlation(tmp_path):
    weights = torch.softmax(torch.randn(1, 4, 12, 12), dim=-1)  # (batch, heads, T, T) of one clip
    read_png(plots.plot_attention_maps(weights, weights[0], tmp_path / "attention.png"))
    with pytest.raises(ValueError, match="heads, T, T"):
        plots.plot_attention_maps(weights[0, 0], weights[0, 0], tmp_path / "bad.png")
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(40, 6))
    read_png(plots.plot_feature_correlation({"audio": audio, "video": audio + 0.1}, tmp_path / "corr.png"))
    with pytest.raises(ValueError, match="same clips"):
        plots.plot_feature_correlation({"audio": audio, "video": audio[:5]}, tmp_path / "bad.png")
