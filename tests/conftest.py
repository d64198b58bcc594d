"""Shared test settings, the tiny model configs (defined once, for every model test) and media fixtures.

`TINY_CONFIGS[model_type]` are the smallest configs that still run every code path end to end on CPU in well under
a second: pixels through timm's ``test_efficientnet`` (99k parameters, 256-d features), 32-px frames, short
sequences. `tiny_artifact(model_type, directory)` builds, fits (TF-IDF for rmlstm's text) and briefly trains a
model, and saves its one folder; media come from `media_fixtures` (the one set of writers).
"""

import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
sys.path.insert(0, str(Path(__file__).parent))

MODEL_TYPES = ("tucker_av", "rmlstm")
TINY_LABELS = {0: "neutral", 1: "happy", 2: "angry"}
TRANSCRIPTS = ("Kids are talking by the door", "Dogs are sitting by the door")
TINY_CONFIGS = {
    "tucker_av": dict(
        num_mel_bins=16,
        num_audio_frames=32,
        audio_conv_channels=[4, 8],
        audio_temporal_kernel=3,
        num_frames=4,
        image_size=32,
        frame_encoder="test_efficientnet",
        frame_feature_dim=256,
        hidden_size=8,
        num_attention_heads=2,
        num_time_steps=6,
        tucker_time_rank=3,
        tucker_audio_rank=4,
        tucker_video_rank=4,
        fbp_output_size=10,
        fbp_factor=2,
        gru_hidden_size=6,
        id2label=TINY_LABELS,
    ),
    "rmlstm": dict(
        modalities=["audio", "video", "text"],
        num_mfcc=5,
        num_frames=4,
        image_size=32,
        frame_encoder="test_efficientnet",
        frame_feature_dim=256,
        text_feature_dim=5,  # the vocabulary of TRANSCRIPTS after stop-word removal
        num_time_steps=5,
        hidden_size=8,
        num_layers=2,
        mogrifier_rounds=2,
        normalize_audio=False,  # `tiny_artifact` fits TF-IDF only; see test_audio_normalization.py
        id2label=TINY_LABELS,
    ),
}


def tiny_config(model_type: str, **overrides):
    from hf_emotion import RMLSTMConfig, TuckerAVConfig

    config_class = {"tucker_av": TuckerAVConfig, "rmlstm": RMLSTMConfig}[model_type]
    return config_class(**{**TINY_CONFIGS[model_type], **overrides})


def tiny_model(model_type: str, head: bool = True, **overrides):
    from transformers import AutoModel, AutoModelForAudioClassification

    import hf_emotion  # noqa: F401  (registers the model types)

    auto = AutoModelForAudioClassification if head else AutoModel
    return auto.from_config(tiny_config(model_type, **overrides))


def tiny_inputs(config, batch_size: int = 2, generator_seed: int = 0) -> dict:
    """Random model inputs for `config` (pixels when it has a frame encoder), labels included."""
    generator = torch.Generator().manual_seed(generator_seed)
    inputs = {}
    if "audio" in config.modalities:
        bins = config.num_mel_bins if config.model_type == "tucker_av" else config.num_mfcc
        frames = config.num_audio_frames if config.model_type == "tucker_av" else 20
        inputs["input_features"] = torch.randn(batch_size, bins, frames, generator=generator)
    if "video" in config.modalities:
        size = config.image_size
        inputs["pixel_values_videos"] = torch.rand(
            batch_size, config.num_frames, 3, size, size, generator=generator
        )
    if "text" in config.modalities:
        inputs["text_features"] = torch.rand(batch_size, config.text_feature_dim, generator=generator)
    inputs["labels"] = torch.arange(batch_size) % config.num_labels
    return inputs


def tiny_artifact(model_type: str, clip: Path, steps: int = 3):
    """A briefly trained tiny model with its fitted processor attached (`model.processor`), in eval mode."""
    from hf_emotion import EmotionProcessor

    torch.manual_seed(0)
    model = tiny_model(model_type)
    processor = EmotionProcessor.from_model_config(model.config).fit(texts=list(TRANSCRIPTS))
    text = {"text": [TRANSCRIPTS[0]] * 2} if "text" in model.config.modalities else {}
    batch = processor(videos=[str(clip)] * 2, **text)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=torch.tensor([1, 2])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.processor = processor
    return model.eval()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory) -> Path:
    """A 1.2-s 48-kHz stereo video with a tone (RAVDESS-like streams), written once per session."""
    from media_fixtures import write_video

    return write_video(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=1.2, fps=10)


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory, clip_path) -> dict:
    """model type → folder saved by `model.save_pretrained` of a tiny trained model with its processor."""
    root = tmp_path_factory.mktemp("tiny_models")
    folders = {}
    for model_type in MODEL_TYPES:
        tiny_artifact(model_type, clip_path).save_pretrained(root / model_type)
        folders[model_type] = root / model_type
    return folders
