"""Configuration of the Tucker cross-attention audio-visual emotion model (`tucker_av`)."""

from __future__ import annotations

from transformers import PretrainedConfig

from .modeling_common import check_common_config, check_modalities

RAVDESS_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
TUCKER_AV_MODALITIES = ("audio", "video")
TUCKER_AV_FUSION_TYPES = ("tucker", "concat")


class TuckerAVConfig(PretrainedConfig):
    r"""
    Configuration of [`TuckerAVModel`] and [`TuckerAVForEmotionRecognition`]: a log-Mel 2D CNN for audio, a timm
    frame encoder (ResNet-18) + bidirectional GRU for video, two cross-modal multi-head attention modules,
    Tucker-decomposed time-aligned outer-product fusion and factorized bilinear pooling (Kumar et al., 2025).
    The defaults reproduce the paper's shapes (batch N): audio N×128×256 → N×60×128; frames N×90×3×224×224 →
    N×90×512 → BiGRU N×90×512; both projected to 256 and aligned to 60 steps; attention weights N×4×60×60;
    Tucker core N×30×128×128; fused vector N×512; logits N×num_labels.

    Choices the paper leaves open, fixed here:
    - **Mel frames.** 3 s at a 10 ms hop gives ~300 frames, but the paper's input is 128×256. The feature
      extractor derives the hop from the clip length so that `num_audio_frames` frames cover the whole clip
      (hop = (48,000 − 400) // 255 = 186 samples ≈ 11.6 ms, no centre padding); see `EmotionFeatureExtractor`.
    - **Audio CNN.** `len(audio_conv_channels)` blocks of 3×3 conv → BatchNorm → ReLU; the first two blocks are
      followed by 3×3 max-pooling with stride 2 (128×256 → 32×64). A final 1×`audio_temporal_kernel` valid
      convolution along time (64 → 60 frames at the default 5) gives the paper's 60 steps; frequency is then
      averaged away, leaving (N, 60, `audio_conv_channels[-1]`). Other clip lengths are resampled to
      `num_time_steps` by linear interpolation.
    - **Cross-attention.** Audio queries video ("audio attending to visual") and video queries audio, each with a
      residual connection and LayerNorm, so both refined sequences keep shape (N, 60, 256).
    - **Tucker core.** `G = X ×₂ U_Tᵀ ×₃ U_Aᵀ ×₄ U_Vᵀ` for the outer-product tensor `X[n,t,i,j] = a[n,t,i]·v[n,t,j]`,
      computed from the projected factors without materialising X.
    - **Factorized bilinear pooling.** Each temporal slice `G_k` of the core is read out with MFB factors P, Q
      (`tucker_audio_rank` × `fbp_output_size`·`fbp_factor`): `z_k = SumPool_R(diag(Pᵀ G_k Q))`, signed square
      root and L2 normalisation per k, then the mean over k — computed without forming G. A LayerNorm then
      rescales the fused vector (its norm is at most 1) so the linear head trains at ordinary learning rates.
    - **Temporal factor initialisation.** U_T is orthonormal with every column's sum made positive, so that a
      constant-in-time interaction is not cancelled by the mean over the normalised slices (SPEC §1).
    - **Extensions beyond the paper (off by default).** `fusion_additive_path` adds a linear projection of the
      concatenated time-means of both refined sequences to the multiplicative read-out (the unimodal terms an
      outer product of [a; 1] ⊗ [v; 1] would keep); `cross_attention_position_encoding` adds sinusoidal
      encodings of the aligned time step to the queries and keys of both attention modules, so that attention
      can use where in the clip a step is (without them it is blind to order and alignment).
    - **Single-modality and concat baselines.** With one modality, or `fusion_type="concat"`, the time-averaged
      refined sequence(s) are concatenated and projected to `fbp_output_size` (no attention with one modality).

    Args:
        num_mel_bins (`int`, *optional*, defaults to 128):
            Mel bands of the log-Mel input `input_features` (N, num_mel_bins, num_audio_frames).
        num_audio_frames (`int`, *optional*, defaults to 256):
            Mel frames per clip produced by the feature extractor.
        audio_conv_channels (`list[int]`, *optional*, defaults to `[32, 64, 128]`):
            Output channels of the audio CNN blocks; the last one is the audio feature size per step.
        audio_temporal_kernel (`int`, *optional*, defaults to 5):
            Width of the final valid convolution along time (maps 64 pooled frames to 60 steps).
        num_frames (`int`, *optional*, defaults to 90):
            Video frames sampled uniformly over the clip.
        image_size (`int`, *optional*, defaults to 224):
            Frame height and width after resizing and centre cropping.
        frame_encoder (`str` or `None`, *optional*, defaults to `"resnet18"`):
            timm model name of the per-frame encoder (classifier removed, global average pool). `None` builds no
            backbone: the model then only accepts precomputed `frame_features`.
        frame_feature_dim (`int`, *optional*, defaults to 512):
            Size of one frame embedding (must match the timm model's `num_features`).
        backbone_pretrained (`bool`, *optional*, defaults to `False`):
            Load the frame encoder's pretrained (ImageNet) weights through timm when the model is built.
        backbone_checkpoint_path (`str`, *optional*):
            Local weights file (.safetensors, or .pth read with `weights_only=True`) for the frame encoder; used
            instead of a download when set.
        freeze_backbone (`bool`, *optional*, defaults to `False`):
            Keep the frame encoder fixed (no gradients, BatchNorm in eval mode).
        video_normalization (`str`, *optional*, defaults to `"imagenet"`):
            How the processor normalises frames (`"imagenet"` mean/std, matching ResNet-18's pre-training).
        gru_hidden_size (`int`, *optional*, defaults to 256):
            Hidden size per direction of the bidirectional GRU (output 2 × 256 = 512, eq. 3).
        gru_num_layers (`int`, *optional*, defaults to 1):
            Stacked GRU layers.
        hidden_size (`int`, *optional*, defaults to 256):
            Common latent size both modalities are projected to.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Heads of each cross-attention module; must divide `hidden_size`.
        attention_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the attention weights during training.
        num_time_steps (`int`, *optional*, defaults to 60):
            Common number of time steps T after alignment (the Tucker temporal mode).
        tucker_time_rank (`int`, *optional*, defaults to 30):
            Rank K_time of the temporal factor U_T (num_time_steps × tucker_time_rank).
        tucker_audio_rank (`int`, *optional*, defaults to 128):
            Rank K_audio of the audio factor U_A (hidden_size × tucker_audio_rank).
        tucker_video_rank (`int`, *optional*, defaults to 128):
            Rank K_video of the video factor U_V (hidden_size × tucker_video_rank).
        fbp_output_size (`int`, *optional*, defaults to 512):
            Size of the fused vector produced by factorized bilinear pooling.
        fbp_factor (`int`, *optional*, defaults to 4):
            MFB factor R (sum-pooled); the paper's reference (Yu et al., 2017) uses 2–5.
        fbp_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the MFB interaction before sum pooling.
        classifier_dropout (`float`, *optional*, defaults to 0.5):
            Dropout before the classification layer (Table A1).
        modalities (`list[str]`, *optional*, defaults to `["audio", "video"]`):
            Modalities used: both (the paper), or one of them for ablations.
        fusion_type (`str`, *optional*, defaults to `"tucker"`):
            `"tucker"` (the paper) or `"concat"` (plain concatenation baseline).
        fusion_additive_path (`bool`, *optional*, defaults to `False`):
            Extension beyond the paper: add a linear (unimodal, additive) path from the concatenated time-means of
            the refined audio and video sequences to the Tucker/MFB fused vector. Tucker fusion only.
        cross_attention_position_encoding (`bool`, *optional*, defaults to `False`):
            Extension beyond the paper: add sinusoidal encodings of the aligned time step to the queries and keys
            of both cross-attention modules (values stay as they are).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialiser of the linear layers (projections, head, attention
            projections keep PyTorch's own). The Tucker/MFB factors U_A, U_V, P, Q use std 1/√fan_in and U_T
            is orthonormal with positive column sums (see `TuckerAVFusion`); the timm backbone keeps timm's
            own initialisation (including the zero-initialised last BatchNorm of each residual block).
        audio_feature_type (`str`, *optional*, defaults to `"log_mel"`):
            What the processor computes for `input_features`.
        normalize_audio (`bool`, *optional*, defaults to `False`):
            Standardise each Mel band of `input_features` with a mean and standard deviation fitted on the
            training split (by the processor, which saves them). Off by default here: the paper feeds the
            log-Mel image as it is, and the audio CNN's BatchNorm after the first convolution already removes
            its offset and scale (log-Mel values are within a few tens of each other across bands).

    Example:

    ```python
    >>> from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition

    >>> config = TuckerAVConfig()  # the paper's sizes, 8 RAVDESS emotions
    >>> model = TuckerAVForEmotionRecognition(config)
    >>> small = TuckerAVConfig(frame_encoder=None, hidden_size=32, num_time_steps=8, tucker_time_rank=4)
    ```
    """

    model_type = "tucker_av"

    def __init__(
        self,
        num_mel_bins: int = 128,
        num_audio_frames: int = 256,
        audio_conv_channels: list[int] | tuple[int, ...] = (32, 64, 128),
        audio_temporal_kernel: int = 5,
        num_frames: int = 90,
        image_size: int = 224,
        frame_encoder: str | None = "resnet18",
        frame_feature_dim: int = 512,
        backbone_pretrained: bool = False,
        backbone_checkpoint_path: str | None = None,
        freeze_backbone: bool = False,
        video_normalization: str = "imagenet",
        gru_hidden_size: int = 256,
        gru_num_layers: int = 1,
        hidden_size: int = 256,
        num_attention_heads: int = 4,
        attention_dropout: float = 0.1,
        num_time_steps: int = 60,
        tucker_time_rank: int = 30,
        tucker_audio_rank: int = 128,
        tucker_video_rank: int = 128,
        fbp_output_size: int = 512,
        fbp_factor: int = 4,
        fbp_dropout: float = 0.1,
        classifier_dropout: float = 0.5,
        modalities: list[str] | tuple[str, ...] = TUCKER_AV_MODALITIES,
        fusion_type: str = "tucker",
        fusion_additive_path: bool = False,
        cross_attention_position_encoding: bool = False,
        initializer_range: float = 0.02,
        audio_feature_type: str = "log_mel",
        normalize_audio: bool = False,
        **kwargs,
    ):
        if "id2label" not in kwargs and "num_labels" not in kwargs:
            kwargs["id2label"] = dict(enumerate(RAVDESS_EMOTIONS))
        super().__init__(**kwargs)
        self.num_mel_bins = num_mel_bins
        self.num_audio_frames = num_audio_frames
        self.audio_conv_channels = list(audio_conv_channels)
        self.audio_temporal_kernel = audio_temporal_kernel
        self.num_frames = num_frames
        self.image_size = image_size
        self.frame_encoder = frame_encoder
        self.frame_feature_dim = frame_feature_dim
        self.backbone_pretrained = backbone_pretrained
        self.backbone_checkpoint_path = backbone_checkpoint_path
        self.freeze_backbone = freeze_backbone
        self.video_normalization = video_normalization
        self.gru_hidden_size = gru_hidden_size
        self.gru_num_layers = gru_num_layers
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.attention_dropout = attention_dropout
        self.num_time_steps = num_time_steps
        self.tucker_time_rank = tucker_time_rank
        self.tucker_audio_rank = tucker_audio_rank
        self.tucker_video_rank = tucker_video_rank
        self.fbp_output_size = fbp_output_size
        self.fbp_factor = fbp_factor
        self.fbp_dropout = fbp_dropout
        self.classifier_dropout = classifier_dropout
        self.modalities = list(modalities) if not isinstance(modalities, str) else [modalities]
        self.fusion_type = fusion_type
        self.fusion_additive_path = fusion_additive_path
        self.cross_attention_position_encoding = cross_attention_position_encoding
        self.initializer_range = initializer_range
        self.audio_feature_type = audio_feature_type
        self.normalize_audio = normalize_audio
        self.validate_sizes()

    def validate_sizes(self) -> None:
        """Raise a `ValueError` naming the field when the sizes cannot fit together."""
        positive = {
            "num_mel_bins": self.num_mel_bins,
            "num_audio_frames": self.num_audio_frames,
            "audio_temporal_kernel": self.audio_temporal_kernel,
            "num_frames": self.num_frames,
            "image_size": self.image_size,
            "frame_feature_dim": self.frame_feature_dim,
            "gru_hidden_size": self.gru_hidden_size,
            "gru_num_layers": self.gru_num_layers,
            "hidden_size": self.hidden_size,
            "num_attention_heads": self.num_attention_heads,
            "num_time_steps": self.num_time_steps,
            "tucker_time_rank": self.tucker_time_rank,
            "tucker_audio_rank": self.tucker_audio_rank,
            "tucker_video_rank": self.tucker_video_rank,
            "fbp_output_size": self.fbp_output_size,
            "fbp_factor": self.fbp_factor,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not self.audio_conv_channels or any(
            not isinstance(c, int) or c < 1 for c in self.audio_conv_channels
        ):
            raise ValueError(
                f"`audio_conv_channels` must be a non-empty list of positive integers, got {self.audio_conv_channels!r}."
            )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"`num_attention_heads` ({self.num_attention_heads}) must divide `hidden_size` ({self.hidden_size})."
            )
        ranks = (
            ("tucker_time_rank", self.tucker_time_rank, "num_time_steps", self.num_time_steps),
            ("tucker_audio_rank", self.tucker_audio_rank, "hidden_size", self.hidden_size),
            ("tucker_video_rank", self.tucker_video_rank, "hidden_size", self.hidden_size),
        )
        for rank_name, rank, mode_name, mode in ranks:
            if rank > mode:
                raise ValueError(
                    f"`{rank_name}` ({rank}) cannot be larger than its mode `{mode_name}` ({mode}) in a Tucker "
                    "decomposition."
                )
        if self.audio_steps < 1:
            raise ValueError(
                f"`audio_temporal_kernel` ({self.audio_temporal_kernel}) is wider than the pooled audio frames "
                f"left from `num_audio_frames` ({self.num_audio_frames}); lower it or give longer inputs."
            )
        for name in ("attention_dropout", "fbp_dropout", "classifier_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {value!r}.")
        self.modalities = list(check_modalities(self.modalities, TUCKER_AV_MODALITIES))
        check_common_config(self)
        if self.fusion_type not in TUCKER_AV_FUSION_TYPES:
            raise ValueError(
                f"`fusion_type` must be one of {TUCKER_AV_FUSION_TYPES}, got {self.fusion_type!r}."
            )
        for name in ("fusion_additive_path", "cross_attention_position_encoding", "normalize_audio"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be True or False, got {getattr(self, name)!r}.")
        if self.fusion_additive_path and self.fusion_type != "tucker":
            raise ValueError(
                '`fusion_additive_path` extends the Tucker fusion; it needs `fusion_type="tucker"` (concat is '
                "already additive)."
            )
        if self.frame_encoder is None and (self.backbone_pretrained or self.backbone_checkpoint_path):
            raise ValueError("`backbone_pretrained`/`backbone_checkpoint_path` need a `frame_encoder` name.")

    @property
    def audio_steps(self) -> int:
        """Time steps the audio CNN produces for `num_audio_frames` input frames (60 by default)."""
        pooled = self.num_audio_frames
        for _ in self.audio_conv_channels[:2]:
            pooled = (pooled - 1) // 2 + 1
        return pooled - self.audio_temporal_kernel + 1


__all__ = ["TuckerAVConfig", "RAVDESS_EMOTIONS"]
