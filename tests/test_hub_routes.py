"""Issue 11, "one artifact": a trained tiny model of each type (rmlstm with text) pushed to the loopback Hub by
`model.push_to_hub`, by `Trainer.push_to_hub` and by `hf-emotion push` gives repos that load — where `hf_emotion`
cannot be imported — with `AutoModel`, `AutoModelForAudioClassification`, `AutoProcessor` and
`pipeline(model=<id>, trust_remote_code=True)`, and predict what the model predicts locally."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import MODEL_TYPES, TRANSCRIPTS
from hub_server import LoopbackHub
from transformers import AutoModelForAudioClassification

from hf_emotion.models.pipeline_emotion import AudioVisualEmotionPipeline

REPO = Path(__file__).resolve().parent.parent
ROUTES = ("model", "trainer", "cli")


def run_python(script: str, env: dict, cwd: Path, with_package: bool) -> str:
    env = dict(env, PYTHONPATH=str(REPO)) if with_package else env
    result = subprocess.run(
        [sys.executable, *([] if with_package else ["-I"]), "-c", textwrap.dedent(script)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def expected(tiny_folders, clip_path):
    """Local predictions and logits of each saved tiny model, with the in-process package."""
    results = {}
    for model_type in MODEL_TYPES:
        model = AutoModelForAudioClassification.from_pretrained(tiny_folders[model_type]).eval()
        text = TRANSCRIPTS[0] if model_type == "rmlstm" else None
        inputs = model.processor(videos=str(clip_path), text=text)
        with torch.no_grad():
            logits = model(**inputs).logits
        classifier = AudioVisualEmotionPipeline(model=model, device=-1)
        predictions = classifier(str(clip_path), **({"transcript": text} if text else {}))
        results[model_type] = {"predictions": predictions, "logits": logits.tolist()}
    return results


@pytest.mark.slow
def test_every_route_gives_the_same_loadable_repo(tiny_folders, clip_path, expected, tmp_path):
    with LoopbackHub() as hub:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf_home"),
            "HF_TOKEN": "hf_loopback_test_token",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "OMP_NUM_THREADS": "1",
        }
        folders = {t: str(f) for t, f in tiny_folders.items()}
        push = f"""
        from transformers import AutoModelForAudioClassification, Trainer, TrainingArguments
        from hf_emotion.cli import main
        for model_type, folder in {folders!r}.items():
            model = AutoModelForAudioClassification.from_pretrained(folder)
            model.push_to_hub(f"me/{{model_type}}-model")
            args = TrainingArguments(output_dir={str(tmp_path)!r} + "/" + model_type, push_to_hub=True,
                                     hub_model_id=f"me/{{model_type}}-trainer", report_to=[], use_cpu=True)
            trainer = Trainer(model=model, args=args, processing_class=model.processor)
            trainer.push_to_hub()
            assert main(["push", folder, f"me/{{model_type}}-cli"]) == 0
        print("PUSHED")
        """
        assert "PUSHED" in run_python(push, env, tmp_path, with_package=True)
        contents = {}
        for model_type in MODEL_TYPES:
            for route in ROUTES:
                files = hub.repos[f"me/{model_type}-{route}"].files("main")
                contents[route] = {name: data for name, data in files.items() if name != "README.md"}
            contents["trainer"].pop("training_args.bin")
            assert contents["model"].keys() == contents["trainer"].keys() == contents["cli"].keys()
            for name in contents["model"]:
                if name.endswith(".json"):
                    model, trainer, cli = (json.loads(contents[r][name]) for r in ROUTES)
                    trainer.pop("use_cache", None)  # Trainer sets `config.use_cache = args.use_cache`
                    keys = model.keys() | cli.keys() | trainer.keys()
                    differ = {k: (model.get(k), trainer.get(k), cli.get(k)) for k in keys}
                    assert {k: v for k, v in differ.items() if len(set(map(json.dumps, v))) > 1} == {}, name
                elif name.endswith(".py"):
                    assert contents["model"][name] == contents["cli"][name] == contents["trainer"][name], name
            assert {"pipeline_emotion.py", "processor_config.json", "model.safetensors"} <= contents[
                "model"
            ].keys()
            card = hub.repos[f"me/{model_type}-cli"].files("main")["README.md"].decode()
            assert f'model="me/{model_type}-cli"' in card and "<user>" not in card

        load = f"""
        import json, sys
        sys.modules["hf_emotion"] = None  # everything comes from the pushed repositories
        import torch
        from transformers import AutoModel, AutoModelForAudioClassification, AutoProcessor, pipeline
        results = {{}}
        for model_type in {list(MODEL_TYPES)!r}:
            text = {TRANSCRIPTS[0]!r} if model_type == "rmlstm" else None
            for route in {list(ROUTES)!r}:
                repo = f"me/{{model_type}}-{{route}}"
                base = AutoModel.from_pretrained(repo, trust_remote_code=True)
                head = AutoModelForAudioClassification.from_pretrained(repo, trust_remote_code=True).eval()
                processor = AutoProcessor.from_pretrained(repo, trust_remote_code=True)
                assert type(base).__module__.startswith("transformers_modules"), type(base).__module__
                assert type(processor).__module__.startswith("transformers_modules")
                inputs = processor(videos={str(clip_path)!r}, text=text)
                with torch.no_grad():
                    logits = head(**inputs).logits.tolist()
                    base(**{{k: v for k, v in inputs.items()}})
                classifier = pipeline(model=repo, trust_remote_code=True)
                predictions = classifier({str(clip_path)!r}, **({{"transcript": text}} if text else {{}}))
                results[repo] = {{"logits": logits, "predictions": predictions}}
        print("RESULT" + json.dumps(results))
        """
        output = run_python(load, env, tmp_path, with_package=False)
    results = json.loads(output.split("RESULT", 1)[1])
    for model_type in MODEL_TYPES:
        local = expected[model_type]
        for route in ROUTES:
            remote = results[f"me/{model_type}-{route}"]
            torch.testing.assert_close(torch.tensor(remote["logits"]), torch.tensor(local["logits"]))
            assert [p["label"] for p in remote["predictions"]] == [p["label"] for p in local["predictions"]]
            assert [p["score"] for p in remote["predictions"]] == pytest.approx(
                [p["score"] for p in local["predictions"]], abs=1e-6
            )


@pytest.mark.slow
def test_trainer_script_push_to_hub_uploads_the_full_artifact(tmp_path):
    """`examples/train_trainer.py --push_to_hub` uploads weights, processor, code and `custom_pipelines`."""
    from training_fixtures import TINY_TUCKER, make_feature_dataset

    make_feature_dataset().save_to_disk(str(tmp_path / "features"))
    with LoopbackHub() as hub:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HF_")},
            "PYTHONPATH": str(REPO),
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf_home"),
            "HF_TOKEN": "hf_loopback_test_token",
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        command = [
            sys.executable,
            str(REPO / "examples/train_trainer.py"),
            *("--features_dir", str(tmp_path / "features"), "--preset", "paper"),
            *("--config_overrides", TINY_TUCKER, "--n_folds", "2", "--output_dir", str(tmp_path / "run")),
            *("--max_steps", "2", "--per_device_train_batch_size", "8", "--report_to", "none", "--use_cpu"),
            *("--save_strategy", "no", "--disable_tqdm", "true"),
            *("--push_to_hub", "--hub_model_id", "me/trainer-script"),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        assert completed.returncode == 0, completed.stderr[-3000:]
        files = hub.repos["me/trainer-script"].files("main")
    assert {
        "model.safetensors",
        "processor_config.json",
        "pipeline_emotion.py",
        "modeling_tucker_av.py",
    } <= set(files)
    config = json.loads(files["config.json"])
    assert "custom_pipelines" in config and "AutoModel" in config["auto_map"]
