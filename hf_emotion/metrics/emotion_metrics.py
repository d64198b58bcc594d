"""Emotion-recognition metrics as an `evaluate.Metric`, computed with scikit-learn.

This file is self-contained (it imports only numpy, scikit-learn, datasets and evaluate), so it works both as
a class (``from hf_emotion.metrics import EmotionMetrics``) and as a local evaluate module, offline::

    import evaluate
    from hf_emotion.metrics import EMOTION_METRICS_PATH
    metric = evaluate.load(EMOTION_METRICS_PATH)  # the path of this file

**Weighted vs unweighted accuracy — read this before comparing with papers.** In the speech-emotion literature
(IEMOCAP and RAVDESS papers) *weighted accuracy* (WA) is the overall accuracy, i.e. the share of correctly
classified clips — every clip counts once, so classes are weighted by their frequency — and *unweighted
accuracy* (UA, also UAR: unweighted average recall) is the mean of the per-class recalls — every class counts
once whatever its size. Some papers swap the two names (calling the class-balanced mean "weighted" because the
classes are re-weighted), and some report only "accuracy" without saying which. Here:

=============================== ===========================================================================
field                           definition
=============================== ===========================================================================
``accuracy``                    overall accuracy = **WA**: correct / total (sklearn ``accuracy_score``)
``uar``                         **UA / UAR**: mean over classes of recall (sklearn ``balanced_accuracy_score``
                                over the classes present in ``references``)
``macro_precision``             mean over classes of precision (PPV) = TP / (TP + FP); 0 for a class never
                                predicted
``macro_recall``                mean over ``labels`` of recall (sensitivity) = TP / (TP + FN); equals UA when
                                every class occurs in ``references``
``macro_f1``                    mean over classes of F1 = 2·P·R / (P + R)
``macro_specificity``           mean over classes of specificity = TN / (TN + FP) (one-vs-rest)
``weighted_f1``                 F1 averaged with class supports as weights
``mcc``                         multi-class Matthews correlation coefficient (Gorodkin's R_K)
``per_class``                   ``{label: {precision, recall, f1, specificity, support}}``
``confusion_matrix``            rows = true class, columns = predicted class, in ``labels`` order
``labels``                      the class names (or ids) of the rows/columns
=============================== ===========================================================================

The RMLSTM paper's "PPV", "sensitivity" and "specificity" are the macro precision, recall and specificity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import datasets
import evaluate
import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_recall_fscore_support,
)

_DESCRIPTION = __doc__

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted class ids.
    references (`list[int]`): true class ids.
    labels (`list[int]`, *optional*): every class id, in the order of the confusion matrix; defaults to
        ``range(len(label_names))`` when names are given, else the sorted ids seen in either list. Give it so
        that classes absent from a small test set still get a row.
    label_names (`list[str]`, *optional*): a name per entry of ``labels`` (e.g. ``config.id2label`` values),
        used as keys of ``per_class``.

Returns:
    `dict`: ``accuracy`` (WA), ``uar`` (UA / UAR), ``macro_precision``, ``macro_recall``,
    ``macro_f1``, ``macro_specificity``, ``weighted_f1``, ``mcc``, ``per_class``, ``confusion_matrix``,
    ``labels``, ``num_samples``.

Example:
    >>> metric = EmotionMetrics()
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0])["accuracy"]
    0.6666666666666666
"""

_CITATION = """\
@article{pedregosa2011scikit,
  title={Scikit-learn: Machine Learning in Python},
  author={Pedregosa, F. and others},
  journal={Journal of Machine Learning Research},
  volume={12}, pages={2825--2830}, year={2011}
}
"""


def compute_emotion_metrics(
    predictions: Sequence[int],
    references: Sequence[int],
    labels: Sequence[int] | None = None,
    label_names: Sequence[str] | None = None,
) -> dict:
    """The metrics of :class:`EmotionMetrics` as a plain function (same arguments and result)."""
    predictions = np.asarray(predictions, dtype=np.int64).reshape(-1)
    references = np.asarray(references, dtype=np.int64).reshape(-1)
    if predictions.shape != references.shape:
        raise ValueError(
            f"`predictions` ({predictions.size}) and `references` ({references.size}) must have the same length."
        )
    if references.size == 0:
        raise ValueError("Cannot compute metrics on an empty evaluation set (no predictions given).")
    if labels is None:
        labels = (
            list(range(len(label_names)))
            if label_names is not None
            else sorted(set(references.tolist()) | set(predictions.tolist()))
        )
    labels = [int(label) for label in labels]
    if label_names is not None and len(label_names) != len(labels):
        raise ValueError(f"`label_names` has {len(label_names)} names for {len(labels)} labels.")
    unknown = sorted((set(references.tolist()) | set(predictions.tolist())) - set(labels))
    if unknown:
        raise ValueError(f"Class ids {unknown} are not in `labels` {labels}.")
    names = [str(n) for n in label_names] if label_names is not None else labels

    matrix = confusion_matrix(references, predictions, labels=labels)  # (classes, classes), rows = true
    precision, recall, f1, support = precision_recall_fscore_support(
        references, predictions, labels=labels, zero_division=0
    )
    true_positive = np.diag(matrix)
    false_positive = matrix.sum(axis=0) - true_positive
    true_negative = matrix.sum() - matrix.sum(axis=1) - false_positive
    negatives = true_negative + false_positive
    specificity = np.divide(
        true_negative, negatives, out=np.zeros(len(labels), dtype=float), where=negatives > 0
    )
    present = support > 0  # UA averages over the classes that occur in the references
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "specificity": float(specificity[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
    return {
        "accuracy": float(accuracy_score(references, predictions)),
        "uar": float(recall[present].mean()),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "macro_specificity": float(specificity.mean()),
        "weighted_f1": float(
            f1_score(references, predictions, labels=labels, average="weighted", zero_division=0)
        ),
        "mcc": float(matthews_corrcoef(references, predictions)),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "labels": list(names),
        "num_samples": int(references.size),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class EmotionMetrics(evaluate.Metric):
    """Accuracy (WA), unweighted accuracy (UA/UAR), macro/per-class precision, recall, F1, specificity, MCC and
    the confusion matrix of a classifier; see the module docstring for the definitions."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(self, predictions, references, labels=None, label_names=None) -> dict:
        return compute_emotion_metrics(predictions, references, labels=labels, label_names=label_names)


def flatten_metrics(metrics: Mapping) -> dict[str, float]:
    """Scalar view of a metrics dict for loggers (`Trainer`, TensorBoard): per-class F1 and recall become
    ``f1_<label>`` / ``recall_<label>``; the confusion matrix and label list are dropped."""
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "num_samples"}
    for name, values in metrics.get("per_class", {}).items():
        flat[f"f1_{name}"] = values["f1"]
        flat[f"recall_{name}"] = values["recall"]
    return flat


def make_compute_metrics(id2label: Mapping[int, str] | None = None) -> Callable:
    """A ``compute_metrics(eval_pred)`` for `transformers.Trainer`: arg-max of the logits against the labels,
    flattened to scalars (see :func:`flatten_metrics`). ``id2label`` (e.g. ``model.config.id2label``) fixes the
    class order and names."""
    labels = label_names = None
    if id2label:
        labels = sorted(int(k) for k in id2label)
        label_names = [id2label[k] if k in id2label else id2label[str(k)] for k in labels]

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, references = eval_pred[0], eval_pred[1]
        if isinstance(logits, (tuple, list)):
            logits = logits[0]  # the model's first output after the loss is `logits`
        predictions = np.asarray(logits).argmax(axis=-1)
        return flatten_metrics(
            compute_emotion_metrics(predictions, references, labels=labels, label_names=label_names)
        )

    return compute_metrics
