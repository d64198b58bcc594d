"""Export an hf_emotion model to ONNX (dynamic batch axis) and run it with ONNX Runtime.

Graph inputs, by the model's modalities: ``input_features`` (audio; batch, bins, frames), ``pixel_values_videos``
(video with a frame encoder; batch, frames, 3, size, size) or ``frame_features`` (video without one; batch,
frames, dim), ``text_features`` (text; batch, dim). Output: ``logits`` (batch, num_labels). Only the batch axis is
dynamic; the other sizes are those of the config (what the processor produces).

Exporter: torch's TorchScript-based exporter (``dynamo=False``). The dynamo exporter rejects the models' input
checks (``torch.isfinite(x).all()`` branches on data); tracing evaluates them once on the example, which is what
inference wants. The frame encoder's chunked loop (``split`` into 256-frame pieces) is traced as one backbone call
on all frames, so the graph has no batch-dependent split sizes. Every weight is a graph initializer (the exporter's
``Identity`` nodes over shared constants are inlined), which is what quantisation tools read.

int8 (:func:`quantize_onnx`): ONNX Runtime's static quantisation in QDQ format — weights int8 per output channel,
activations uint8 with ranges calibrated on real inputs (:func:`calibration_inputs`: a few clips through the
model's processor). ONNX Runtime fuses the QDQ pairs into int8 convolutions and products (VNNI on CPUs that have
it). Dynamic quantisation is not offered: its int8 convolutions (``ConvInteger``) ran 6× slower than float32 on the
CPUs measured, and quantising only MatMul/Gemm leaves the convolutions — the cost — in float32 (BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 17


def _frame_encoder(model: nn.Module) -> nn.Module | None:
    for module in model.modules():
        if type(module).__name__ == "EmotionFrameEncoder":
            return module
    return None


def onnx_input_names(model: nn.Module) -> list[str]:
    """The graph inputs of `model`, in order, from its config's modalities."""
    modalities = list(getattr(model.config, "modalities", ["audio", "video"]))
    names = []
    if "audio" in modalities:
        names.append("input_features")
    if "video" in modalities:
        names.append("pixel_values_videos" if _frame_encoder(model) is not None else "frame_features")
    if "text" in modalities:
        names.append("text_features")
    return names


def example_inputs(model: nn.Module, batch_size: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the config's sizes for every graph input (float32)."""
    config = model.config
    generator = torch.Generator().manual_seed(seed)
    mfcc = getattr(config, "audio_feature_type", "log_mel") == "mfcc"
    audio_bins = config.num_mfcc if mfcc else config.num_mel_bins
    audio_frames = getattr(config, "num_audio_frames", None) or 256  # the feature extractor's default
    shapes = {
        "input_features": (batch_size, audio_bins, audio_frames),
        "pixel_values_videos": (batch_size, config.num_frames, 3, config.image_size, config.image_size),
        "frame_features": (batch_size, config.num_frames, getattr(config, "frame_feature_dim", 512)),
        "text_features": (batch_size, getattr(config, "text_feature_dim", 1)),
    }
    return {name: torch.randn(*shapes[name], generator=generator) for name in onnx_input_names(model)}


class _LogitsGraph(nn.Module):
    """Positional inputs → logits; the frame backbone runs on all frames at once (no chunking loop)."""

    def __init__(self, model: nn.Module, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names
        self.frame_encoder = _frame_encoder(model)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        inputs = dict(zip(self.input_names, tensors))
        pixels = inputs.pop("pixel_values_videos", None)
        if pixels is not None:
            batch, frames = pixels.shape[:2]
            flat = pixels.flatten(0, 1)  # (batch * frames, 3, height, width)
            features = self.frame_encoder.backbone(flat)  # (batch * frames, num_features)
            inputs["frame_features"] = features.reshape(batch, frames, -1)  # (batch, frames, num_features)
        return self.model(**inputs).logits  # (batch, num_labels)


def export_onnx(
    model: nn.Module | str | os.PathLike,
    output_path: str | os.PathLike,
    opset_version: int = DEFAULT_OPSET,
    batch_size: int = 2,
) -> Path:
    """Write the ONNX graph of a `tucker_av` / `rmlstm` model (or a saved model directory) to `output_path`.

    Returns:
        `Path` of the written file. Check it with :func:`run_onnx` against the PyTorch logits.
    """
    if isinstance(model, (str, os.PathLike)):
        from transformers import AutoModelForAudioClassification

        import hf_emotion  # noqa: F401  (registers the model types)

        directory = Path(model)
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(f"`{directory}` is not a saved model directory (no config.json).")
        model = AutoModelForAudioClassification.from_pretrained(directory)
    if getattr(getattr(model, "config", None), "model_type", None) not in ("tucker_av", "rmlstm"):
        raise ValueError(
            f"Only hf_emotion models (`tucker_av`, `rmlstm`) can be exported, got {type(model).__name__}."
        )
    model = model.eval().float()
    names = onnx_input_names(model)
    graph = _LogitsGraph(model, names).eval()
    examples = example_inputs(model, batch_size)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    dynamic_axes = {name: {0: "batch"} for name in [*names, "logits"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the input checks, evaluated once by design
        torch.onnx.export(
            graph,
            tuple(examples[name] for name in names),
            str(output_path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=dynamic_axes,
            opset_version=opset_version,
            dynamo=False,
        )
    _inline_constant_identities(output_path)
    logger.info("Wrote %s (inputs %s, dynamic batch).", output_path, names)
    return output_path


def _inline_constant_identities(path: Path) -> None:
    """Rewrite the graph at `path` so every node reads initializers directly: the TorchScript exporter routes
    constants shared by several nodes (folded BatchNorm weights) through ``Identity`` nodes, which quantisation
    tools reject (`Expected ... to be an initializer`)."""
    import onnx

    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    initializers = {tensor.name for tensor in graph.initializer}
    outputs = {value.name for value in graph.output}
    aliases = {
        node.output[0]: node.input[0]
        for node in graph.node
        if node.op_type == "Identity" and node.input[0] in initializers and node.output[0] not in outputs
    }
    if not aliases:
        return
    kept = [node for node in graph.node if not (node.op_type == "Identity" and node.output[0] in aliases)]
    for node in kept:
        for index, name in enumerate(node.input):
            node.input[index] = aliases.get(name, name)
    del graph.node[:]
    graph.node.extend(kept)
    onnx.save(graph_model, str(path))


def calibration_inputs(processor: Any, videos: list[str | os.PathLike], input_names: list[str]) -> list[dict]:
    """Graph inputs (float32 arrays, batch 1) of each video file through `processor` (the model's own), for
    :func:`quantize_onnx`'s calibration."""
    inputs = []
    for video in videos:
        features = processor(videos=str(video), return_tensors="np")
        missing = [name for name in input_names if name not in features]
        if missing:
            raise ValueError(f"The processor gives {sorted(features)}, but the graph needs {missing}.")
        inputs.append({name: np.asarray(features[name], dtype=np.float32) for name in input_names})
    return inputs


def quantize_onnx(
    path: str | os.PathLike, output_path: str | os.PathLike, calibration: list[dict[str, Any]]
) -> Path:
    """Write the int8 graph of the exported graph at `path` (static QDQ quantisation, ONNX Runtime): weights int8
    per output channel, activations uint8 over the ranges seen on `calibration` (a list of input dicts, e.g. from
    :func:`calibration_inputs` on a few clips of the target domain). Check it with :func:`run_onnx` against the
    float32 graph (BENCHMARKS.md has the change measured on the synthetic corpus).
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ValueError("`calibration` is empty: give the inputs of a few clips (see `calibration_inputs`).")

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {k: np.asarray(v, dtype=np.float32) for k, v in item.items()}

    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(
        str(path),
        str(output_path),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
    )
    logger.info("Wrote %s (int8, calibrated on %d inputs).", output_path, len(calibration))
    return output_path


def run_onnx(path: str | os.PathLike, inputs: dict[str, Any], num_threads: int | None = None) -> np.ndarray:
    """Run an exported graph with ONNX Runtime (CPU) on a dict of arrays/tensors; returns the logits."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]
    missing = [name for name in wanted if name not in inputs]
    if missing:
        raise ValueError(f"The ONNX graph needs inputs {wanted}; missing {missing}.")
    feed = {name: np.asarray(inputs[name], dtype=np.float32) for name in wanted}
    return session.run(["logits"], feed)[0]


__all__ = [
    "calibration_inputs",
    "export_onnx",
    "example_inputs",
    "onnx_input_names",
    "quantize_onnx",
    "run_onnx",
]
