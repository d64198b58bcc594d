"""Evaluation metrics (accuracy / WA, UA / UAR, PPV, sensitivity, specificity, F1, MCC, confusion matrix) and the
flatness of attention maps (KL divergence from uniform)."""

from pathlib import Path

from .attention_metrics import attention_kl_from_uniform
from .emotion_metrics import EmotionMetrics, compute_emotion_metrics, flatten_metrics, make_compute_metrics

EMOTION_METRICS_PATH = str(Path(__file__).with_name("emotion_metrics.py"))
"""Path for ``evaluate.load(EMOTION_METRICS_PATH)`` (works offline: a local evaluate module)."""

__all__ = [
    "EMOTION_METRICS_PATH",
    "EmotionMetrics",
    "attention_kl_from_uniform",
    "compute_emotion_metrics",
    "flatten_metrics",
    "make_compute_metrics",
]
