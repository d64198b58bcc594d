"""The residual mogrifier LSTM multimodal emotion model (`rmlstm`).

Flow (default sizes, batch N, T = num_time_steps = 30):
    MFCC (N, 40, frames) → transpose, resample to T → (N, 30, 40)
    frames (N, 30, 3, 224, 224) → EfficientNet-B0 per frame → (N, 30, 1280) → resample to T   [or frame_features]
    TF-IDF (N, 64) → repeated at every step → (N, 30, 64)
    concatenation fusion x_t = [mfcc_t ; video_t ; text] → (N, 30, 1384)
    RMLSTMEncoder: 2 residual mogrifier LSTM layers → (N, 30, 256) → mean over time → (N, 256)
    head: dropout → linear → (N, num_labels)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import can_return_tuple

from .configuration_rmlstm import RMLSTMConfig
from .modeling_common import (
    FRAME_FEATURES_NAME,
    MODEL_INPUT_NAMES,
    EmotionClassificationHeadMixin,
    EmotionFrameEncoder,
    EmotionModelOutput,
    EmotionPreTrainedModel,
    check_tensor,
    check_video_inputs,
    interpolate_time,
)
from .mogrifier import RMLSTMCell, RMLSTMLayer, RMLSTMProjection


@dataclass
class RMLSTMOutput(EmotionModelOutput):
    """Output of [`RMLSTMModel`] and [`RMLSTMForEmotionRecognition`]: `loss`, `logits` and `fused_embeds` (of
    shape `(batch, encoder_size)`: the pooled hidden states, `encoder_size` = hidden_size, × 2 when
    bidirectional), then

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, num_time_steps, encoder_size)`, *optional*):
            hidden states of the last recurrent layer (`None` for `cell_type="mlp"`).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): with `output_hidden_states`, the fused input
            sequence `(batch, num_time_steps, fused_feature_size)` followed by every layer's output
            (`(batch, num_time_steps, encoder_size)`; `(batch, hidden_size)` per MLP layer).
    """

    last_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def resample_time(sequence: torch.Tensor, length: int) -> torch.Tensor:
    """(batch, time, dim) → (batch, length, dim): window averages when shortening, linear interpolation otherwise."""
    source = sequence.shape[1]
    # shortening: adaptive_avg_pool1d's windows, as a matrix (uneven adaptive pooling has no ONNX export)
    if source > length:
        steps = torch.arange(length, device=sequence.device)
        start = (steps * source) // length
        end = ((steps + 1) * source + length - 1) // length
        inputs = torch.arange(source, device=sequence.device)
        inside = (inputs[None] >= start[:, None]) & (inputs[None] < end[:, None])  # (length, source)
        weights = inside.to(sequence.dtype) / (end - start)[:, None].to(sequence.dtype)
        return torch.matmul(weights, sequence)  # (batch, length, dim)
    return interpolate_time(sequence, length)


class RMLSTMEncoder(nn.Module):
    """Stacked recurrent layers (`rmlstm`, `mlstm`, `lstm` or `gru`) with optional residual connections.

    Layer l maps (N, T, in_l) → (N, T, encoder_size); with `residual`, its input is added back (identity when
    in_l == encoder_size, a linear projection otherwise). Dropout follows every layer but the last.
    """

    def __init__(self, config: RMLSTMConfig):
        super().__init__()
        directions = 2 if config.bidirectional else 1
        self.output_size = config.hidden_size * directions
        self.cell_type = config.cell_type
        self.layers = nn.ModuleList()
        self.residuals = nn.ModuleList() if config.residual else None
        for index in range(config.num_layers):
            input_size = config.fused_feature_size if index == 0 else self.output_size
            if config.cell_type in ("rmlstm", "mlstm"):
                layer = RMLSTMLayer(
                    input_size, config.hidden_size, config.mogrifier_rounds, config.bidirectional
                )
            else:
                rnn_class = nn.LSTM if config.cell_type == "lstm" else nn.GRU
                layer = rnn_class(
                    input_size, config.hidden_size, batch_first=True, bidirectional=config.bidirectional
                )
            self.layers.append(layer)
            if self.residuals is not None:
                same = input_size == self.output_size
                self.residuals.append(
                    nn.Identity() if same else RMLSTMProjection(input_size, self.output_size)
                )
        self.dropout = nn.Dropout(config.dropout)
        self.gradient_checkpointing = False  # set by `model.gradient_checkpointing_enable()`

    def forward(self, fused: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """fused (N, T, fused_feature_size) → every layer's output, each (N, T, encoder_size)."""
        outputs = []
        hidden = fused
        checkpointing = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for index, layer in enumerate(self.layers):
            sequence = self._gradient_checkpointing_func(layer, hidden) if checkpointing else layer(hidden)
            if isinstance(sequence, tuple):  # nn.LSTM / nn.GRU return (output, state)
                sequence = sequence[0]
            if self.residuals is not None:
                sequence = sequence + self.residuals[index](hidden)
            if index < len(self.layers) - 1:
                sequence = self.dropout(sequence)
            outputs.append(sequence)
            hidden = sequence
        return tuple(outputs)


class RMLSTMMLPEncoder(nn.Module):
    """The MLP baseline (Tables 3–4): time-averaged fused features → `num_layers` × (linear → ReLU → dropout)."""

    def __init__(self, config: RMLSTMConfig):
        super().__init__()
        self.output_size = config.hidden_size
        sizes = [config.fused_feature_size] + [config.hidden_size] * config.num_layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, fused: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """fused (N, T, fused_feature_size) → every layer's output, each (N, hidden_size)."""
        outputs = []
        hidden = fused.mean(dim=1)  # (N, fused_feature_size)
        for index, layer in enumerate(self.layers):
            hidden = torch.relu(layer(hidden))
            if index < len(self.layers) - 1:
                hidden = self.dropout(hidden)
            outputs.append(hidden)
        return tuple(outputs)


class RMLSTMPreTrainedModel(EmotionPreTrainedModel):
    config_class = RMLSTMConfig
    config: RMLSTMConfig
    base_model_prefix = "rmlstm"
    _auto_model_classes = {
        "AutoModel": "RMLSTMModel",
        "AutoModelForAudioClassification": "RMLSTMForEmotionRecognition",
    }
    _self_initialized_modules = (RMLSTMCell,)


class RMLSTMModel(RMLSTMPreTrainedModel):
    """Feature fusion and the recurrent encoder up to the pooled clip vector `fused_embeds` (N, encoder_size)."""

    def __init__(self, config: RMLSTMConfig):
        super().__init__(config)
        self.frame_encoder = None
        if "video" in config.modalities and config.frame_encoder is not None:
            self.frame_encoder = EmotionFrameEncoder.from_config(config)
        self.encoder = RMLSTMMLPEncoder(config) if config.cell_type == "mlp" else RMLSTMEncoder(config)
        self.post_init()

    def _fuse(self, input_features, pixel_values_videos, frame_features, text_features) -> torch.Tensor:
        """Validate the selected modalities' inputs and concatenate them per time step → (N, T, fused size)."""
        config = self.config
        steps = config.num_time_steps
        given = {
            "audio": input_features is not None,
            "video": pixel_values_videos is not None or frame_features is not None,
            "text": text_features is not None,
        }
        for modality in config.modalities:
            if not given[modality]:
                name = MODEL_INPUT_NAMES[modality]
                name += f"` or `{FRAME_FEATURES_NAME}" if modality == "video" else ""
                raise ValueError(
                    f"`config.modalities` includes {modality!r}, so `{name}` is required; "
                    f"pass it, or load the model with modalities={[m for m in config.modalities if m != modality]}."
                )
        batch_size = None
        parts = []
        if "audio" in config.modalities:
            check_tensor("input_features", input_features, ("batch", config.num_mfcc, "frames"))
            _check_frames("input_features", input_features.shape[2])
            batch_size = input_features.shape[0]
            parts.append(resample_time(input_features.transpose(1, 2), steps))  # (N, T, num_mfcc)
        if "video" in config.modalities:
            batch_size = check_video_inputs(
                config, pixel_values_videos, frame_features, self.frame_encoder is not None, batch_size
            )
            if frame_features is None:
                _check_frames("pixel_values_videos", pixel_values_videos.shape[1])
                frame_features = self.frame_encoder(pixel_values_videos)  # (N, frames, frame_feature_dim)
            _check_frames("frame_features", frame_features.shape[1])
            parts.append(resample_time(frame_features, steps))  # (N, T, frame_feature_dim)
        if "text" in config.modalities:
            check_tensor(
                "text_features", text_features, ("batch", config.text_feature_dim), batch_size=batch_size
            )
            batch_size = text_features.shape[0]
            parts.append(text_features[:, None, :].expand(batch_size, steps, -1))  # (N, T, text_feature_dim)
        dtype = parts[0].dtype
        return torch.cat([part.to(dtype) for part in parts], dim=-1)  # (N, T, fused_feature_size)

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        frame_features: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> RMLSTMOutput | tuple:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch, num_mfcc, frames)`, *optional*):
                MFCCs from the feature extractor (needed when `"audio"` is in `config.modalities`).
            pixel_values_videos (`torch.FloatTensor` of shape `(batch, frames, 3, height, width)`, *optional*):
                min-max normalised video frames (eq. 1); needs a frame encoder.
            frame_features (`torch.FloatTensor` of shape `(batch, frames, frame_feature_dim)`, *optional*):
                precomputed per-frame embeddings, used instead of `pixel_values_videos` (frozen-backbone mode).
            text_features (`torch.FloatTensor` of shape `(batch, text_feature_dim)`, *optional*):
                TF-IDF vector of each utterance's transcript (`TfidfTextFeaturizer`).

        `return_dict` (`bool`, *optional*): `False` returns a tuple (defaults to `config.return_dict`).

        Inputs of modalities the config does not select are ignored. Audio and video may have any number of
        frames (at least one): each is resampled to `num_time_steps`.
        """
        config = self.config
        output_hidden_states = bool(
            output_hidden_states if output_hidden_states is not None else config.output_hidden_states
        )
        fused = self._fuse(input_features, pixel_values_videos, frame_features, text_features)
        layer_outputs = self.encoder(fused)
        last = layer_outputs[-1]
        if config.cell_type == "mlp":
            pooled, last_hidden_state = last, None  # (N, hidden_size)
        else:
            last_hidden_state = last  # (N, T, encoder_size)
            pooled = _pool(
                last, config.pooling, config.hidden_size, config.bidirectional
            )  # (N, encoder_size)
        return RMLSTMOutput(
            fused_embeds=pooled,
            last_hidden_state=last_hidden_state,
            hidden_states=(fused, *layer_outputs) if output_hidden_states else None,
        )


class RMLSTMForEmotionRecognition(EmotionClassificationHeadMixin, RMLSTMPreTrainedModel):
    """[`RMLSTMModel`] with a classification head: dropout and a linear layer over the pooled clip vector."""

    def __init__(self, config: RMLSTMConfig):
        super().__init__(config)
        self.rmlstm = RMLSTMModel(config)
        self._init_classification_head(self.rmlstm.encoder.output_size)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        frame_features: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> RMLSTMOutput | tuple:
        r"""
        Args:
            input_features, pixel_values_videos, frame_features, text_features: see [`RMLSTMModel.forward`].
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*):
                class indices in `[0, num_labels)`; the cross-entropy `loss` is returned when given.
        """
        outputs = self.rmlstm(
            input_features,
            pixel_values_videos=pixel_values_videos,
            frame_features=frame_features,
            text_features=text_features,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        return self._classify(outputs, labels)


def _check_frames(name: str, frames: int) -> None:
    if frames == 0:
        raise ValueError(f"`{name}` has zero frames; every clip needs at least one frame.")


def _pool(sequence: torch.Tensor, pooling: str, hidden_size: int, bidirectional: bool) -> torch.Tensor:
    """(N, T, encoder_size) → (N, encoder_size): mean over time, or the final state of each direction."""
    if pooling == "mean":
        return sequence.mean(dim=1)
    if not bidirectional:
        return sequence[:, -1]
    # the backward direction's final state is at t = 0
    return torch.cat([sequence[:, -1, :hidden_size], sequence[:, 0, hidden_size:]], dim=-1)


RMLSTMConfig.register_for_auto_class()
RMLSTMModel.register_for_auto_class("AutoModel")
RMLSTMForEmotionRecognition.register_for_auto_class("AutoModelForAudioClassification")

__all__ = [
    "RMLSTMOutput",
    "RMLSTMEncoder",
    "RMLSTMMLPEncoder",
    "RMLSTMPreTrainedModel",
    "RMLSTMModel",
    "RMLSTMForEmotionRecognition",
]
