"""The processor is the run's one fitted artifact: built once from the config, fitted on the training split,
used by training, evaluation and the saved folder; `hf-emotion evaluate` makes features with the SAVED processor;
the folder `hf-emotion train` writes runs in the pipeline where `hf_emotion` is not importable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_emotion.cli import main
from hf_emotion.models.feature_extraction_emotion import EmotionFeatureExtractor
from hf_emotion.models.processing_emotion import EmotionProcessor
from hf_emotion.training.experiment import split_fold

sys.path.insert(0, str(Path(__file__).parent))
from corpus_fixtures import make_ravdess  # noqa: E402
from training_fixtures import make_feature_dataset  # noqa: E402

SENTENCES = {
    "01": "Kids are talking by the door",
    "02": "Dogs are sitting by the door",
    "03": "Cats sleep on the warm mat",
    "04": "Birds were singing in a tree",
}
TEXT_RMLSTM = (
    'modalities=["audio","text"],num_mfcc=16,hidden_size=8,num_layers=1,num_time_steps=4,frame_encoder=None,'
    "text_feature_dim=64"
)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """`hf-emotion train` of a text RMLSTM on prepared features with transcripts, spying on the processor."""
    root = tmp_path_factory.mktemp("text_run")
    data = make_feature_dataset(n_speakers=4, clips_per_label=1)
    data = data.add_column("transcript", [SENTENCES[s] for s in data["speaker"]])
    data.save_to_disk(str(root / "features"))
    built, fitted, saved = [], [], []
    real = {name: getattr(EmotionProcessor, name) for name in ("from_model_config", "fit", "save_pretrained")}

    def from_model_config(cls, *args, **kwargs):
        built.append(real["from_model_config"].__func__(cls, *args, **kwargs))
        return built[-1]

    def fit(self, *args, **kwargs):
        fitted.append(self)
        return real["fit"](self, *args, **kwargs)

    def save_pretrained(self, *args, **kwargs):
        saved.append(self)
        return real["save_pretrained"](self, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(EmotionProcessor, "from_model_config", classmethod(from_model_config))
    patch.setattr(EmotionProcessor, "fit", fit)
    patch.setattr(EmotionProcessor, "save_pretrained", save_pretrained)
    try:
        code = main(
            ["train", "--model-type", "rmlstm", "--preset", "paper", "--config-overrides", TEXT_RMLSTM]
            + ["--features-dir", str(root / "features"), "--n-folds", "2", "--max-steps", "3"]
            + ["--output-dir", str(root / "out")]
        )
    finally:
        patch.undo()
    assert code == 0
    return {"root": root, "data": data, "built": built, "fitted": fitted, "saved": saved}


def test_one_processor_is_built_fitted_on_train_used_and_saved(text_run):
    built, fitted, saved = text_run["built"], text_run["fitted"], text_run["saved"]
    assert len(built) == 1  # nothing rebuilds the processor from the config
    assert fitted == built and saved and all(p is built[0] for p in saved)  # that object is fitted and saved
    train = split_fold(text_run["data"], "speaker", 0, 2, "synthetic", 0)["train"]
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    train_words = {
        w for s in set(train["transcript"]) for w in s.lower().split() if w not in ENGLISH_STOP_WORDS
    }
    model_dir = text_run["root"] / "out" / "model"
    reloaded = EmotionProcessor.from_pretrained(model_dir)
    assert set(reloaded.text_featurizer.vocabulary) == train_words  # fitted on the training transcripts only
    config = json.loads((model_dir / "config.json").read_text())
    assert config["text_feature_dim"] == len(train_words)


def test_evaluate_reproduces_training_metrics_with_the_saved_processor(text_run, tmp_path):
    root = text_run["root"]
    out = tmp_path / "metrics.json"
    code = main(
        ["evaluate", "--model-dir", str(root / "out" / "model"), "--features-dir", str(root / "features")]
        + ["--n-folds", "2", "--output", str(out)]
    )
    assert code == 0
    trained = json.loads((root / "out" / "metrics.json").read_text())
    assert json.loads(out.read_text())["confusion_matrix"] == trained["confusion_matrix"]


@pytest.mark.slow
def test_the_trained_folder_runs_in_the_pipeline_without_the_package(text_run, tmp_path):
    from transformers import AutoModelForAudioClassification, pipeline

    from hf_emotion.models.pipeline_emotion import TASK

    model_dir = text_run["root"] / "out" / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert TASK in config["custom_pipelines"]
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    np.save(tmp_path / "audio.npy", audio)
    item = {"audio": audio, "sampling_rate": 16000, "transcript": "Kids are talking by the door"}
    model = AutoModelForAudioClassification.from_pretrained(model_dir)
    expected = pipeline(TASK, model=model, processor=EmotionProcessor.from_pretrained(model_dir))(item)
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        sys.modules["hf_emotion"] = None  # the package must not be importable here
        from transformers import pipeline
        classifier = pipeline("{TASK}", model={str(model_dir)!r}, trust_remote_code=True)
        audio = np.load({str(tmp_path / "audio.npy")!r})
        item = {{"audio": audio, "sampling_rate": 16000, "transcript": "Kids are talking by the door"}}
        print("RESULT" + json.dumps(classifier(item)))
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.split("RESULT", 1)[1])
    assert {r["label"]: r["score"] for r in remote} == pytest.approx(
        {r["label"]: r["score"] for r in expected}, abs=1e-6
    )


@pytest.mark.slow
def test_evaluate_makes_features_with_the_saved_processor_state(tmp_path, monkeypatch):
    """A model saved with a processor whose state differs from what its config implies (normalisation
    statistics, another audio frame count): `hf-emotion evaluate` must feed the model that processor's features."""
    from hf_emotion.data import load_corpus
    from hf_emotion.models.configuration_tucker_av import RAVDESS_EMOTIONS
    from hf_emotion.models.modeling_rmlstm import RMLSTMForEmotionRecognition
    from hf_emotion.training import build_config, build_model

    corpus = make_ravdess(tmp_path / "ravdess")
    config = build_config(
        "rmlstm",
        dict(enumerate(RAVDESS_EMOTIONS)),
        "paper",
        {"modalities": ["audio"], "frame_encoder": None, "num_mfcc": 8, "hidden_size": 8, "num_layers": 1},
    )
    model = build_model(config)
    extractor = EmotionFeatureExtractor(
        feature_type="mfcc",
        num_mfcc=8,
        num_frames=48,
        normalization_mean=[float(i) for i in range(8)],
        normalization_std=[2.0] * 8,
    )
    model.processor = EmotionProcessor.from_model_config(config)
    model.processor.feature_extractor = extractor  # state the config does not imply
    model.save_pretrained(tmp_path / "model")

    seen = []
    real_forward = RMLSTMForEmotionRecognition.forward

    def forward(self, *args, **kwargs):
        seen.append(kwargs["input_features"].detach().clone())
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(RMLSTMForEmotionRecognition, "forward", forward)
    code = main(
        ["evaluate", "--model-dir", str(tmp_path / "model"), "--corpus", "ravdess", "--data-dir", str(corpus)]
        + ["--split", "all", "--output", str(tmp_path / "m.json")]
    )
    assert code == 0
    fed = torch.cat(seen)
    paths = load_corpus("ravdess", corpus)["path"]
    expected = extractor(list(paths), return_tensors="pt")["input_features"]  # (clips, 8, 48), standardised
    assert fed.shape == expected.shape == (len(paths), 8, 48)
    torch.testing.assert_close(fed, expected, atol=1e-5, rtol=1e-5)
    from_config = EmotionProcessor.from_model_config(config)(audio=list(paths))["input_features"]
    assert from_config.shape != fed.shape  # the config alone would have given other features


def test_fit_processor_normalises_every_split_with_training_statistics():
    """A processor that normalises (`do_normalize=True`): statistics from the training split's cached raw
    features only, every split standardised with them (numpy reference), saved in the processor."""
    from datasets import DatasetDict

    from hf_emotion.training.prepare import fit_processor

    data = make_feature_dataset(n_speakers=2, clips_per_label=2)
    splits = DatasetDict(
        train=data.filter(lambda r: r["speaker"] == "01"), test=data.filter(lambda r: r["speaker"] == "02")
    )
    raw = {name: np.asarray(split.with_format("numpy")["input_features"]) for name, split in splits.items()}
    processor = EmotionProcessor(
        feature_extractor=EmotionFeatureExtractor(num_mel_bins=16, num_frames=32, do_normalize=True),
        modalities=["audio"],
    )
    fitted, _ = fit_processor(processor, splits)
    mean = raw["train"].mean(axis=(0, 2))  # (bins,), over the training clips and frames only
    std = raw["train"].std(axis=(0, 2))
    np.testing.assert_allclose(processor.feature_extractor.normalization_mean, mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(processor.feature_extractor.normalization_std, std, rtol=1e-4, atol=1e-5)
    for name in ("train", "test"):
        got = np.asarray(fitted[name].with_format("numpy")["input_features"])
        np.testing.assert_allclose(got, (raw[name] - mean[:, None]) / std[:, None], rtol=1e-4, atol=1e-4)
    assert (
        abs(np.asarray(fitted["test"].with_format("numpy")["input_features"]).mean()) > 1e-3
    )  # not refitted
