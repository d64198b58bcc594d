"""hf_emotion: multimodal emotion recognition models for Hugging Face transformers.

The flow, one stage a module:
    decoding (`hf_emotion.models.decoding`) → features (`feature_extraction_emotion`, `processing_emotion`)
    → models (`modeling_tucker_av`, `modeling_rmlstm`) → outputs (`ModelOutput` dataclasses)
    → metrics (`hf_emotion.metrics`) → cards and hub (`hf_emotion.cards`, `hf_emotion.hub`).

Importing the package registers both model types with the transformers Auto classes.
"""

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification

from .models.configuration_tucker_av import RAVDESS_EMOTIONS, TuckerAVConfig
from .models.modeling_tucker_av import (
    TuckerAVForEmotionRecognition,
    TuckerAVModel,
    TuckerAVOutput,
)

__version__ = "0.1.0"

AutoConfig.register(TuckerAVConfig.model_type, TuckerAVConfig, exist_ok=True)
AutoModel.register(TuckerAVConfig, TuckerAVModel, exist_ok=True)
AutoModelForAudioClassification.register(TuckerAVConfig, TuckerAVForEmotionRecognition, exist_ok=True)

__all__ = [
    "RAVDESS_EMOTIONS",
    "TuckerAVConfig",
    "TuckerAVModel",
    "TuckerAVForEmotionRecognition",
    "TuckerAVOutput",
]
