"""How far attention weights are from uniform: the one measure the demo prints, saves and plots.

``attention_kl_from_uniform(weights)`` is the mean, over every query row, of the Kullback-Leibler divergence of
the row's weights from the uniform distribution over its T keys:

    KL(w ‖ 1/T) = Σ_j w_j · log(T · w_j)   (nats; 0·log 0 = 0)

It is 0 for uniform attention (every weight 1/T: the "flat" maps a model shows when its attention has learnt
nothing) and log T for one-hot attention (all weight on one key; log 16 ≈ 2.77 for the demo's 16 steps).
Equivalently log T minus the row's entropy.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def attention_kl_from_uniform(weights: Any) -> float:
    """Mean over query rows of KL(weights ‖ uniform), in nats, for attention weights whose LAST axis is the keys.

    Args:
        weights (array-like or `torch.Tensor` of shape `(..., T)`): attention weights, each row non-negative and
            summing to 1, e.g. `(batch, heads, queries, T)` from `output_attentions=True`.

    Returns:
        `float` in `[0, log T]`: 0 for uniform rows, log T for one-hot rows.
    """
    if hasattr(weights, "detach"):  # a torch tensor
        weights = weights.detach().double().cpu().numpy()
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 0 or weights.shape[-1] < 1 or weights.size == 0:
        raise ValueError(f"Expected attention weights with a keys axis last, got shape {weights.shape}.")
    if (weights < 0).any() or not np.allclose(weights.sum(axis=-1), 1.0, atol=1e-3):
        raise ValueError(
            "Attention weights must be non-negative with rows (last axis) summing to 1; pass the softmax "
            "output (e.g. `audio_to_video_attentions`), not the logits."
        )
    steps = weights.shape[-1]
    terms = np.where(weights > 0, weights * np.log(np.where(weights > 0, weights * steps, 1.0)), 0.0)
    return float(terms.sum(axis=-1).mean())
