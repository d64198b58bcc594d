"""The Tucker cross-attention audio-visual emotion model (`tucker_av`, Kumar et al. 2025).

Flow (default sizes, batch N):
    log-Mel (N, 128, 256) → TuckerAVAudioEncoder → (N, 60, 128) → linear → (N, 60, 256)
    frames (N, 90, 3, 224, 224) → ResNet-18 per frame → (N, 90, 512) → BiGRU → (N, 90, 512) → linear → (N, 90, 256)
        → interpolate to 60 steps
    TuckerAVCrossAttention: audio ↔ video → refined (N, 60, 256) each, weights (N, 4, 60, 60) each
    TuckerAVFusion: Tucker core (N, 30, 128, 128) read out by factorized bilinear pooling → (N, 512)
    head: dropout 0.5 → linear → (N, num_labels)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import can_return_tuple

from .configuration_tucker_av import TuckerAVConfig
from .fusion_tucker import TuckerAVFusion
from .modeling_common import (
    EmotionClassificationHeadMixin,
    EmotionFrameEncoder,
    EmotionModelOutput,
    EmotionPreTrainedModel,
    check_tensor,
    check_video_inputs,
    interpolate_time,
)


@dataclass
class TuckerAVOutput(EmotionModelOutput):
    """Output of [`TuckerAVModel`] and [`TuckerAVForEmotionRecognition`]: `loss`, `logits` and `fused_embeds`
    (the fused clip vector, of shape `(batch, fbp_output_size)`), then

    Args:
        audio_hidden_states (`torch.FloatTensor` of shape `(batch, num_time_steps, hidden_size)`, *optional*):
            refined audio sequence after cross-attention (with `output_hidden_states`).
        video_hidden_states (`torch.FloatTensor` of shape `(batch, num_time_steps, hidden_size)`, *optional*):
            refined video sequence after cross-attention (with `output_hidden_states`).
        tucker_core (`torch.FloatTensor` of shape `(batch, tucker_time_rank, tucker_audio_rank, tucker_video_rank)`,
            *optional*): the Tucker core G (with `output_hidden_states` and Tucker fusion).
        audio_to_video_attentions (`torch.FloatTensor` of shape `(batch, heads, num_time_steps, num_time_steps)`,
            *optional*): weights of audio queries over video steps (with `output_attentions`).
        video_to_audio_attentions (`torch.FloatTensor` of shape `(batch, heads, num_time_steps, num_time_steps)`,
            *optional*): weights of video queries over audio steps (with `output_attentions`).
    """

    audio_hidden_states: torch.FloatTensor | None = None
    video_hidden_states: torch.FloatTensor | None = None
    tucker_core: torch.FloatTensor | None = None
    audio_to_video_attentions: torch.FloatTensor | None = None
    video_to_audio_attentions: torch.FloatTensor | None = None


class TuckerAVAudioEncoder(nn.Module):
    """2D CNN over the log-Mel spectrogram that keeps time order: (N, mels, frames) → (N, steps, channels)."""

    def __init__(self, config: TuckerAVConfig):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 1
        for index, channels in enumerate(config.audio_conv_channels):
            layers += [
                nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
            if index < 2:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
            in_channels = channels
        self.blocks = nn.Sequential(*layers)
        self.temporal = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, kernel_size=(1, config.audio_temporal_kernel), bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        hidden = self.blocks(input_features.unsqueeze(1))  # (N, channels, mels / 4, frames / 4)
        hidden = self.temporal(hidden)  # (N, channels, mels / 4, steps)
        return hidden.mean(dim=2).transpose(1, 2)  # (N, steps, channels)


class TuckerAVVideoEncoder(nn.Module):
    """Frame encoder (timm, optional) + bidirectional GRU: frames or frame features → (N, frames, 2·gru_hidden)."""

    def __init__(self, config: TuckerAVConfig):
        super().__init__()
        self.frame_encoder = None
        if config.frame_encoder is not None:
            self.frame_encoder = EmotionFrameEncoder.from_config(config)
        self.gru = nn.GRU(
            config.frame_feature_dim,
            config.gru_hidden_size,
            num_layers=config.gru_num_layers,
            batch_first=True,
            bidirectional=True,
        )

    def forward(
        self, pixel_values_videos: torch.Tensor | None, frame_features: torch.Tensor | None
    ) -> torch.Tensor:
        if frame_features is None:
            frame_features = self.frame_encoder(pixel_values_videos)  # (N, frames, frame_feature_dim)
        refined, _ = self.gru(frame_features)  # (N, frames, 2 * gru_hidden_size)
        return refined


def sinusoidal_positions(steps: int, size: int, device=None, dtype=None) -> torch.Tensor:
    """Transformer sinusoidal encodings (Vaswani et al. 2017) of positions 0..steps-1: (steps, size)."""
    position = torch.arange(steps, device=device, dtype=torch.float32).unsqueeze(1)  # (steps, 1)
    frequency = torch.exp(
        torch.arange(0, size, 2, device=device, dtype=torch.float32) * (-torch.log(torch.tensor(1e4)) / size)
    )  # (ceil(size / 2),)
    encoding = torch.zeros(steps, size, device=device)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency[: size // 2])
    return encoding.to(dtype)


class TuckerAVCrossAttention(GradientCheckpointingLayer):
    """Bidirectional cross-modal multi-head attention with residual connections and LayerNorm; with
    `config.cross_attention_position_encoding`, sinusoidal encodings of the aligned step are added to the queries
    and keys (not the values), so attention can match steps by their place in the clip. Checkpointed under
    `gradient_checkpointing_enable()`."""

    def __init__(self, config: TuckerAVConfig):
        super().__init__()
        self.position_encoding = config.cross_attention_position_encoding
        kwargs = {"dropout": config.attention_dropout, "batch_first": True}
        self.audio_to_video = nn.MultiheadAttention(config.hidden_size, config.num_attention_heads, **kwargs)
        self.video_to_audio = nn.MultiheadAttention(config.hidden_size, config.num_attention_heads, **kwargs)
        self.audio_norm = nn.LayerNorm(config.hidden_size)
        self.video_norm = nn.LayerNorm(config.hidden_size)

    def forward(self, audio: torch.Tensor, video: torch.Tensor, output_attentions: bool = False):
        audio_keys, video_keys = audio, video
        if self.position_encoding:
            positions = sinusoidal_positions(
                audio.shape[1], audio.shape[2], audio.device, audio.dtype
            )  # (T, hidden)
            audio_keys, video_keys = audio + positions, video + positions
        # audio queries video ("audio attending to visual"): an audio sequence enriched with visual context
        audio_context, audio_weights = self.audio_to_video(
            audio_keys, video_keys, video, need_weights=output_attentions, average_attn_weights=False
        )  # (N, T, hidden), (N, heads, T, T)
        # video queries audio: a visual sequence enriched with audio context
        video_context, video_weights = self.video_to_audio(
            video_keys, audio_keys, audio, need_weights=output_attentions, average_attn_weights=False
        )
        refined_audio = self.audio_norm(audio + audio_context)
        refined_video = self.video_norm(video + video_context)
        return refined_audio, refined_video, audio_weights, video_weights


class TuckerAVPreTrainedModel(EmotionPreTrainedModel):
    config_class = TuckerAVConfig
    config: TuckerAVConfig
    base_model_prefix = "tucker_av"
    _auto_model_classes = {
        "AutoModel": "TuckerAVModel",
        "AutoModelForAudioClassification": "TuckerAVForEmotionRecognition",
    }
    _self_initialized_modules = (TuckerAVFusion,)


class TuckerAVModel(TuckerAVPreTrainedModel):
    """Encoders, cross-modal attention and Tucker fusion up to the fused vector `fused_embeds` (N, 512)."""

    def __init__(self, config: TuckerAVConfig):
        super().__init__(config)
        self.use_audio = "audio" in config.modalities
        self.use_video = "video" in config.modalities
        hidden = config.hidden_size
        if self.use_audio:
            self.audio_encoder = TuckerAVAudioEncoder(config)
            self.audio_projection = nn.Linear(config.audio_conv_channels[-1], hidden)
        if self.use_video:
            self.video_encoder = TuckerAVVideoEncoder(config)
            self.video_projection = nn.Linear(2 * config.gru_hidden_size, hidden)
        self.use_tucker = self.use_audio and self.use_video and config.fusion_type == "tucker"
        if self.use_audio and self.use_video:
            self.cross_attention = TuckerAVCrossAttention(config)
        if self.use_tucker:
            self.fusion = TuckerAVFusion(
                config.num_time_steps,
                hidden,
                config.tucker_time_rank,
                config.tucker_audio_rank,
                config.tucker_video_rank,
                config.fbp_output_size,
                config.fbp_factor,
                dropout=config.fbp_dropout,
            )
            if config.fusion_additive_path:  # extension beyond the paper: unimodal terms beside the product
                self.additive_projection = nn.Linear(2 * hidden, config.fbp_output_size)
        else:
            num_streams = int(self.use_audio) + int(self.use_video)
            self.fusion = nn.Sequential(nn.Linear(num_streams * hidden, config.fbp_output_size), nn.GELU())
        # The MFB output is L2-normalised per slice (norm <= 1 over 512 dims); a LayerNorm rescales it so that
        # the linear head trains at ordinary learning rates.
        self.fused_norm = nn.LayerNorm(config.fbp_output_size)
        self.post_init()

    def _check_inputs(self, input_features, pixel_values_videos, frame_features) -> int:
        """Validate the inputs the config's modalities need; returns the batch size."""
        config = self.config
        batch_size = None
        if self.use_audio:
            check_tensor("input_features", input_features, ("batch", config.num_mel_bins, "frames"))
            batch_size = input_features.shape[0]
        if self.use_video:
            batch_size = check_video_inputs(
                config,
                pixel_values_videos,
                frame_features,
                self.video_encoder.frame_encoder is not None,
                batch_size,
            )
        return batch_size

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        frame_features: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> TuckerAVOutput | tuple:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch, num_mel_bins, frames)`):
                log-Mel spectrograms from the feature extractor.
            pixel_values_videos (`torch.FloatTensor` of shape `(batch, frames, 3, height, width)`, *optional*):
                normalised video frames; needs a frame encoder.
            frame_features (`torch.FloatTensor` of shape `(batch, frames, frame_feature_dim)`, *optional*):
                precomputed per-frame embeddings, used instead of `pixel_values_videos` (frozen-backbone mode).
            output_attentions, output_hidden_states (`bool`, *optional*): default to the config's values.
            return_dict (`bool`, *optional*): `False` returns a tuple (defaults to `config.return_dict`).
        """
        config = self.config
        output_attentions = bool(
            output_attentions if output_attentions is not None else config.output_attentions
        )
        output_hidden_states = bool(
            output_hidden_states if output_hidden_states is not None else config.output_hidden_states
        )
        self._check_inputs(input_features, pixel_values_videos, frame_features)
        steps = config.num_time_steps
        audio = video = None
        if self.use_audio:
            audio = self.audio_projection(self.audio_encoder(input_features))  # (N, audio_steps, hidden)
            audio = interpolate_time(audio, steps)  # (N, T, hidden)
        if self.use_video:
            video = self.video_projection(
                self.video_encoder(pixel_values_videos, frame_features)
            )  # (N, frames, hidden)
            video = interpolate_time(video, steps)  # (N, T, hidden)
        audio_weights = video_weights = None
        if audio is not None and video is not None:
            audio, video, audio_weights, video_weights = self.cross_attention(audio, video, output_attentions)
        core = None
        if self.use_tucker:
            fused = self.fusion(audio, video)  # (N, fbp_output_size)
            if self.config.fusion_additive_path:
                means = torch.cat([audio.mean(dim=1), video.mean(dim=1)], dim=-1)  # (N, 2 * hidden)
                fused = fused + self.additive_projection(means)  # (N, fbp_output_size)
            if output_hidden_states:
                core = self.fusion.core(audio, video)  # (N, time_rank, audio_rank, video_rank)
        else:
            pooled = [seq.mean(dim=1) for seq in (audio, video) if seq is not None]  # each (N, hidden)
            fused = self.fusion(torch.cat(pooled, dim=-1))  # (N, fbp_output_size)
        fused = self.fused_norm(fused)
        return TuckerAVOutput(
            fused_embeds=fused,
            audio_hidden_states=audio if output_hidden_states else None,
            video_hidden_states=video if output_hidden_states else None,
            tucker_core=core,
            audio_to_video_attentions=audio_weights if output_attentions else None,
            video_to_audio_attentions=video_weights if output_attentions else None,
        )


class TuckerAVForEmotionRecognition(EmotionClassificationHeadMixin, TuckerAVPreTrainedModel):
    """[`TuckerAVModel`] with the paper's head: dropout (0.5) and a linear layer over the fused vector."""

    def __init__(self, config: TuckerAVConfig):
        super().__init__(config)
        self.tucker_av = TuckerAVModel(config)
        self._init_classification_head(config.fbp_output_size)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        frame_features: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> TuckerAVOutput | tuple:
        r"""
        Args:
            input_features, pixel_values_videos, frame_features: see [`TuckerAVModel.forward`].
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*):
                class indices in `[0, num_labels)`; the cross-entropy `loss` is returned when given.
        """
        outputs = self.tucker_av(
            input_features,
            pixel_values_videos=pixel_values_videos,
            frame_features=frame_features,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        return self._classify(outputs, labels)


TuckerAVConfig.register_for_auto_class()
TuckerAVModel.register_for_auto_class("AutoModel")
TuckerAVForEmotionRecognition.register_for_auto_class("AutoModelForAudioClassification")

__all__ = [
    "TuckerAVOutput",
    "TuckerAVAudioEncoder",
    "TuckerAVVideoEncoder",
    "TuckerAVCrossAttention",
    "sinusoidal_positions",
    "TuckerAVPreTrainedModel",
    "TuckerAVModel",
    "TuckerAVForEmotionRecognition",
]
