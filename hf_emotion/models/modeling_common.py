"""Building blocks shared by the hf_emotion models.

This file travels to the Hub with the models (``register_for_auto_class``), so it imports only the standard
library, torch and transformers. ``timm`` is imported lazily by :class:`EmotionFrameEncoder`, the one block
that needs it (timm is also what transformers' own ``TimmWrapper`` models require).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .acceleration import tracing

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------------------
# Modalities and the model inputs they feed: the one owner of this mapping (processor, pipeline, training,
# ONNX export and the models all read it from here).
# ----------------------------------------------------------------------------------------------------------

MODALITIES = ("audio", "video", "text")
"""Every modality an hf_emotion model can use, in the order inputs are fused."""

MODEL_INPUT_NAMES = {"audio": "input_features", "video": "pixel_values_videos", "text": "text_features"}
"""Modality → the processor output / model `forward` argument that carries it. Video may instead arrive as
precomputed per-frame embeddings, :data:`FRAME_FEATURES_NAME`."""

FRAME_FEATURES_NAME = "frame_features"
"""The model input holding precomputed per-frame embeddings (frozen-backbone mode), in place of pixels."""


def model_input_names(config: Any) -> list[str]:
    """The inputs a model with this config reads, in fusion order: audio → ``input_features``; video →
    ``frame_features`` when the config has no frame encoder or freezes it (features are precomputed once), else
    ``pixel_values_videos``; text → ``text_features``."""
    names = []
    for modality in check_modalities(getattr(config, "modalities", None) or ["audio", "video"], MODALITIES):
        name = MODEL_INPUT_NAMES[modality]
        if modality == "video" and (
            getattr(config, "frame_encoder", None) is None or getattr(config, "freeze_backbone", False)
        ):
            name = FRAME_FEATURES_NAME
        names.append(name)
    return names


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
    # a traced/compiled graph cannot branch on values (the processor validates them before the model)
    if value.is_floating_point() and not tracing() and not torch.isfinite(value).all():
        raise ValueError(f"`{name}` contains NaN or infinite values; check the feature extraction.")
    return value


def check_video_inputs(
    config: Any,
    pixel_values_videos: torch.Tensor | None,
    frame_features: torch.Tensor | None,
    has_frame_encoder: bool,
    batch_size: int | None = None,
) -> int:
    """Validate the video input of a model: precomputed `frame_features` (batch, frames, frame_feature_dim)
    when given, else `pixel_values_videos` (batch, frames, 3, height, width) for the frame encoder (an error
    when the model has none). Returns the batch size."""
    if frame_features is not None:
        check_tensor(
            "frame_features",
            frame_features,
            ("batch", "frames", config.frame_feature_dim),
            batch_size=batch_size,
        )
        return frame_features.shape[0]
    if not has_frame_encoder:
        raise ValueError(
            "This model has no frame encoder (`frame_encoder=None`): pass precomputed `frame_features` "
            f"of shape (batch, frames, {config.frame_feature_dim})."
        )
    check_tensor(
        "pixel_values_videos",
        pixel_values_videos,
        ("batch", "frames", 3, "height", "width"),
        batch_size=batch_size,
    )
    return pixel_values_videos.shape[0]


def check_labels(labels: torch.Tensor | None, batch_size: int, num_labels: int) -> None:
    """Validate class-index labels against the batch size and the number of classes."""
    if labels is None:
        return
    if labels.dim() != 1 or labels.shape[0] != batch_size:
        raise ValueError(f"`labels` must have shape ({batch_size},), got {tuple(labels.shape)}.")
    if labels.is_floating_point():
        raise ValueError("`labels` must hold integer class indices, got a floating point tensor.")
    if labels.numel() and not tracing() and (labels.min() < 0 or labels.max() >= num_labels):
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


def check_modalities(modalities: Sequence[str], allowed: Sequence[str] = MODALITIES) -> tuple[str, ...]:
    """Validate a modality subset (config or processor): non-empty, known names, no repeats. Returns it in
    `allowed` order."""
    if isinstance(modalities, str):
        modalities = [modalities]
    unknown = [m for m in modalities if m not in allowed]
    if unknown or not modalities or len(set(modalities)) != len(modalities):
        raise ValueError(
            f"`modalities` must be a non-empty subset of {list(allowed)} without repeats, got {list(modalities)}."
        )
    return tuple(m for m in allowed if m in modalities)


def check_common_config(config: Any) -> None:
    """Validation both model configs share: at least two classes and a positive initialiser scale."""
    if config.num_labels < 2:
        raise ValueError(
            f"`num_labels` must be at least 2 for classification, got {config.num_labels}; give `id2label` with "
            "every class of the dataset."
        )
    scale = config.initializer_range
    if (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float))
        or not math.isfinite(scale)
        or scale <= 0
    ):
        raise ValueError(f"`initializer_range` must be a positive number, got {scale!r}.")


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
        self.gradient_checkpointing = False  # set by `model.gradient_checkpointing_enable()`

    @classmethod
    def from_config(cls, config: Any) -> EmotionFrameEncoder:
        """The frame encoder a model config asks for (`frame_encoder`, `backbone_pretrained`,
        `backbone_checkpoint_path`, `freeze_backbone`), checked against `config.frame_feature_dim`."""
        encoder = cls(
            config.frame_encoder,
            pretrained=config.backbone_pretrained,
            checkpoint_path=config.backbone_checkpoint_path,
            freeze=config.freeze_backbone,
        )
        if encoder.num_features != config.frame_feature_dim:
            raise ValueError(
                f"`frame_feature_dim` is {config.frame_feature_dim} but timm's {config.frame_encoder!r} produces "
                f"{encoder.num_features}-d features; set frame_feature_dim={encoder.num_features}."
            )
        return encoder

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        batch, frames = pixel_values_videos.shape[:2]
        flat = pixel_values_videos.flatten(0, 1)  # (batch * frames, 3, height, width)
        grad = torch.is_grad_enabled() and not self.frozen
        encode = self.backbone
        if grad and self.gradient_checkpointing and self.training:
            encode = lambda chunk: self._gradient_checkpointing_func(self.backbone, chunk)  # noqa: E731
        with torch.set_grad_enabled(grad):
            pieces = [encode(chunk) for chunk in flat.split(self.chunk_size)]
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


# ----------------------------------------------------------------------------------------------------------
# The shared base class: conventions, initialisation, and one self-contained saved folder.
# ----------------------------------------------------------------------------------------------------------

PIPELINE_TASK = "audio-visual-emotion-recognition"
PROCESSOR_FILE = "processor_config.json"
_PROCESSOR_AUTO_MAP = {
    "AutoProcessor": "processing_emotion.EmotionProcessor",
    "AutoFeatureExtractor": "feature_extraction_emotion.EmotionFeatureExtractor",
    "AutoVideoProcessor": "video_processing_emotion.EmotionVideoProcessor",
}


def _last_module(cls: type) -> str:
    return cls.__module__.rsplit(".", 1)[-1]


class EmotionPreTrainedModel(PreTrainedModel):
    """Base of every hf_emotion model (`tucker_av`, `rmlstm`): what the two share, once.

    - ``input_modalities`` is the config's `modalities`; gradient checkpointing covers the frame encoder and the
      modules that declare ``gradient_checkpointing`` (the recurrent layers);
    - `_init_weights` is the one place weights are initialised (subclasses list the modules that initialise
      themselves in ``_self_initialized_modules``);
    - ``processor``: the fitted `EmotionProcessor` that belongs to these weights. `from_pretrained` attaches the
      one saved beside them; training attaches the one it fitted (``model.processor = processor``);
    - `save_pretrained` (which `push_to_hub`, `Trainer.save_model` and `Trainer.push_to_hub` all call) writes one
      self-contained folder: safetensors weights; `config.json` with the full `auto_map` (AutoConfig, AutoModel,
      AutoModelForAudioClassification, AutoProcessor, AutoFeatureExtractor, AutoVideoProcessor) and
      `custom_pipelines` (task ``"audio-visual-emotion-recognition"``); the code of the model, processor and
      pipeline; `processor_config.json`. The backbone's pretrained-weights source (`backbone_pretrained`,
      `backbone_checkpoint_path`) is not saved: the weights already hold the backbone, and a local checkpoint
      path would not exist on another machine.

    Subclasses set ``_auto_model_classes = {"AutoModel": name, "AutoModelForAudioClassification": name}``.
    """

    main_input_name = "input_features"
    supports_gradient_checkpointing = True
    _auto_model_classes: dict[str, str] = {}
    _self_initialized_modules: tuple[type, ...] = ()
    """Module classes that initialise themselves (`reset_parameters()`), e.g. the Tucker fusion's factors."""
    processor = None  # the attached EmotionProcessor (see the class docstring)

    @property
    def input_modalities(self) -> tuple[str, ...]:
        return tuple(self.config.modalities)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if getattr(module, "_is_hf_initialized", False):
            return
        if isinstance(module, self._self_initialized_modules):
            module.reset_parameters()
        elif isinstance(module, nn.MultiheadAttention):
            module._reset_parameters()
        elif isinstance(module, (nn.LSTM, nn.GRU)):
            bound = 1.0 / math.sqrt(module.hidden_size)
            for name, param in module.named_parameters(recurse=False):
                if getattr(param, "_is_hf_initialized", False):
                    continue
                if name.startswith("weight"):
                    nn.init.uniform_(param, -bound, bound)
                else:
                    nn.init.zeros_(param)
                    if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                        param[module.hidden_size : 2 * module.hidden_size] = 1.0  # forget gate
        else:
            init_linear_conv_norm(module, self.config.initializer_range)

    # Saving ----------------------------------------------------------------------------------------------------

    def _full_auto_map(self) -> dict[str, str]:
        return {
            "AutoConfig": f"{_last_module(type(self.config))}.{type(self.config).__name__}",
            **{auto: f"{_last_module(type(self))}.{name}" for auto, name in self._auto_model_classes.items()},
            **_PROCESSOR_AUTO_MAP,
        }

    def _processor_to_save(self):
        if self.processor is not None:
            return self.processor
        from .processing_emotion import EmotionProcessor

        logger.warning(
            "No processor is attached to this %s (`model.processor`); saving the default one built from the config. "
            "Attach the processor fitted in training so that its state (TF-IDF vocabulary, normalisation "
            "statistics) travels with the weights.",
            type(self).__name__,
        )
        return EmotionProcessor.from_model_config(self.config)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save the self-contained folder described in the class docstring (see `PreTrainedModel.save_pretrained`
        for the arguments; `push_to_hub=True` uploads all of it)."""
        from .pipeline_emotion import AudioVisualEmotionPipeline  # the pipeline's code ships with the weights

        processor = self._processor_to_save()
        config = self.config
        saved = {
            name: getattr(config, name, None) for name in ("backbone_pretrained", "backbone_checkpoint_path")
        }
        config.backbone_pretrained, config.backbone_checkpoint_path = False, None
        config.auto_map = self._full_auto_map()
        config.custom_pipelines = {
            PIPELINE_TASK: {
                "impl": f"{_last_module(AudioVisualEmotionPipeline)}.{AudioVisualEmotionPipeline.__name__}",
                "pt": ["AutoModelForAudioClassification"],
                "tf": [],
                "type": "multimodal",
                "default": None,
            }
        }
        push_to_hub = kwargs.pop("push_to_hub", False)
        hub_kwargs = {
            key: kwargs.pop(key) for key in ("repo_id", "commit_message", "create_pr") if key in kwargs
        }
        try:
            result = super().save_pretrained(save_directory, *args, **kwargs)
            _copy_code(AudioVisualEmotionPipeline, save_directory)
            processor.save_pretrained(save_directory)
        finally:
            for name, value in saved.items():
                setattr(config, name, value)
        if push_to_hub:
            from transformers.utils.hub import create_and_tag_model_card, hf_api

            repo_id = hub_kwargs.get("repo_id") or os.path.basename(os.path.normpath(save_directory))
            token = kwargs.get("token")
            repo_id = hf_api().create_repo(repo_id, exist_ok=True, token=token).repo_id
            card_path = os.path.join(save_directory, "README.md")
            if not os.path.isfile(card_path):
                create_and_tag_model_card(repo_id, self.model_tags, token=token).save(card_path)
            self._upload_modified_files(
                save_directory,
                repo_id,
                {},
                commit_message=hub_kwargs.get("commit_message"),
                token=token,
                create_pr=hub_kwargs.get("create_pr", False),
            )
        return result

    # Loading ---------------------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`, plus: weights the checkpoint lacks are an error naming the file and
        keys (never silently random), and the processor saved beside the weights is attached as
        ``model.processor`` (checked against the config)."""
        want_info = kwargs.pop("output_loading_info", False)
        try:
            model, info = super().from_pretrained(
                pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
            )
        except Exception as error:
            short = _short_loading_error(pretrained_model_name_or_path, error)
            if short is None:
                raise
            raise OSError(short) from error
        missing = sorted(info.get("missing_keys") or ())
        if missing:
            raise ValueError(
                f"The weights in `{pretrained_model_name_or_path}` (model.safetensors) lack {len(missing)} "
                f"parameter(s) of {cls.__name__}: {missing[:8]}{' ...' if len(missing) > 8 else ''}. The file is "
                "incomplete or belongs to another model; save the trained model again."
            )
        processor = _load_saved_processor(pretrained_model_name_or_path, kwargs)
        if processor is not None:
            check_processor_matches_config(processor, model.config, pretrained_model_name_or_path)
            model.processor = processor
        return (model, info) if want_info else model


@dataclass
class EmotionModelOutput(ModelOutput):
    """The fields every hf_emotion model output starts with (each model's output class adds its own).

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): cross-entropy, when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`, *optional*): class scores (head only).
        fused_embeds (`torch.FloatTensor` of shape `(batch, size)`, *optional*): the clip vector the head reads
            (its size: see the model's output class).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    fused_embeds: torch.FloatTensor | None = None


class EmotionClassificationHeadMixin:
    """The classification head both `...ForEmotionRecognition` models put over the base model's `fused_embeds`:
    dropout (`config.classifier_dropout`) and a linear layer to `config.num_labels` scores."""

    def _init_classification_head(self, input_size: int) -> None:
        self.dropout = nn.Dropout(self.config.classifier_dropout)
        self.classifier = nn.Linear(input_size, self.config.num_labels)

    def _classify(self, outputs: Any, labels: torch.Tensor | None) -> Any:
        """The base model's `outputs` (a `ModelOutput` with `fused_embeds`) with `logits` and, given `labels`,
        the cross-entropy `loss` added."""
        logits = self.classifier(self.dropout(outputs.fused_embeds))  # (N, num_labels)
        loss = classification_loss(logits, labels, self.config.num_labels)
        return type(outputs)(loss=loss, logits=logits, **dict(outputs.items()))


def _copy_code(cls: type, folder) -> None:
    """Copy the module defining `cls` and its relative imports into `folder` (as `custom_object_save` does)."""
    from transformers.dynamic_module_utils import get_relative_import_files

    module_file = sys.modules[cls.__module__].__file__
    for needed in [module_file, *get_relative_import_files(module_file)]:
        shutil.copyfile(needed, Path(folder) / Path(needed).name)


def _short_loading_error(source, error: Exception) -> str | None:
    """One line naming the file for the usual broken-folder cases (`None` for any other error)."""
    text = str(error)
    for marker, what in (
        ("not a valid JSON", "config.json is not valid JSON"),
        ("Error while deserializing", "model.safetensors is truncated or corrupt"),
        ("incomplete metadata", "model.safetensors is truncated or corrupt"),
        ("does not appear to have a file named", "no model weights (model.safetensors)"),
    ):
        if marker in text:
            return f"Cannot load the model in `{source}`: {what}. Save or download the model again."
    return None


_HUB_KWARGS = ("revision", "subfolder", "cache_dir", "token", "local_files_only", "force_download", "proxies")


def _load_saved_processor(source, kwargs: dict):
    """The `EmotionProcessor` saved with the model at `source` (folder, hub id; `revision` and `subfolder` from
    `kwargs`), or `None` when there is none."""
    from transformers.utils import cached_file

    from .processing_emotion import EmotionProcessor

    hub_kwargs = {key: kwargs[key] for key in _HUB_KWARGS if kwargs.get(key) is not None}
    found = cached_file(
        source,
        PROCESSOR_FILE,
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
        **hub_kwargs,
    )
    if found is None:
        return None
    return EmotionProcessor.from_pretrained(source, **hub_kwargs)


def check_processor_matches_config(processor, config, source="the model") -> None:
    """Raise a `ValueError` naming the field when a processor's output sizes disagree with a model config."""
    extractor, video = processor.feature_extractor, processor.video_processor
    modalities = list(getattr(config, "modalities", None) or MODALITIES)
    checks = []
    if "video" in modalities:
        checks.append(("num_frames", video.num_frames, getattr(config, "num_frames", None)))
    if "audio" in modalities and getattr(config, "model_type", None) == "tucker_av":
        checks.append(("num_mel_bins", extractor.feature_size, config.num_mel_bins))
        checks.append(("num_audio_frames", extractor.num_frames, config.num_audio_frames))
    elif "audio" in modalities:
        checks.append(("num_mfcc", extractor.feature_size, getattr(config, "num_mfcc", None)))
    featurizer = processor.text_featurizer
    if "text" in modalities and featurizer is not None and getattr(featurizer, "is_fitted", True):
        size = getattr(featurizer, "vocabulary_size", None)
        checks.append(("text_feature_dim", size, config.text_feature_dim))
    for field, got, expected in checks:
        if expected is not None and got is not None and got != expected:
            raise ValueError(
                f"The processor saved with `{source}` gives {field}={got} but the model config says {expected}: "
                f"they do not belong together. Save the processor that was used in training with the model."
            )
