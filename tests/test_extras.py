"""Without the optional extras, the package still imports and the CLI says which extra is missing in one line."""

import subprocess
import sys
import textwrap


def test_core_import_and_cli_message_without_the_train_extra():
    script = textwrap.dedent(
        """
        import sys
        for name in ("accelerate", "matplotlib", "onnx", "onnxruntime"):
            sys.modules[name] = None  # as if the extras were not installed
        import hf_emotion  # the models, processor and pipeline need no extra
        from hf_emotion.cli import main
        sys.exit(main(["predict", "clip.mp4", "--model", "m"]))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "error: the hf-emotion commands need accelerate (pip install 'hf_emotion[train]')"
    ]
