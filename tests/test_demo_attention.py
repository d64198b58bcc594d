"""The demo's attention-flatness measure: KL divergence from uniform, against hand-computed values and scipy."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from hf_emotion import plots
from hf_emotion.metrics import attention_kl_from_uniform
from hf_emotion.training.outputs import attention_flatness


def test_kl_from_uniform_hand_computed():
    assert attention_kl_from_uniform(np.full((2, 3, 16), 1 / 16)) == pytest.approx(0.0, abs=1e-12)
    assert attention_kl_from_uniform([0.0, 0.0, 1.0, 0.0]) == pytest.approx(math.log(4))  # one-hot: log T
    assert attention_kl_from_uniform([0.5, 0.5, 0.0, 0.0]) == pytest.approx(math.log(2))
    # 0.7·ln(4·0.7) + 3·0.1·ln(4·0.1) = 0.7·1.0296194 − 0.3·0.9162907 = 0.4458463
    assert attention_kl_from_uniform([0.7, 0.1, 0.1, 0.1]) == pytest.approx(0.4458463, abs=1e-7)
    # the mean over rows: (ln 4 + 0) / 2
    rows = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    assert attention_kl_from_uniform(rows) == pytest.approx(math.log(4) / 2)


def test_kl_from_uniform_matches_scipy_on_random_softmax_rows():
    weights = torch.softmax(torch.randn(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)) * 2, dim=-1)
    rows = weights.reshape(-1, 16).numpy()
    expected = np.mean([entropy(row, np.full(16, 1 / 16)) for row in rows])
    assert attention_kl_from_uniform(weights) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("bad", [[0.5, 0.6, -0.1], [0.2, 0.2, 0.2], [[3.0, -1.0, 0.5]]])
def test_kl_from_uniform_refuses_what_is_not_attention(bad):
    with pytest.raises(ValueError, match="summing to 1"):
        attention_kl_from_uniform(bad)


def test_attention_flatness_per_direction():
    flat = torch.full((5, 2, 4, 4), 0.25)
    peaked = torch.zeros(5, 2, 4, 4)
    peaked[..., 1] = 1.0
    assert attention_flatness((flat, peaked)) == pytest.approx(
        {"audio_to_video": 0.0, "video_to_audio": math.log(4), "num_clips": 5}
    )


def test_attention_plot_titles_carry_the_measure(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)
    flat = np.full((2, 4, 4), 0.25)
    peaked = np.zeros((2, 4, 4))
    peaked[..., 0] = 1.0
    path = plots.plot_attention_maps(flat, peaked, tmp_path / "a.png", title="Clip")
    assert path.is_file()
    (figure,) = figures
    assert "audio → video 0.000, video → audio 1.386" in figure._suptitle.get_text()
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert "video → audio, head 2\nKL 1.386" in titles and "audio → video, head 1\nKL 0.000" in titles
