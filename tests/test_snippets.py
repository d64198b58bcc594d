"""Every ```python block of README.md and of the rendered model cards runs (issue 11: a snippet that does not run
fails CI).

The blocks run in a temporary folder holding what they name: ``clip.mp4`` (a short video), ``demo_output/model``
(a tiny trained tucker_av folder) and ``RAVDESS/`` (a small RAVDESS-layout corpus). A block that does not mention
`hf_emotion` runs where `hf_emotion` cannot be imported: the saved folders' ``custom_pipelines`` and code must be
enough (no ``import hf_emotion`` first).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_fixtures import make_ravdess

from hf_emotion.cards import create_model_card

REPO = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)

RUNNER = """
import json, sys
blocks = json.loads(open(sys.argv[1]).read())
if sys.argv[2] == "without":
    sys.modules["hf_emotion"] = None  # the block must not need the package
for name, code in blocks:
    try:
        exec(compile(code, name, "exec"), {"__name__": "__snippet__"})
    except Exception as error:
        raise SystemExit(f"{name} failed: {type(error).__name__}: {error}")
    print("RAN", name, flush=True)
"""


def python_blocks(text: str) -> list[str]:
    return [block for block in BLOCK.findall(text) if ">>>" not in block]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_folders, clip_path):
    root = tmp_path_factory.mktemp("snippets")
    shutil.copyfile(clip_path, root / "clip.mp4")
    shutil.copytree(tiny_folders["tucker_av"], root / "demo_output" / "model")
    make_ravdess(root / "RAVDESS")
    return root


def run_blocks(blocks: list[tuple[str, str]], workdir: Path, hf_emotion: bool) -> str:
    (workdir / "blocks.json").write_text(json.dumps(blocks))
    (workdir / "runner.py").write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(workdir / "modules"), HF_HUB_OFFLINE="1")
    if hf_emotion:
        env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, *([] if hf_emotion else ["-I"]), "runner.py", "blocks.json"]
    result = subprocess.run(
        [*command, "with" if hf_emotion else "without"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_readme_blocks_run(workdir):
    blocks = [
        (f"README.md block {i}", code)
        for i, code in enumerate(python_blocks((REPO / "README.md").read_text()))
    ]
    assert len(blocks) >= 3
    with_package = [b for b in blocks if "hf_emotion" in b[1]]
    without = [b for b in blocks if "hf_emotion" not in b[1]]
    assert without, "the README's pipeline snippet should not need `import hf_emotion`"
    output = run_blocks(with_package, workdir, hf_emotion=True) + run_blocks(
        without, workdir, hf_emotion=False
    )
    assert output.count("RAN") == len(blocks)


@pytest.mark.parametrize("model_type", ["tucker_av", "rmlstm"])
def test_model_card_blocks_run_without_the_package(model_type, workdir, tiny_folders):
    """The rendered card's usage snippet, with the Hub id replaced by the saved folder, runs without hf_emotion
    (the rmlstm one passes the transcript the model needs)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_folders[model_type])
    card = create_model_card(config, repo_id=str(tiny_folders[model_type]), dataset_names=["synthetic"])
    blocks = [(f"{model_type} card block {i}", code) for i, code in enumerate(python_blocks(card.text))]
    assert blocks and all("hf_emotion" not in code for _, code in blocks)
    if model_type == "rmlstm":
        assert "transcript=" in blocks[0][1]
    output = run_blocks(blocks, workdir, hf_emotion=False)
    assert output.count("RAN") == len(blocks)
