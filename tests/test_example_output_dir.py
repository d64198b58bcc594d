"""examples/train_accelerate.py refuses an output folder that is, holds or lies inside one of its inputs (data,
features or cache folder), like the CLI, before anything is written; the inputs survive `--overwrite`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from accelerate.state import AcceleratorState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from training_fixtures import make_feature_dataset  # noqa: E402


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def example_main():
    AcceleratorState._reset_state(True)
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import train_accelerate
    finally:
        sys.path.pop(0)
    yield train_accelerate.main
    AcceleratorState._reset_state(True)


def test_example_refuses_an_output_folder_inside_or_around_its_inputs(example_main, tmp_path):
    features = tmp_path / "features"
    make_feature_dataset(n_speakers=2, clips_per_label=1).save_to_disk(str(features))
    data = tmp_path / "corpus"
    (data / "Actor_01").mkdir(parents=True)
    (data / "Actor_01" / "keep.txt").write_text("the user's data")
    before = {"features": _snapshot(features), "data": _snapshot(data)}
    cases = [
        (["--features_dir", str(features)], features, "is the input"),
        (["--features_dir", str(features)], features / "run", "lies inside the input"),
        (["--features_dir", str(features)], tmp_path, "contains the input"),
        (["--data_dir", str(data), "--corpus", "ravdess"], data / "runs" / "a", "lies inside the input"),
        (
            ["--features_dir", str(features), "--cache_dir", str(tmp_path / "out" / "cache")],
            tmp_path / "out",
            "contains",
        ),
    ]
    for arguments, output, message in cases:
        with pytest.raises(ValueError, match=message):
            example_main([*arguments, "--output_dir", str(output), "--overwrite", "true"])
    assert {"features": _snapshot(features), "data": _snapshot(data)} == before
    assert not (features / "run").exists() and not (data / "runs").exists()
