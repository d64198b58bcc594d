"""EmotionMetrics against values computed by hand on a 3-class confusion matrix."""

import math

import evaluate
import numpy as np
import pytest

from hf_emotion.metrics import (
    EMOTION_METRICS_PATH,
    EmotionMetrics,
    compute_emotion_metrics,
    make_compute_metrics,
)

# Confusion matrix (rows = true, columns = predicted):
#   [[2, 1, 1],
#    [1, 2, 0],
#    [0, 1, 2]]
REFERENCES = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
PREDICTIONS = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]
NAMES = ["angry", "happy", "sad"]
EXPECTED = {
    "accuracy": 6 / 10,  # WA: trace / total
    "uar": (2 / 4 + 2 / 3 + 2 / 3) / 3,  # UA: mean of row-wise recalls
    "macro_precision": (2 / 3 + 2 / 4 + 2 / 3) / 3,  # column-wise
    "macro_recall": (2 / 4 + 2 / 3 + 2 / 3) / 3,
    "macro_f1": (4 / 7 + 4 / 7 + 2 / 3) / 3,
    "macro_specificity": (5 / 6 + 5 / 7 + 6 / 7) / 3,  # TN / (TN + FP) per class
    "weighted_f1": (4 * 4 / 7 + 3 * 4 / 7 + 3 * 2 / 3) / 10,
    # Gorodkin: (c·s − Σ p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)), p = column sums (3, 4, 3), t = (4, 3, 3)
    "mcc": (6 * 10 - (3 * 4 + 4 * 3 + 3 * 3)) / math.sqrt((100 - 34) * (100 - 34)),
}


def check(result):
    for key, value in EXPECTED.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key
    assert result["confusion_matrix"] == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert result["per_class"]["angry"] == pytest.approx(
        {"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7, "specificity": 5 / 6, "support": 4}
    )
    assert result["per_class"]["happy"]["specificity"] == pytest.approx(5 / 7)


def test_function_matches_hand_computed_values():
    check(compute_emotion_metrics(PREDICTIONS, REFERENCES, label_names=NAMES))


def test_metric_class_with_batches():
    metric = EmotionMetrics()
    metric.add_batch(predictions=PREDICTIONS[:4], references=REFERENCES[:4])
    metric.add_batch(predictions=PREDICTIONS[4:], references=REFERENCES[4:])
    check(metric.compute(label_names=NAMES))


def test_evaluate_load_from_local_path_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    metric = evaluate.load(EMOTION_METRICS_PATH, cache_dir=str(tmp_path / "cache"))
    assert type(metric).__name__ == "EmotionMetrics"
    check(metric.compute(predictions=PREDICTIONS, references=REFERENCES, label_names=NAMES))


def test_absent_class_keeps_its_row_and_ua_uses_present_classes():
    result = compute_emotion_metrics([0, 1, 1, 0], [0, 1, 1, 1], labels=[0, 1, 2], label_names=NAMES)
    assert result["confusion_matrix"] == [[1, 0, 0], [1, 2, 0], [0, 0, 0]]
    assert result["uar"] == pytest.approx((1 + 2 / 3) / 2)
    assert result["macro_recall"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert result["per_class"]["sad"]["support"] == 0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="same length"):
        compute_emotion_metrics([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        compute_emotion_metrics([], [])
    with pytest.raises(ValueError, match="not in `labels`"):
        compute_emotion_metrics([0, 5], [0, 1], labels=[0, 1])


def test_trainer_compute_metrics_flattens_scalars():
    logits = np.eye(3)[PREDICTIONS] + 0.1  # arg-max = PREDICTIONS
    compute = make_compute_metrics({0: "angry", 1: "happy", 2: "sad"})
    result = compute((logits, np.array(REFERENCES)))
    assert result["accuracy"] == pytest.approx(0.6)
    assert result["f1_sad"] == pytest.approx(2 / 3)
    assert all(isinstance(v, float) for v in result.values())
