"""Step axes carry whole-number ticks only: no "step 2.5" on the attention maps or the training curves."""

import numpy as np

from hf_emotion import plots


def _figures_of(monkeypatch):
    closed = []
    real_close = plots.plt.close

    def close(figure=None):
        closed.append(figure)
        real_close(figure)

    monkeypatch.setattr(plots.plt, "close", close)
    return closed


def _tick_values(axis, which):
    axis.figure.canvas.draw()
    low, high = getattr(axis, f"get_{which}lim")()
    ticks = getattr(axis, f"get_{which}ticks")()
    return [t for t in ticks if min(low, high) <= t <= max(low, high)]


def test_attention_maps_and_training_curves_have_integer_step_ticks(tmp_path, monkeypatch):
    figures = _figures_of(monkeypatch)
    weights = np.random.default_rng(0).dirichlet(np.ones(5), size=(2, 5))  # (heads, T, T), T = 5 steps
    plots.plot_attention_maps(weights, weights, tmp_path / "attention.png")
    history = [{"step": s, "loss": 1.0 / s} for s in range(1, 4)] + [{"step": 3, "eval_accuracy": 0.5}]
    plots.plot_training_curves(history, tmp_path / "curves.png")
    attention, curves = figures
    for axis in attention.axes:
        if axis.get_label() == "<colorbar>":
            continue
        for which in ("x", "y"):
            values = _tick_values(axis, which)
            assert len(values) >= 2 and all(float(v).is_integer() for v in values), (which, values)
    values = _tick_values(curves.axes[0], "x")  # three optimiser steps: 1, 2, 3, not 1.0, 1.25, ...
    assert values and all(float(v).is_integer() for v in values), values
