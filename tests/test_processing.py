"""EmotionProcessor: video files to model inputs, bad input, model-config settings, JSON round trip, and loading
with ``AutoProcessor.from_pretrained(..., trust_remote_code=True)`` in a process where `hf_emotion` is absent."""

import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from media_fixtures import write_video, write_wav

from hf_emotion.models.decoding import load_audio, load_video_frames
from hf_emotion.models.feature_extraction_emotion import EmotionFeatureExtractor
from hf_emotion.models.processing_emotion import (
    TEXT_FEATURIZERS,
    EmotionProcessor,
    register_processors,
    register_text_featurizer,
)
from hf_emotion.models.video_processing_emotion import EmotionVideoProcessor

TOY_FEATURIZER = '''
import numpy as np


class ToyTextFeaturizer:
    """Counts of each vocabulary word: a stand-in with the text-featurizer interface."""

    def __init__(self, vocabulary):
        self.vocabulary = list(vocabulary)

    def __call__(self, texts):
        return np.array([[text.lower().split().count(w) for w in self.vocabulary] for text in texts], dtype=np.float32)

    def to_dict(self):
        return {"vocabulary": self.vocabulary}

    @classmethod
    def from_dict(cls, data):
        return cls(data["vocabulary"])
'''


def small_processor(**kwargs) -> EmotionProcessor:
    return EmotionProcessor(
        feature_extractor=EmotionFeatureExtractor(num_mel_bins=32, num_frames=64),
        video_processor=EmotionVideoProcessor(num_frames=6, image_size=16),
        **kwargs,
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return {
        "a": write_video(root / "a.mp4", seconds=1.0, audio_hz=440.0),
        "b": write_video(root / "b.mp4", seconds=0.6, fps=30, audio_hz=880.0, size=(40, 40)),
        "silent": write_video(root / "silent.mp4", seconds=0.5, audio_hz=None),
        "audio_only": write_wav(root / "speech.wav", np.zeros(8000, dtype=np.float32) + 0.1, 16000),
    }


@pytest.fixture(scope="module")
def toy_featurizer_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    (root / "toy_featurizer.py").write_text(TOY_FEATURIZER)
    sys.path.insert(0, str(root))
    import toy_featurizer

    register_text_featurizer(toy_featurizer.ToyTextFeaturizer)
    yield toy_featurizer.ToyTextFeaturizer
    TEXT_FEATURIZERS.pop("ToyTextFeaturizer")
    sys.path.remove(str(root))


def test_default_processor_has_paper_settings():
    processor = EmotionProcessor()
    assert processor.feature_extractor.feature_type == "log_mel"
    assert (processor.feature_extractor.num_mel_bins, processor.feature_extractor.num_frames) == (128, 256)
    assert (processor.video_processor.num_frames, processor.video_processor.image_size) == (90, 224)
    assert processor.model_input_names == ["input_features", "pixel_values_videos"]


def test_video_path_gives_both_inputs_equal_to_the_parts(clips):
    processor = small_processor()
    inputs = processor(videos=[clips["a"], clips["b"]])
    assert inputs["input_features"].shape == (2, 32, 64)
    assert inputs["pixel_values_videos"].shape == (2, 6, 3, 16, 16)
    # Independent route: decode with the decoding functions, then run each part on arrays.
    audio = load_audio(clips["b"], 16000)
    expected_audio = processor.feature_extractor(audio, sampling_rate=16000)["input_features"][0]
    torch.testing.assert_close(inputs["input_features"][1], expected_audio)
    frames = load_video_frames(clips["b"], 6)
    expected_video = processor.video_processor(frames)["pixel_values_videos"][0]
    torch.testing.assert_close(inputs["pixel_values_videos"][1], expected_video, atol=1e-4, rtol=0)


def test_arrays_need_audio_and_modalities_select_outputs(clips):
    frames = np.zeros((10, 20, 20, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="without sound"):
        small_processor()(videos=frames)
    both = small_processor()(videos=frames, audio=np.zeros(16000, np.float32), sampling_rate=16000)
    assert set(both) == {"input_features", "pixel_values_videos"}
    video_only = small_processor(modalities=["video"])(videos=frames)
    assert set(video_only) == {"pixel_values_videos"}
    audio_only = small_processor(modalities=["audio"])(videos=clips["a"])
    assert set(audio_only) == {"input_features"}
    with pytest.raises(ValueError, match="different numbers of clips"):
        small_processor()(videos=[frames, frames], audio=np.zeros(16000, np.float32), sampling_rate=16000)


def test_bad_files_name_the_file(clips):
    with pytest.raises(ValueError, match="silent.mp4` has no audio stream"):
        small_processor()(videos=clips["silent"])
    with pytest.raises(ValueError, match="speech.wav` has no video stream"):
        small_processor()(videos=clips["audio_only"])
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        small_processor()(videos="missing.mp4")
    with pytest.raises(ValueError, match="no `text_featurizer`"):
        small_processor()(text="hello")


def test_from_model_config_reads_the_model_settings():
    config = SimpleNamespace(
        audio_feature_type="mfcc",
        num_mfcc=20,
        num_frames=12,
        image_size=64,
        video_normalization="minmax",
        modalities=["audio", "video"],
    )
    processor = EmotionProcessor.from_model_config(config)
    assert (
        processor.feature_extractor.feature_type == "mfcc" and processor.feature_extractor.feature_size == 20
    )
    assert (processor.video_processor.num_frames, processor.video_processor.image_size) == (12, 64)
    assert processor.video_processor.normalization == "minmax" and processor.modalities == ["audio", "video"]
    from hf_emotion.models.configuration_tucker_av import TuckerAVConfig

    default = EmotionProcessor.from_model_config(TuckerAVConfig())
    assert default.feature_extractor.num_frames == TuckerAVConfig().num_audio_frames


def test_text_featurizer_round_trip_in_process(tmp_path, clips, toy_featurizer_class):
    processor = small_processor(text_featurizer=toy_featurizer_class(["kids", "dogs", "door"]))
    assert processor.modalities == ["audio", "video", "text"]
    inputs = processor(videos=clips["a"], text="Kids are talking by the door")
    np.testing.assert_array_equal(inputs["text_features"].numpy(), [[1, 0, 1]])
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["text_featurizer"]["config"] == {"vocabulary": ["kids", "dogs", "door"]}
    reloaded = EmotionProcessor.from_pretrained(tmp_path)
    again = reloaded(videos=clips["a"], text="Kids are talking by the door")
    for name in inputs:
        torch.testing.assert_close(again[name], inputs[name])


def test_register_processors_for_in_process_auto_loading(tmp_path):
    from transformers import AutoProcessor, PreTrainedConfig

    class ToyEmotionConfig(PreTrainedConfig):
        model_type = "toy_emotion_for_processor_test"

    register_processors(ToyEmotionConfig)
    small_processor().save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is EmotionProcessor and type(loaded.video_processor) is EmotionVideoProcessor
    with pytest.raises(ValueError, match="config classes"):
        register_processors()


REMOTE_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["hf_emotion"] = None  # make sure nothing comes from the package
    import numpy as np
    from transformers import AutoProcessor
    saved, video, out = sys.argv[1:4]
    processor = AutoProcessor.from_pretrained(saved, trust_remote_code=True)
    assert type(processor).__module__.startswith("transformers_modules"), type(processor).__module__
    inputs = processor(videos=video, text="dogs dogs by the door", return_tensors="np")
    np.savez(out, **{name: np.asarray(value) for name, value in inputs.items()})
    """
)


def test_a_saved_featurizer_name_never_chooses_the_code(tmp_path, toy_featurizer_class):
    """Issue 12 point 3: the class named in processor_config.json comes from the fixed registry only; a module
    placed in the model folder is never imported."""
    processor = small_processor(text_featurizer=toy_featurizer_class(["kids", "dogs", "door"]))
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["text_featurizer"] == {
        "featurizer_class": "ToyTextFeaturizer",
        "config": {"vocabulary": ["kids", "dogs", "door"]},
    }
    saved["text_featurizer"] = {
        "featurizer_class": "Pwn",
        "featurizer_module": "pwn",
        "featurizer_import_path": "pwn",
        "config": {},
    }
    (tmp_path / "processor_config.json").write_text(json.dumps(saved))
    (tmp_path / "pwn.py").write_text("open('RAN', 'w').write('x')\nclass Pwn: pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(
            ValueError, match="`Pwn`, which is not a registered class.*register_text_featurizer"
        ):
            EmotionProcessor.from_pretrained(tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
    assert not (tmp_path / "RAN").exists() and not os.path.exists("RAN") and "pwn" not in sys.modules


def test_tfidf_featurizer_travels_with_the_processor(tmp_path, clips):
    from hf_emotion.models.text_featurization import TfidfTextFeaturizer

    featurizer = TfidfTextFeaturizer().fit(["Kids are talking by the door", "Dogs are sitting by the door"])
    processor = small_processor(text_featurizer=featurizer, modalities=["audio", "text"])
    local = processor(videos=clips["a"], text="dogs dogs by the door", return_tensors="np")
    np.testing.assert_allclose(local["text_features"], featurizer(["dogs dogs by the door"]))
    saved = tmp_path / "saved"
    processor.save_pretrained(saved)
    assert "text_featurization.py" in os.listdir(saved)
    reloaded = EmotionProcessor.from_pretrained(saved)
    assert type(reloaded.text_featurizer) is TfidfTextFeaturizer
    np.testing.assert_array_equal(
        reloaded(videos=clips["a"], text="dogs dogs by the door", return_tensors="np")["text_features"],
        local["text_features"],
    )
    script = tmp_path / "load.py"
    script.write_text(REMOTE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(saved), str(clips["a"]), str(tmp_path / "out.npz")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = np.load(tmp_path / "out.npz")
    for name in local:
        np.testing.assert_array_equal(remote[name], local[name])
