"""The common model battery, run on both model types with the tiny configs of conftest.py (issue 11 points 6 and
8, issue 12 point 9), plus the one-artifact save/load checks (points 1, 2, 5)."""

import json

import pytest
import torch
from conftest import (
    MODEL_TYPES,
    TINY_CONFIGS,
    TRANSCRIPTS,
    tiny_artifact,
    tiny_config,
    tiny_inputs,
    tiny_model,
)
from safetensors.torch import load_file, save_file
from transformers import AutoModelForAudioClassification

from hf_emotion import EmotionProcessor
from hf_emotion.models.modeling_common import MODEL_INPUT_NAMES, model_input_names
from hf_emotion.models.pipeline_emotion import TASK, AudioVisualEmotionPipeline

pytestmark = pytest.mark.parametrize("model_type", MODEL_TYPES)


def test_return_dict_argument_and_config(model_type):
    model = tiny_model(model_type).eval()
    inputs = tiny_inputs(model.config)
    with torch.no_grad():
        as_dict = model(**inputs)
        as_tuple = model(**inputs, return_dict=False)
        model.config.return_dict = False
        from_config = model(**inputs)
        overridden = model(**inputs, return_dict=True)
    assert isinstance(as_tuple, tuple) and isinstance(from_config, tuple)
    torch.testing.assert_close(as_tuple[0], as_dict.loss)
    torch.testing.assert_close(as_tuple[1], as_dict.logits)
    torch.testing.assert_close(from_config[1], as_dict.logits)
    torch.testing.assert_close(overridden.logits, as_dict.logits)


def test_gradient_checkpointing_gives_the_same_gradients(model_type):
    overrides = {"classifier_dropout": 0.0}
    overrides.update(
        {"dropout": 0.0} if model_type == "rmlstm" else {"attention_dropout": 0.0, "fbp_dropout": 0.0}
    )
    model = tiny_model(model_type, **overrides).train()
    inputs = tiny_inputs(model.config)
    model(**inputs).loss.backward()
    plain = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    calls = []
    for module in model.modules():
        if getattr(module, "gradient_checkpointing", False):
            original = module._gradient_checkpointing_func
            module._gradient_checkpointing_func = lambda *a, _f=original, **k: calls.append(1) or _f(*a, **k)
    outputs = model(**inputs)
    outputs.loss.backward()
    checked = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    assert calls  # the frame encoder, cross-attention (tucker_av) and recurrent layers (rmlstm) checkpoint
    assert checked.keys() == plain.keys()
    for name in plain:
        torch.testing.assert_close(checked[name], plain[name], atol=1e-6, rtol=1e-4, msg=name)


def test_every_parameter_gets_a_gradient(model_type):
    model = tiny_model(model_type).train()
    model(**tiny_inputs(model.config)).loss.backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


def test_input_modalities_and_input_names(model_type):
    model = tiny_model(model_type)
    assert model.input_modalities == tuple(model.config.modalities)
    expected = {"tucker_av": ("audio", "video"), "rmlstm": ("audio", "video", "text")}[model_type]
    assert model.input_modalities == expected
    assert model_input_names(model.config) == [MODEL_INPUT_NAMES[m] for m in expected]
    frozen = tiny_config(model_type, freeze_backbone=True)
    assert model_input_names(frozen)[1] == "frame_features"
    if model_type == "rmlstm":
        audio_only = tiny_model(model_type, modalities=["audio"])
        assert audio_only.input_modalities == ("audio",)


def test_unknown_forward_argument_is_an_error(model_type):
    model = tiny_model(model_type)
    inputs = tiny_inputs(model.config)
    with pytest.raises(TypeError, match="output_hiden_states"):
        model(**inputs, output_hiden_states=True)
    with pytest.raises(TypeError, match="input_feature"):
        model.base_model(input_feature=inputs.get("input_features"))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("id2label", {0: "only"}, "num_labels` must be at least 2"),
        ("num_labels", 0, "num_labels` must be at least 2"),
        ("initializer_range", -1.0, "initializer_range` must be a positive number"),
        ("initializer_range", 0.0, "initializer_range` must be a positive number"),
    ],
)
def test_config_rejects_values_that_cannot_train(model_type, field, value, message):
    kwargs = {k: v for k, v in TINY_CONFIGS[model_type].items() if k != "id2label"}
    kwargs[field] = value
    with pytest.raises(ValueError, match=message):
        type(tiny_config(model_type))(**kwargs)


def test_saved_folder_is_one_self_contained_artifact(model_type, tmp_path):
    checkpoint = tmp_path / "backbone.safetensors"
    import timm

    save_file(timm.create_model("test_efficientnet", num_classes=0).state_dict(), str(checkpoint))
    model = tiny_model(model_type, backbone_checkpoint_path=str(checkpoint))
    processor = EmotionProcessor.from_model_config(model.config, crop_faces=False).fit(texts=TRANSCRIPTS)
    processor.feature_extractor.normalization_mean = [0.5] * processor.feature_extractor.feature_size
    processor.feature_extractor.normalization_std = [2.0] * processor.feature_extractor.feature_size
    model.processor = processor
    model.save_pretrained(tmp_path / "saved")
    names = {p.name for p in (tmp_path / "saved").iterdir()}
    code = {"pipeline_emotion.py", "processing_emotion.py", "modeling_common.py", f"modeling_{model_type}.py"}
    assert {"model.safetensors", "config.json", "processor_config.json"} | code <= names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert {"AutoConfig", "AutoModel", "AutoModelForAudioClassification", "AutoProcessor"} <= set(
        config["auto_map"]
    )
    assert config["custom_pipelines"][TASK]["impl"] == "pipeline_emotion.AudioVisualEmotionPipeline"
    assert config["backbone_checkpoint_path"] is None and config["backbone_pretrained"] is False
    assert model.config.backbone_checkpoint_path == str(checkpoint)  # the in-memory config is untouched
    checkpoint.unlink()  # the saved folder must load where the backbone file does not exist
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path / "saved")
    assert (
        loaded.processor.feature_extractor.normalization_mean
        == processor.feature_extractor.normalization_mean
    )
    if model_type == "rmlstm":
        assert loaded.processor.text_featurizer.vocabulary == processor.text_featurizer.vocabulary


def test_missing_head_weights_are_an_error(model_type, tiny_folders, tmp_path):
    import shutil

    folder = shutil.copytree(tiny_folders[model_type], tmp_path / "model")
    weights = load_file(str(folder / "model.safetensors"))
    save_file(
        {k: v for k, v in weights.items() if not k.startswith("classifier.")},
        str(folder / "model.safetensors"),
    )
    with pytest.raises(ValueError, match=r"model.safetensors.*classifier.bias"):
        AutoModelForAudioClassification.from_pretrained(folder)


def test_broken_files_are_one_line_naming_the_file(model_type, tiny_folders, tmp_path):
    import shutil

    folder = shutil.copytree(tiny_folders[model_type], tmp_path / "model")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(Exception, match="model.safetensors is truncated or corrupt") as error:
        AutoModelForAudioClassification.from_pretrained(folder)
    assert "\n" not in str(error.value)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(Exception, match="config.json"):
        AutoModelForAudioClassification.from_pretrained(folder)


def test_processor_disagreeing_with_the_config_is_an_error(model_type, tiny_folders, tmp_path):
    import shutil

    folder = shutil.copytree(tiny_folders[model_type], tmp_path / "model")
    saved = json.loads((folder / "processor_config.json").read_text())
    saved["video_processor"]["num_frames"] = 7
    (folder / "processor_config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="num_frames=7 but the model config says 4"):
        AutoModelForAudioClassification.from_pretrained(folder)


def test_pipeline_with_a_model_object_uses_its_own_processor(model_type, tiny_folders, clip_path):
    """Point 1: no processor given → the attached one (rmlstm's text works, normalisation kept)."""
    model = AutoModelForAudioClassification.from_pretrained(tiny_folders[model_type]).eval()
    kwargs = {"transcript": TRANSCRIPTS[1]} if model_type == "rmlstm" else {}
    classifier = AudioVisualEmotionPipeline(model=model, device=-1, optimize=False)
    assert classifier.processor is model.processor
    predictions = classifier(str(clip_path), **kwargs)
    inputs = model.processor(videos=str(clip_path), text=[TRANSCRIPTS[1]] if kwargs else None)
    with torch.no_grad():
        expected = model(**inputs).logits.softmax(-1)[0]
    assert predictions[0]["score"] == pytest.approx(float(expected.max()), abs=1e-6)
    # A model object whose processor was dropped still finds the one saved where it came from.
    model.processor = None
    again = AudioVisualEmotionPipeline(model=model, device=-1)
    assert again.processor.to_dict() == classifier.processor.to_dict()
    if model_type == "rmlstm":  # the default processor would have no fitted TF-IDF
        fresh = tiny_model(model_type)
        with pytest.raises(ValueError, match="not fitted"):
            AudioVisualEmotionPipeline(model=fresh, device=-1)(str(clip_path), **kwargs)


def test_trainer_with_the_processor_trains_and_saves_the_same_folder(model_type, clip_path, tmp_path):
    """Point 2: `Trainer(processing_class=EmotionProcessor)` trains (no `.tokenizer` crash), selects on `uar`, and
    `save_model` writes the folder `save_pretrained` writes."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from hf_emotion.metrics import make_compute_metrics
    from hf_emotion.training import EmotionDataCollator

    model = tiny_artifact(model_type, clip_path, steps=0)
    inputs = tiny_inputs(model.config, batch_size=4)
    rows = Dataset.from_dict({k: v.numpy() for k, v in inputs.items()}).with_format("numpy")
    args = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        num_train_epochs=1,
        per_device_train_batch_size=2,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="uar",
        report_to=[],
        use_cpu=True,
        label_names=["labels"],
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=rows,
        eval_dataset=rows,
        data_collator=EmotionDataCollator(model_input_names(model.config)),
        compute_metrics=make_compute_metrics(model.config.id2label),
        processing_class=model.processor,
    )
    trainer.train()
    assert "eval_uar" in trainer.state.log_history[-2] or any(
        "eval_uar" in e for e in trainer.state.log_history
    )
    trainer.save_model(str(tmp_path / "trainer_saved"))
    model.save_pretrained(tmp_path / "model_saved")
    trainer_files = {p.name for p in (tmp_path / "trainer_saved").iterdir()} - {"training_args.bin"}
    assert trainer_files == {p.name for p in (tmp_path / "model_saved").iterdir()}
