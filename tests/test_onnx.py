"""ONNX export parity: ONNX Runtime logits match PyTorch within atol 1e-4 at two batch sizes."""

import onnx
import pytest
import torch
from pipeline_fixtures import TINY_CONFIG

from hf_emotion import (
    RMLSTMConfig,
    RMLSTMForEmotionRecognition,
    TuckerAVConfig,
    TuckerAVForEmotionRecognition,
)
from hf_emotion.onnx_export import example_inputs, export_onnx, onnx_input_names, run_onnx

ATOL = 1e-4  # float32 kernels differ (ORT vs ATen convolutions, GRU, softmax); logits are O(1)


def pytorch_logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits.numpy()


@pytest.mark.parametrize(
    "overrides, expected_inputs",
    [
        ({}, ["input_features", "pixel_values_videos"]),
        ({"frame_encoder": None, "frame_feature_dim": 12}, ["input_features", "frame_features"]),
        ({"modalities": ["audio"], "frame_encoder": None}, ["input_features"]),
    ],
)
def test_onnx_matches_pytorch_at_two_batch_sizes(tmp_path, overrides, expected_inputs):
    torch.manual_seed(0)
    model = TuckerAVForEmotionRecognition(TuckerAVConfig(**{**TINY_CONFIG, **overrides})).eval()
    assert onnx_input_names(model) == expected_inputs
    path = export_onnx(model, tmp_path / "model.onnx", batch_size=2)
    graph = onnx.load(str(path))
    assert [i.name for i in graph.graph.input] == expected_inputs
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    for batch_size in (1, 5):  # neither is the batch size the graph was traced with
        inputs = example_inputs(model, batch_size, seed=batch_size)
        onnx_logits = run_onnx(path, {k: v.numpy() for k, v in inputs.items()})
        assert onnx_logits.shape == (batch_size, model.config.num_labels)
        assert abs(onnx_logits - pytorch_logits(model, inputs)).max() < ATOL


def test_rmlstm_onnx_matches_pytorch_at_two_batch_sizes(tmp_path):
    """The mogrifier recurrence is traced as its per-step loop (the compiled loops are not traceable)."""
    torch.manual_seed(0)
    config = RMLSTMConfig(
        num_mfcc=5, num_frames=4, frame_encoder=None, frame_feature_dim=12, text_feature_dim=6, num_time_steps=7,
        hidden_size=8, num_labels=3,
    )  # fmt: skip
    model = RMLSTMForEmotionRecognition(config).eval()
    path = export_onnx(model, tmp_path / "rmlstm.onnx", batch_size=2)
    for batch_size in (1, 5):
        inputs = example_inputs(model, batch_size, seed=batch_size)
        onnx_logits = run_onnx(path, {k: v.numpy() for k, v in inputs.items()})
        assert onnx_logits.shape == (batch_size, 3)
        assert abs(onnx_logits - pytorch_logits(model, inputs)).max() < ATOL


def test_export_from_saved_directory_and_errors(tmp_path):
    model = TuckerAVForEmotionRecognition(TuckerAVConfig(**{**TINY_CONFIG, "frame_encoder": None})).eval()
    model.save_pretrained(tmp_path / "model")
    path = export_onnx(tmp_path / "model", tmp_path / "out" / "model.onnx")
    inputs = example_inputs(model, 3)
    assert abs(run_onnx(path, inputs) - pytorch_logits(model, inputs)).max() < ATOL
    with pytest.raises(ValueError, match="missing"):
        run_onnx(path, {"input_features": inputs["input_features"]})
    with pytest.raises(FileNotFoundError, match="no config.json"):
        export_onnx(tmp_path, tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="Only hf_emotion models"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")


def test_export_onnx_command(tmp_path, capsys):
    import argparse

    from hf_emotion.cli.inference import register

    TuckerAVForEmotionRecognition(TuckerAVConfig(**{**TINY_CONFIG, "frame_encoder": None})).save_pretrained(
        tmp_path
    )
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["export-onnx", str(tmp_path), str(tmp_path / "m.onnx"), "--check"])
    assert args.func(args) == 0
    difference = float(capsys.readouterr().out.split("= ")[1].split()[0])
    assert difference < ATOL and (tmp_path / "m.onnx").is_file()
