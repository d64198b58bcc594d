"""Model types, command-line config overrides and the named size presets used by the scripts and the CLI."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import torch
from transformers import PretrainedConfig, PreTrainedModel

from hf_emotion.models.modeling_common import EmotionFrameEncoder

logger = logging.getLogger(__name__)


def _model_classes() -> dict[str, tuple[type, type]]:
    from hf_emotion.models.configuration_tucker_av import TuckerAVConfig
    from hf_emotion.models.modeling_tucker_av import TuckerAVForEmotionRecognition

    classes = {"tucker_av": (TuckerAVConfig, TuckerAVForEmotionRecognition)}
    try:
        from hf_emotion.models.configuration_rmlstm import RMLSTMConfig
        from hf_emotion.models.modeling_rmlstm import RMLSTMForEmotionRecognition
    except ImportError:  # pragma: no cover - the rmlstm model is optional for the training code
        return classes
    classes["rmlstm"] = (RMLSTMConfig, RMLSTMForEmotionRecognition)
    return classes


MODEL_TYPES = ("tucker_av", "rmlstm")

_TUCKER_SMALL = {
    "num_mel_bins": 64,
    "num_audio_frames": 128,
    "audio_conv_channels": [16, 32, 64],
    "gru_hidden_size": 64,
    "hidden_size": 64,
    "num_time_steps": 16,
    "tucker_time_rank": 8,
    "tucker_audio_rank": 32,
    "tucker_video_rank": 32,
    "fbp_output_size": 128,
    "fbp_factor": 2,
    "attention_dropout": 0.0,
    "fbp_dropout": 0.1,
    "classifier_dropout": 0.3,
}

_RMLSTM_SMALL = {
    "num_mfcc": 40,
    "num_frames": 8,
    "image_size": 64,
    "frame_encoder": "resnet18",
    "frame_feature_dim": 512,
    "freeze_backbone": True,
    "video_normalization": "minmax",
    "num_time_steps": 16,
    "hidden_size": 64,
    "num_layers": 2,
    "mogrifier_rounds": 2,
    "dropout": 0.1,
    "classifier_dropout": 0.3,
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tucker_av": {
        "paper": {},
        # The `make demo` size, trained end to end: 4 frames of 48 × 48 px through a ResNet-18 that is trained
        # with the rest (a frozen RANDOM backbone loses the synthetic faces' cue: linear probes of its pooled
        # embeddings reach 32 % on the 4 face groups across actors, raw 48 px pixels 77 %), 64 Mel bands × 128
        # frames, latent 64, T = 16 aligned steps, Tucker ranks 8 × 32 × 32, MFB 128 × R 2.
        "demo": {**_TUCKER_SMALL, "num_frames": 4, "image_size": 48, "freeze_backbone": False},
        # The frozen-backbone path: 8 frames of 64 px embedded once by a frozen ResNet-18 (cached); fast, and the
        # right choice with pretrained backbone weights (`backbone_checkpoint_path`).
        "cached": {**_TUCKER_SMALL, "num_frames": 8, "image_size": 64, "freeze_backbone": True},
    },
    "rmlstm": {
        "paper": {},
        # Frozen ResNet-18 frame features (min-max normalised frames, eq. 1), small recurrent encoder.
        "cached": _RMLSTM_SMALL,
        # Trained end to end like tucker_av's demo preset.
        "demo": {**_RMLSTM_SMALL, "num_frames": 4, "image_size": 48, "freeze_backbone": False},
    },
}


def check_model_type(model_type: str) -> str:
    if model_type not in _model_classes():
        raise ValueError(f"Unknown model type {model_type!r}; choose one of {sorted(_model_classes())}.")
    return model_type


def _split_top_level(text: str) -> list[str]:
    """Split ``a=1,b=[1,2]`` at commas outside brackets/quotes."""
    parts, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if current:
        parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_config_overrides(text: str | None) -> dict[str, Any]:
    """Parse ``hidden_size=64,modalities=["audio"],frame_encoder=None`` into a dict. Values are read as JSON
    (``None``/``True``/``False`` are accepted too), else kept as strings."""
    overrides: dict[str, Any] = {}
    for part in _split_top_level(text or ""):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"Bad config override {part!r}: write name=value, separated by commas.")
        raw = raw.strip()
        literal = {"None": "null", "True": "true", "False": "false"}.get(raw, raw)
        try:
            overrides[key] = json.loads(literal.replace("'", '"'))
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


def build_config(
    model_type: str,
    id2label: Mapping[int, str],
    preset: str = "paper",
    overrides: Mapping[str, Any] | None = None,
) -> PretrainedConfig:
    """The config of `model_type` for a dataset's labels, from a named preset (``"paper"`` or ``"demo"``) plus
    overrides. Unknown override names raise a `ValueError` (a typo would otherwise be silently ignored)."""
    config_class, _ = _model_classes()[check_model_type(model_type)]
    if preset not in PRESETS[model_type]:
        raise ValueError(
            f"Unknown preset {preset!r} for {model_type}; choose one of {sorted(PRESETS[model_type])}."
        )
    known = set(config_class().to_dict())
    unknown = sorted(set(overrides or {}) - known)
    if unknown:
        raise ValueError(f"Unknown {model_type} config fields in the overrides: {unknown}.")
    id2label = {int(k): str(v) for k, v in id2label.items()}
    values = {**PRESETS[model_type][preset], **(overrides or {})}
    return config_class(id2label=id2label, label2id={v: k for k, v in id2label.items()}, **values)


def build_model(
    config: PretrainedConfig, frame_encoder: EmotionFrameEncoder | None = None
) -> PreTrainedModel:
    """A randomly initialised model for `config`; with `frame_encoder` (the one the cached `frame_features` came
    from), its weights are copied into the model's backbone so the saved model matches the cached features."""
    _, model_class = _model_classes()[check_model_type(config.model_type)]
    model = model_class(config)
    if frame_encoder is not None:
        backbone = next((m for m in model.modules() if isinstance(m, EmotionFrameEncoder)), None)
        if backbone is not None:
            backbone.load_state_dict(frame_encoder.state_dict())
    return model


def build_frame_encoder(config: PretrainedConfig, seed: int = 0) -> EmotionFrameEncoder:
    """The frozen frame encoder named by `config.frame_encoder` (ImageNet weights when the config asks for them,
    else a seeded random initialisation), used to cache `frame_features`."""
    if getattr(config, "frame_encoder", None) is None:
        raise ValueError(
            "The config has no `frame_encoder`: there is no backbone to cache frame features with."
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = EmotionFrameEncoder(
            config.frame_encoder,
            pretrained=bool(getattr(config, "backbone_pretrained", False)),
            checkpoint_path=getattr(config, "backbone_checkpoint_path", None),
            freeze=True,
        )
    return encoder.eval()
