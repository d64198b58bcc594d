"""Configuration of the residual mogrifier LSTM multimodal emotion model (`rmlstm`)."""

from __future__ import annotations

from transformers import PretrainedConfig

from .configuration_tucker_av import RAVDESS_EMOTIONS
from .modeling_common import check_common_config, check_modalities

RMLSTM_MODALITIES = ("audio", "video", "text")
RMLSTM_CELL_TYPES = ("rmlstm", "mlstm", "lstm", "gru", "mlp")
RMLSTM_POOLING = ("mean", "last")


class RMLSTMConfig(PretrainedConfig):
    r"""
    Configuration of [`RMLSTMModel`] and [`RMLSTMForEmotionRecognition`]: MFCC (audio), EfficientNet-B0 per
    frame (video, 1280-d) and TF-IDF (text) features, concatenated per time step and read by a stacked residual
    mogrifier LSTM (paper: "Residual mogrifier LSTM for multimodal facial expression recognition", eqs. 1–11).
    With the defaults (batch N): MFCC (N, 40, frames) → (N, 30, 40); frames (N, 30, 3, 224, 224) → (N, 30, 1280);
    TF-IDF (N, 64) repeated → (N, 30, 64); fused x_t (N, 30, 1384) → 2 RMLSTM layers (N, 30, 256) → mean over
    time (N, 256) → logits (N, num_labels).

    Choices the paper leaves open, fixed here:
    - **Cell.** Eqs. (8)–(11) with consistent time indices (SPEC §2): u_t = σ(W_u x_t + b_u),
      h'_{t−1} = 2·h_{t−1}⊙u_t + h_{t−1}, v_t = σ(W_v h'_{t−1} + b_v), x'_t = 2·x_t⊙v_t + x_t, then a standard
      LSTM step on (x'_t, h'_{t−1}); the cell state c_{t−1} is not gated. Rounds alternate: round 1 gates h by x,
      round 2 gates x by h, round 3 gates h again, ...; each round has its own weights; 0 rounds is a plain LSTM.
    - **Residual connections.** Every recurrent layer adds its input to its output: identity when the sizes
      match, a linear projection otherwise (the first layer, whose input is the fused feature vector).
    - **Time alignment.** MFCC frames and video frames are each resampled to `num_time_steps`: averaged over
      windows (`area`) when there are more frames than steps, linearly interpolated when fewer.
    - **Pooling.** The classifier reads the mean of the last layer's hidden states over time (`pooling="mean"`)
      or the final state (`"last"`; for a bidirectional encoder the forward direction's last and the backward
      direction's first state).
    - **Initialisation.** Recurrent weights uniform in ±1/√hidden_size (PyTorch's LSTM default), biases zero
      with the LSTM forget-gate bias at 1; linear layers (mogrifier gates, projections, head) normal with
      `initializer_range`.

    Args:
        modalities (`list[str]`, *optional*, defaults to `["audio", "video", "text"]`):
            Any non-empty subset of `"audio"`, `"video"`, `"text"` (the paper's Tables 1–2 ablate all seven).
            Image-only corpora (CK+) use `["video"]` with a sequence of frames.
        num_mfcc (`int`, *optional*, defaults to 40):
            MFCC coefficients per frame of `input_features` (N, num_mfcc, frames).
        audio_feature_type (`str`, *optional*, defaults to `"mfcc"`):
            What the processor computes for `input_features`.
        normalize_audio (`bool`, *optional*, defaults to `True`):
            Standardise each coefficient of `input_features` with a mean and standard deviation fitted on the
            training split (by the processor, which saves them with the model). Raw MFCCs are on very different
            scales (c0 around −60 with sd 20, beside TF-IDF values ≤ 1 and frame features) and reach the
            recurrent cell unscaled otherwise; the paper does not say, so this is on by default.
        num_frames (`int`, *optional*, defaults to 30):
            Video frames the processor samples uniformly over a clip (30 keeps EfficientNet-B0 affordable on a
            CPU: 30 frames of a 3 s clip are 10 fps).
        image_size (`int`, *optional*, defaults to 224):
            Frame height and width after resizing.
        video_normalization (`str`, *optional*, defaults to `"minmax"`):
            How the processor normalises frames: `"minmax"` maps each frame to [0, 1] with its own minimum and
            maximum intensity (eq. 1).
        frame_encoder (`str` or `None`, *optional*, defaults to `"efficientnet_b0"`):
            timm model name of the per-frame encoder (classifier removed, global average pool). `None` builds no
            backbone: the model then only accepts precomputed `frame_features`.
        frame_feature_dim (`int`, *optional*, defaults to 1280):
            Size of one frame embedding (must match the timm model's `num_features`).
        backbone_pretrained (`bool`, *optional*, defaults to `False`):
            Load the frame encoder's pretrained (ImageNet) weights through timm when the model is built.
        backbone_checkpoint_path (`str`, *optional*):
            Local weights file (.safetensors, or .pth read with `weights_only=True`) for the frame encoder; used
            instead of a download when set.
        freeze_backbone (`bool`, *optional*, defaults to `False`):
            Keep the frame encoder fixed (no gradients, BatchNorm in eval mode).
        text_feature_dim (`int`, *optional*, defaults to 64):
            Size of the TF-IDF vector `text_features`: the vocabulary size of the fitted `TfidfTextFeaturizer`
            (set it to `featurizer.vocabulary_size`).
        num_time_steps (`int`, *optional*, defaults to 30):
            Common number of time steps T of the fused sequence.
        cell_type (`str`, *optional*, defaults to `"rmlstm"`):
            The recurrent classifier (the paper's Tables 3–4): `"rmlstm"` (mogrifier LSTM with residual
            connections), `"mlstm"` (mogrifier LSTM without them), `"lstm"` (`nn.LSTM`), `"gru"` (`nn.GRU`) or
            `"mlp"` (an MLP over the time-averaged fused features).
        hidden_size (`int`, *optional*, defaults to 256):
            Hidden size of each recurrent layer (per direction), or width of the MLP's hidden layers.
        num_layers (`int`, *optional*, defaults to 2):
            Stacked recurrent layers (or hidden layers of the MLP).
        mogrifier_rounds (`int`, *optional*, defaults to 2):
            Alternating gating rounds of the mogrifier cells (the paper: 2; Melis et al. 2019 use 5).
        bidirectional (`bool`, *optional*, defaults to `False`):
            Run every recurrent layer in both directions (outputs concatenated, 2 × hidden_size).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the outputs of every recurrent/MLP layer except the last.
        residual (`bool`, *optional*):
            Residual connections across layers. Derived from `cell_type` when not given (`True` only for
            `"rmlstm"`); may be set for `"lstm"`/`"gru"`; must agree with `"rmlstm"`/`"mlstm"`; not used by `"mlp"`.
        pooling (`str`, *optional*, defaults to `"mean"`):
            How the hidden-state sequence becomes one vector: `"mean"` over time or `"last"` state.
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout before the classification layer.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialiser of linear layers.

    Example:

    ```python
    >>> from hf_emotion import RMLSTMConfig, RMLSTMForEmotionRecognition

    >>> config = RMLSTMConfig()  # audio + video + text, 2 RMLSTM layers of 256, 8 RAVDESS emotions
    >>> model = RMLSTMForEmotionRecognition(config)
    >>> video_only = RMLSTMConfig(modalities=["video"], frame_encoder=None, cell_type="lstm")
    ```
    """

    model_type = "rmlstm"

    def __init__(
        self,
        modalities: list[str] | tuple[str, ...] = RMLSTM_MODALITIES,
        num_mfcc: int = 40,
        audio_feature_type: str = "mfcc",
        normalize_audio: bool = True,
        num_frames: int = 30,
        image_size: int = 224,
        video_normalization: str = "minmax",
        frame_encoder: str | None = "efficientnet_b0",
        frame_feature_dim: int = 1280,
        backbone_pretrained: bool = False,
        backbone_checkpoint_path: str | None = None,
        freeze_backbone: bool = False,
        text_feature_dim: int = 64,
        num_time_steps: int = 30,
        cell_type: str = "rmlstm",
        hidden_size: int = 256,
        num_layers: int = 2,
        mogrifier_rounds: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.1,
        residual: bool | None = None,
        pooling: str = "mean",
        classifier_dropout: float = 0.1,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        if "id2label" not in kwargs and "num_labels" not in kwargs:
            kwargs["id2label"] = dict(enumerate(RAVDESS_EMOTIONS))
        super().__init__(**kwargs)
        self.modalities = list(modalities) if not isinstance(modalities, str) else [modalities]
        self.num_mfcc = num_mfcc
        self.audio_feature_type = audio_feature_type
        self.normalize_audio = normalize_audio
        self.num_frames = num_frames
        self.image_size = image_size
        self.video_normalization = video_normalization
        self.frame_encoder = frame_encoder
        self.frame_feature_dim = frame_feature_dim
        self.backbone_pretrained = backbone_pretrained
        self.backbone_checkpoint_path = backbone_checkpoint_path
        self.freeze_backbone = freeze_backbone
        self.text_feature_dim = text_feature_dim
        self.num_time_steps = num_time_steps
        self.cell_type = cell_type
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.mogrifier_rounds = mogrifier_rounds
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.residual = (cell_type == "rmlstm") if residual is None else residual
        self.pooling = pooling
        self.classifier_dropout = classifier_dropout
        self.initializer_range = initializer_range
        self.validate_values()

    def validate_values(self) -> None:
        """Raise a `ValueError` naming the field when a value is out of range or the fields contradict."""
        self.modalities = list(check_modalities(self.modalities, RMLSTM_MODALITIES))
        check_common_config(self)
        positive = {
            "num_mfcc": self.num_mfcc,
            "num_frames": self.num_frames,
            "image_size": self.image_size,
            "frame_feature_dim": self.frame_feature_dim,
            "text_feature_dim": self.text_feature_dim,
            "num_time_steps": self.num_time_steps,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        rounds = self.mogrifier_rounds
        if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 0:
            raise ValueError(f"`mogrifier_rounds` must be a non-negative integer, got {rounds!r}.")
        if not isinstance(self.normalize_audio, bool):
            raise ValueError(f"`normalize_audio` must be True or False, got {self.normalize_audio!r}.")
        if self.cell_type not in RMLSTM_CELL_TYPES:
            raise ValueError(f"`cell_type` must be one of {RMLSTM_CELL_TYPES}, got {self.cell_type!r}.")
        if self.pooling not in RMLSTM_POOLING:
            raise ValueError(f"`pooling` must be one of {RMLSTM_POOLING}, got {self.pooling!r}.")
        for name in ("dropout", "classifier_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {value!r}.")
        if self.cell_type == "rmlstm" and not self.residual:
            raise ValueError(
                "`cell_type='rmlstm'` has residual connections; use `cell_type='mlstm'` without them."
            )
        if self.cell_type == "mlstm" and self.residual:
            raise ValueError("`cell_type='mlstm'` has no residual connections; use `cell_type='rmlstm'`.")
        if self.cell_type == "mlp" and self.residual:
            raise ValueError("`residual` is not used by `cell_type='mlp'`; leave it unset.")
        if self.frame_encoder is None and (self.backbone_pretrained or self.backbone_checkpoint_path):
            raise ValueError("`backbone_pretrained`/`backbone_checkpoint_path` need a `frame_encoder` name.")
        if self.video_normalization != "minmax":
            raise ValueError(
                f"`video_normalization` must be 'minmax' (eq. 1) for this model, got {self.video_normalization!r}."
            )

    @property
    def fused_feature_size(self) -> int:
        """Size of the fused vector x_t: the sum of the selected modalities' feature sizes (1384 by default)."""
        sizes = {"audio": self.num_mfcc, "video": self.frame_feature_dim, "text": self.text_feature_dim}
        return sum(sizes[m] for m in self.modalities)


__all__ = ["RMLSTMConfig", "RMLSTM_CELL_TYPES", "RMLSTM_MODALITIES"]
