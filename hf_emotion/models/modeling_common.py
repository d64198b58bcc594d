"""Building blocks shared by the hf_emotion models.

This file travels to the Hub with the models (``register_for_auto_class``), so it imports only the standard
library, torch and transformers. ``timm`` is imported lazily by :class:`EmotionFrameEncoder`, the one block
that needs it (timm is also what transformers' own ``TimmWrapper`` models require).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
from torch import nn

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------------
# Input validation: one clear ValueError naming the argument and the expected shape.
# ----------------------------------------------------------------------------------------------------------


def check_tensor(
    name: str,
    value: torch.Tensor | None,
    expected: Sequence[int | str | None],
    *,
    batch_size: int | None = None,
    required: bool = True,
) -> torch.Tensor | None:
    """Validate the rank, fixed sizes, batch size and finiteness of a model input.

    Args:
        name (`str`): the argument's name, used in the error message.
        value (`torch.Tensor` or `None`): the input.
        expected (sequence of `int`, `str` or `None`): one entry per dimension; an `int` must match exactly,
            a `str` or `None` names a free dimension (e.g. ``("batch", "frames", 512)``).
        batch_size (`int`, *optional*): when given, dimension 0 must equal it (modalities of one batch).
        required (`bool`): raise when `value` is `None`.

    Returns:
        The tensor, unchanged.
    """
    shape_text = "(" + ", ".join(str(e) if e is not None else "?" for e in expected) + ")"
    if value is None:
        if required:
            raise ValueError(f"`{name}` is required: pass a tensor of shape {shape_text}.")
        return None
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"`{name}` must be a torch.Tensor of shape {shape_text}, got {type(value).__name__}."
        )
    if value.dim() != len(expected):
        raise ValueError(
            f"`{name}` must have {len(expected)} dimensions {shape_text}, got shape {tuple(value.shape)}."
        )
    for axis, (want, got) in enumerate(zip(expected, value.shape)):
        if isinstance(want, int) and want != got:
            raise ValueError(
                f"`{name}` must have shape {shape_text}: dimension {axis} is {got}, expected {want}; "
                f"got shape {tuple(value.shape)}."
            )
    if value.shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch (shape {tuple(value.shape)}).")
    if batch_size is not None and value.shape[0] != batch_size:
        raise ValueError(
            f"`{name}` has batch size {value.shape[0]} but the other inputs have batch size {batch_size}; "
            "all modalities of one batch must hold the same clips."
        )
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(f"`{name}` contains NaN or infinite values; check the feature extraction.")
    return value


def check_labels(labels: torch.Tensor | None, batch_size: int, num_labels: int) -> None:
    """Validate class-index labels against the batch size and the number of classes."""
    if labels is None:
        return
    if labels.dim() != 1 or labels.shape[0] != batch_size:
        raise ValueError(f"`labels` must have shape ({batch_size},), got {tuple(labels.shape)}.")
    if labels.is_floating_point():
        raise ValueError("`labels` must hold integer class indices, got a floating point tensor.")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_labels):
        raise ValueError(
            f"`labels` must be class indices in [0, {num_labels - 1}], got values in "
            f"[{int(labels.min())}, {int(labels.max())}]; does the dataset's label set match `config.id2label`?"
        )


def classification_loss(
    logits: torch.Tensor, labels: torch.Tensor | None, num_labels: int
) -> torch.Tensor | None:
    """Cross-entropy of (batch, num_labels) logits against validated class-index labels; `None` without labels."""
    if labels is None:
        return None
    check_labels(labels, logits.shape[0], num_labels)
    return nn.functional.cross_entropy(logits, labels.to(logits.device))


def check_modalities(modalities: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    """Validate a config's modality subset: non-empty, known names, no repeats. Returns it in `allowed` order."""
    if isinstance(modalities, str):
        modalities = [modalities]
    unknown = [m for m in modalities if m not in allowed]
    if unknown or not modalities or len(set(modalities)) != len(modalities):
        raise ValueError(
            f"`modalities` must be a non-empty subset of {list(allowed)} without repeats, got {list(modalities)}."
        )
    return tuple(m for m in allowed if m in modalities)


# ----------------------------------------------------------------------------------------------------------
# Frame encoder: any timm image model applied frame by frame.
# ----------------------------------------------------------------------------------------------------------


class EmotionFrameEncoder(nn.Module):
    """Encode every frame of a clip with a timm image backbone (classifier removed, global average pool).

    Args:
        model_name (`str`): a timm model name, e.g. ``"resnet18"`` or ``"efficientnet_b0"``.
        pretrained (`bool`): load pretrained weights through timm (`pretrained=True`). With `checkpoint_path`
            set, the weights come from that local file instead of the network.
        checkpoint_path (`str`, *optional*): a local ``.safetensors`` (or ``.pth``, read with
            ``weights_only=True``) file holding the backbone's ImageNet weights.
        freeze (`bool`): keep the backbone's weights fixed and run it in eval mode (BatchNorm statistics too).
        chunk_size (`int`): frames encoded per backbone call, which bounds activation memory for long clips.

    Input (batch, frames, 3, height, width) → output (batch, frames, num_features).
    """

    def __init__(
        self,
        model_name: str,
        pretrained: bool = False,
        checkpoint_path: str | None = None,
        freeze: bool = False,
        chunk_size: int = 256,
    ):
        super().__init__()
        import timm  # imported here: only the pixel path needs it

        if checkpoint_path is not None and not os.path.isfile(checkpoint_path):
            raise ValueError(
                f"`backbone_checkpoint_path` {checkpoint_path!r} does not exist; give a local weights file "
                "(.safetensors or .pth)."
            )
        overlay = {"file": os.fspath(checkpoint_path)} if checkpoint_path else None
        try:
            self.backbone = timm.create_model(
                model_name,
                pretrained=pretrained or checkpoint_path is not None,
                pretrained_cfg_overlay=overlay,
                num_classes=0,
            )
        except RuntimeError as error:
            if "Unknown model" in str(error):
                raise ValueError(
                    f"`frame_encoder` {model_name!r} is not a timm model name (see timm.list_models())."
                ) from error
            raise
        self.num_features = int(self.backbone.num_features)
        self.chunk_size = chunk_size
        self.frozen = freeze
        # Tell transformers' weight initialisation to leave the backbone alone: loaded weights, or timm's own
        # initialisation (which zero-initialises the last BatchNorm of each residual block).
        for module in self.backbone.modules():
            module._is_hf_initialized = True
        for param in self.backbone.parameters():
            param._is_hf_initialized = True
        if freeze:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        batch, frames = pixel_values_videos.shape[:2]
        flat = pixel_values_videos.flatten(0, 1)  # (batch * frames, 3, height, width)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            pieces = [self.backbone(chunk) for chunk in flat.split(self.chunk_size)]
        return torch.cat(pieces).view(batch, frames, -1)  # (batch, frames, num_features)


def interpolate_time(sequence: torch.Tensor, length: int) -> torch.Tensor:
    """Linearly resample a (batch, time, dim) sequence to `length` steps (identity when it already fits)."""
    if sequence.shape[1] == length:
        return sequence
    resampled = nn.functional.interpolate(
        sequence.transpose(1, 2), size=length, mode="linear", align_corners=False
    )  # (batch, dim, length)
    return resampled.transpose(1, 2)  # (batch, length, dim)


def init_linear_conv_norm(module: nn.Module, std: float) -> None:
    """The weight initialisation both models use in `_init_weights`."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):
        if module.weight is not None:
            nn.init.ones_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
