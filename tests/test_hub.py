"""Hub push round trip against a loopback Hub API (tests/hub_server.py), without the internet.

Push and load run in subprocesses with ``HF_ENDPOINT`` pointing at the loopback server (huggingface_hub reads it
at import); the load side cannot import hf_emotion, so everything it runs comes from the pushed repository.
"""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from hub_server import LoopbackHub
from pipeline_fixtures import TINY_CONFIG, write_clip
from transformers import pipeline

from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition
from hf_emotion.hub import push_to_hub, stage_model
from hf_emotion.models.pipeline_emotion import TASK, AudioVisualEmotionPipeline, register_pipeline
from hf_emotion.models.processing_emotion import EmotionProcessor, register_processors

register_pipeline()
register_processors(TuckerAVConfig)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    torch.manual_seed(0)
    config = TuckerAVConfig(**TINY_CONFIG)
    model = TuckerAVForEmotionRecognition(config).eval()
    model.save_pretrained(root / "model")
    EmotionProcessor.from_model_config(config).save_pretrained(root / "model")
    clip = write_clip(root / "clip.mp4")
    inputs = {
        "input_features": torch.randn(2, config.num_mel_bins, config.num_audio_frames),
        "pixel_values_videos": torch.randn(2, config.num_frames, 3, config.image_size, config.image_size),
    }
    torch.save(inputs, root / "inputs.pt")
    with torch.no_grad():
        torch.save(model(**inputs).logits, root / "expected_logits.pt")
    predictions = pipeline(TASK, model=str(root / "model"), pipeline_class=AudioVisualEmotionPipeline)(str(clip))
    (root / "expected.json").write_text(json.dumps(predictions))
    return root


def run_python(script: str, env: dict, cwd) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=cwd, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_stage_model_writes_everything_needed(saved, tmp_path):
    folder = stage_model(saved / "model", tmp_path / "staged", dataset_names=["synthetic"], repo_id="me/x")
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "processor_config.json", "README.md"} <= names
    assert {"pipeline_emotion.py", "modeling_tucker_av.py", "processing_emotion.py", "decoding.py"} <= names
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in names)  # safetensors only
    config = json.loads((folder / "config.json").read_text())
    assert (
        config["auto_map"]["AutoModelForAudioClassification"]
        == "modeling_tucker_av.TuckerAVForEmotionRecognition"
    )
    assert config["custom_pipelines"][TASK]["pt"] == ["AutoModelForAudioClassification"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        stage_model(tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ValueError, match="user/name"):
        push_to_hub(saved / "model", "no-namespace")


@pytest.mark.slow
def test_push_then_load_from_loopback_hub(saved, tmp_path):
    with LoopbackHub() as hub:
        env = {
            "PATH": "/usr/bin:/bin",
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf_home"),
            "HF_TOKEN": "hf_loopback_test_token",
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        push = f"""
        import json, torch
        from transformers import AutoModelForAudioClassification
        from hf_emotion.hub import push_to_hub
        info = push_to_hub({str(saved / "model")!r}, "me/tiny-av", dataset_names=["synthetic"],
                           eval_results={{"accuracy": 0.5, "uar": 0.4}}, protocol="actor-independent 5-fold")
        model = AutoModelForAudioClassification.from_pretrained({str(saved / "model")!r})
        model.push_to_hub("me/model-only")  # transformers' own push also carries auto_map and code
        print("PUSHED" + info.oid)
        """
        assert "PUSHED" in run_python(push, env, tmp_path)
        files = hub.repos["me/tiny-av"].files("main")
        assert {"model.safetensors", "README.md", "pipeline_emotion.py", "processor_config.json"} <= set(
            files
        )
        assert "modeling_tucker_av.py" in hub.repos["me/model-only"].files("main")

        load = f"""
        import json, sys
        sys.modules["hf_emotion"] = None  # everything must come from the pushed repositories
        import torch
        from transformers import AutoModelForAudioClassification, pipeline
        inputs = torch.load({str(saved / "inputs.pt")!r}, weights_only=True)
        expected = torch.load({str(saved / "expected_logits.pt")!r}, weights_only=True)
        for repo in ("me/tiny-av", "me/model-only"):
            model = AutoModelForAudioClassification.from_pretrained(repo, trust_remote_code=True).eval()
            assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
            with torch.no_grad():
                torch.testing.assert_close(model(**inputs).logits, expected, rtol=0, atol=0)
        classifier = pipeline(model="me/tiny-av", trust_remote_code=True)
        # The card's usage snippet, as published, with our clip.
        from huggingface_hub import ModelCard
        card = ModelCard.load("me/tiny-av")
        snippet = card.text.split("```python", 1)[1].split("```", 1)[0].replace("clip.mp4", {str(saved / "clip.mp4")!r})
        exec(snippet.replace("print(", "snippet_result = ("), globals())
        try:
            pipeline(model="me/no-such-repo", trust_remote_code=True)
        except OSError as error:
            missing = str(error)
        print("RESULT" + json.dumps([classifier({str(saved / "clip.mp4")!r}), snippet_result, missing,
                                    card.data.license, card.data.eval_results[0].metric_value]))
        """
        output = run_python(load, env, tmp_path)
    predictions, snippet_result, missing, licence, accuracy = json.loads(output.split("RESULT", 1)[1])
    expected = json.loads((saved / "expected.json").read_text())
    assert [p["label"] for p in predictions] == [p["label"] for p in expected]
    assert [p["score"] for p in predictions] == pytest.approx([p["score"] for p in expected], abs=1e-6)
    assert snippet_result == predictions[:3]
    assert "me/no-such-repo" in missing
    assert licence == "apache-2.0" and accuracy == pytest.approx(0.5)
    assert not hub.thread.is_alive()  # the server stopped with the test
