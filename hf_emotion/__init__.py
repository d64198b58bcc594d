"""hf_emotion: multimodal emotion recognition models for Hugging Face transformers.

The flow, one stage a module:
    decoding (`hf_emotion.models.decoding`) → features (`feature_extraction_emotion`, `processing_emotion`)
    → models (`modeling_tucker_av`, `modeling_rmlstm`) → outputs (`ModelOutput` dataclasses)
    → metrics (`hf_emotion.metrics`) → cards and hub (`hf_emotion.cards`, `hf_emotion.hub`).

Importing the package registers both model types with the transformers Auto classes (a saved model folder needs
no import: its `auto_map` and `custom_pipelines` point at the code saved beside the weights).

One owner per concept: `MODALITIES`, `MODEL_INPUT_NAMES` and `model_input_names(config)` (modality → model input)
and `check_modalities` live in `hf_emotion.models.modeling_common`; the RAVDESS labels are `RAVDESS_EMOTIONS`; the
processor is built from a config by `EmotionProcessor.from_model_config` and fitted by `EmotionProcessor.fit`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification

from .models.configuration_rmlstm import RMLSTMConfig
from .models.configuration_tucker_av import RAVDESS_EMOTIONS, TuckerAVConfig
from .models.decoding import load_audio, load_video_frames, probe_media
from .models.feature_extraction_emotion import EmotionFeatureExtractor
from .models.modeling_common import (
    MODALITIES,
    MODEL_INPUT_NAMES,
    EmotionPreTrainedModel,
    check_modalities,
    model_input_names,
)
from .models.modeling_rmlstm import RMLSTMForEmotionRecognition, RMLSTMModel, RMLSTMOutput
from .models.modeling_tucker_av import (
    TuckerAVForEmotionRecognition,
    TuckerAVModel,
    TuckerAVOutput,
)
from .models.pipeline_emotion import AudioVisualEmotionPipeline, register_pipeline
from .models.processing_emotion import EmotionProcessor, register_processors, register_text_featurizer
from .models.text_featurization import TfidfTextFeaturizer
from .models.video_processing_emotion import EmotionVideoProcessor

__version__ = "0.1.0"

for _config, _base, _head in (
    (TuckerAVConfig, TuckerAVModel, TuckerAVForEmotionRecognition),
    (RMLSTMConfig, RMLSTMModel, RMLSTMForEmotionRecognition),
):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _base, exist_ok=True)
    AutoModelForAudioClassification.register(_config, _head, exist_ok=True)
register_processors(TuckerAVConfig, RMLSTMConfig)
register_pipeline()

__all__ = [
    "MODALITIES",
    "MODEL_INPUT_NAMES",
    "EmotionPreTrainedModel",
    "check_modalities",
    "model_input_names",
    "register_text_featurizer",
    "AudioVisualEmotionPipeline",
    "EmotionFeatureExtractor",
    "EmotionProcessor",
    "EmotionVideoProcessor",
    "RMLSTMConfig",
    "RMLSTMForEmotionRecognition",
    "RMLSTMModel",
    "RMLSTMOutput",
    "TfidfTextFeaturizer",
    "load_audio",
    "load_video_frames",
    "probe_media",
    "RAVDESS_EMOTIONS",
    "TuckerAVConfig",
    "TuckerAVModel",
    "TuckerAVForEmotionRecognition",
    "TuckerAVOutput",
]
