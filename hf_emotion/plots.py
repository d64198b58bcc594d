"""PNG figures of a trained model (matplotlib, Agg backend: no display needed).

- :func:`plot_confusion_matrix` — counts or row-normalised (recall per true class);
- :func:`plot_per_class_f1` — per-class F1 bars with the macro average;
- :func:`plot_training_curves` — training loss and evaluation accuracy / UAR over steps;
- :func:`plot_attention_maps` — the cross-modal attention weights of one clip, audio→video and video→audio,
  one panel per head (the Tucker paper's Figs. 8–10), each titled with its KL divergence from uniform
  (:func:`hf_emotion.metrics.attention_kl_from_uniform`: 0 = flat);
- :func:`plot_feature_correlation` — Pearson correlation heatmap of feature dimensions over clips, e.g. the
  fused embedding or per-modality pooled features (the paper's Fig. 11).

Every function writes one PNG and returns its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from hf_emotion.metrics.attention_metrics import attention_kl_from_uniform  # noqa: E402


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=float)


def _integer_ticks(axis, x: bool = True, y: bool = False) -> None:
    """Ticks only at whole numbers (steps, time steps): no "2.5th step"."""
    if x:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if y:
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | Path,
    normalize: bool = False,
    title: str | None = None,
) -> Path:
    """Rows = true class, columns = predicted class; `normalize` divides each row by its total (recall)."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(labels):
        raise ValueError(
            f"The confusion matrix must be square with one row per label; got {matrix.shape}, {len(labels)} labels."
        )
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = 1.6 + 0.6 * len(labels)
    figure, axis = plt.subplots(figsize=(size + 1.2, size))
    image = axis.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    figure.colorbar(image, ax=axis, fraction=0.046)
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    peak = matrix.max() if matrix.size else 0
    for i in range(len(labels)):
        for j in range(len(labels)):
            text = f"{matrix[i, j]:.2f}" if normalize else f"{int(matrix[i, j])}"
            axis.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if matrix[i, j] > 0.6 * peak else "black",
            )
    axis.set_title(
        title or ("Confusion matrix (row-normalised)" if normalize else "Confusion matrix (counts)")
    )
    return _save(figure, path)


def plot_per_class_f1(metrics: Mapping[str, Any], path: str | Path, title: str = "Per-class F1") -> Path:
    """Bars of ``metrics["per_class"][label]["f1"]`` (from `compute_emotion_metrics`) and a macro-F1 line."""
    per_class = metrics.get("per_class")
    if not per_class:
        raise ValueError("`metrics` has no `per_class` entry; pass the output of compute_emotion_metrics.")
    names = list(per_class)
    values = [per_class[name]["f1"] for name in names]
    figure, axis = plt.subplots(figsize=(1.5 + 0.7 * len(names), 3.6))
    axis.bar(names, values, color="tab:blue")
    axis.axhline(
        metrics.get("macro_f1", float(np.mean(values))), color="tab:red", linestyle="--", label="macro-F1"
    )
    axis.set_ylim(0, 1)
    axis.set_ylabel("F1")
    axis.set_title(title)
    axis.tick_params(axis="x", rotation=45)
    axis.legend(loc="lower right")
    return _save(figure, path)


def plot_training_curves(
    history: Sequence[Mapping[str, Any]], path: str | Path, title: str = "Training"
) -> Path:
    """Training loss (left axis) and evaluation accuracy / UAR (right axis) against the optimiser step."""
    train = [(e["step"], e["loss"]) for e in history if "loss" in e]
    evals = [(e["step"], e["eval_accuracy"], e.get("eval_uar")) for e in history if "eval_accuracy" in e]
    if not train and not evals:
        raise ValueError("The history holds no `loss` or `eval_accuracy` entries to plot.")
    figure, axis = plt.subplots(figsize=(6.4, 3.8))
    if train:
        axis.plot(*zip(*train), color="tab:blue", label="training loss")
    axis.set_xlabel("optimiser step")
    axis.set_ylabel("loss")
    _integer_ticks(axis)
    if evals:
        right = axis.twinx()
        steps = [e[0] for e in evals]
        right.plot(steps, [e[1] for e in evals], "o-", color="tab:green", label="eval accuracy (WA)")
        if all(e[2] is not None for e in evals):
            right.plot(steps, [e[2] for e in evals], "s--", color="tab:orange", label="eval UAR")
        right.set_ylim(0, 1)
        right.set_ylabel("accuracy")
        right.legend(loc="center right")
    axis.legend(loc="upper right")
    axis.set_title(title)
    return _save(figure, path)


def plot_attention_maps(
    audio_to_video: Any, video_to_audio: Any, path: str | Path, title: str = "Cross-modal attention"
) -> Path:
    """Attention weights of ONE clip, each (heads, T, T) (or (1, heads, T, T)): top row audio queries over video
    steps, bottom row video queries over audio steps, one column per head. The title gives each direction's KL
    divergence from uniform attention (:func:`~hf_emotion.metrics.attention_kl_from_uniform`, nats, 0 = flat,
    log T = one-hot), each panel its head's."""
    maps = [_to_numpy(w) for w in (audio_to_video, video_to_audio)]
    maps = [m[0] if m.ndim == 4 else m for m in maps]
    if any(m.ndim != 3 for m in maps) or maps[0].shape != maps[1].shape:
        raise ValueError(
            f"Expected two (heads, T, T) attention arrays of one clip, got {[m.shape for m in maps]}."
        )
    heads = maps[0].shape[0]
    figure, axes = plt.subplots(
        2, heads, figsize=(2.8 * heads + 0.8, 5.8), squeeze=False, layout="constrained"
    )
    rows = (("audio → video", "video step", "audio step"), ("video → audio", "audio step", "video step"))
    for row, (weights, (name, keys, queries)) in enumerate(zip(maps, rows)):
        for head in range(heads):
            axis = axes[row][head]
            # colour range of the row's own weights, so near-uniform attention still shows its structure
            image = axis.imshow(
                weights[head], cmap="viridis", aspect="auto", vmin=weights.min(), vmax=weights.max()
            )
            axis.set_title(
                f"{name}, head {head + 1}\nKL {attention_kl_from_uniform(weights[head]):.3f}", fontsize=9
            )
            axis.set_xlabel(keys, fontsize=8)
            axis.set_ylabel(queries, fontsize=8)
            _integer_ticks(axis, x=True, y=True)
        figure.colorbar(image, ax=axes[row].tolist(), fraction=0.02, label="weight")
    steps = maps[0].shape[-1]
    flatness = ", ".join(
        f"{name} {attention_kl_from_uniform(weights):.3f}" for weights, (name, _, _) in zip(maps, rows)
    )
    figure.suptitle(
        f"{title}\nKL from uniform (nats; 0 = flat, {np.log(steps):.2f} = one-hot): {flatness}", fontsize=10
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_feature_correlation(
    features: Any,
    path: str | Path,
    names: Sequence[str] | None = None,
    title: str = "Feature correlation",
    max_dims: int = 64,
) -> Path:
    """Pearson correlation between feature dimensions over clips. `features` is (clips, dims), or a mapping
    modality → (clips, dims) whose blocks are concatenated (block boundaries drawn). At most `max_dims`
    dimensions per block are shown (the first ones)."""
    blocks = dict(features) if isinstance(features, Mapping) else {"features": features}
    arrays, bounds, labels = [], [], []
    for name, array in blocks.items():
        array = _to_numpy(array)
        if array.ndim != 2 or array.shape[0] < 2:
            raise ValueError(f"`{name}` must be (clips >= 2, dims), got {array.shape}.")
        arrays.append(array[:, :max_dims])
        bounds.append(sum(a.shape[1] for a in arrays))
        labels.append(name)
    if len({a.shape[0] for a in arrays}) != 1:
        raise ValueError("All feature blocks must hold the same clips (same first dimension).")
    stacked = np.concatenate(arrays, axis=1)
    std = stacked.std(axis=0)
    centred = (stacked - stacked.mean(axis=0)) / np.where(std > 0, std, 1.0)
    correlation = centred.T @ centred / stacked.shape[0]  # (dims, dims)
    figure, axis = plt.subplots(figsize=(6.2, 5.4))
    image = axis.imshow(correlation, cmap="coolwarm", vmin=-1, vmax=1)
    figure.colorbar(image, ax=axis, fraction=0.046)
    for bound in bounds[:-1]:
        axis.axhline(bound - 0.5, color="black", linewidth=0.8)
        axis.axvline(bound - 0.5, color="black", linewidth=0.8)
    if len(labels) > 1:
        starts = [0, *bounds[:-1]]
        centres = [(s + e) / 2 for s, e in zip(starts, bounds)]
        axis.set_xticks(centres, labels)
        axis.set_yticks(centres, labels)
    elif names is not None:
        axis.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        axis.set_yticks(range(len(names)), names, fontsize=6)
    axis.set_title(title)
    return _save(figure, path)
