"""Training throughput and inference speed on a CUDA GPU; prints "skipped" and exits 0 where there is none.

Side by side in one run, on `cuda:0`, float32 and bf16 autocast (where the GPU has bf16):
- training clips/s (forward + backward + AdamW step, random inputs of the paper's shapes):
  `tucker_av` end to end (90 frames × 224² through ResNet-18, batch 4) and with cached frame features (batch 32);
  `rmlstm` with cached frame features (batch 32: T = 30, input 1,384, hidden 256, 2 layers) next to `nn.LSTM`
  of the same sizes (the mogrifier recurrence's per-step loop on the GPU against cuDNN's fused kernel);
- inference: the `audio-visual-emotion-recognition` pipeline on a 3-s 1280×720 clip (decode on the CPU, the model
  on the GPU through the path the pipeline picks), RTF = seconds ÷ 3, split into decode + features and model;
  and a model loaded with `from_pretrained(..., device_map="cuda:0")`.

Usage: ``python benchmarks/bench_gpu.py [--repeats 5]``. Prints Markdown.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

CLIP_SECONDS = 3.0


def timed(function, repeats: int, label: str) -> float:
    """Median seconds of `repeats` synchronised calls after two warm-up calls."""
    for _ in range(2):
        function()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    print(f"[bench] {label}: {statistics.median(times):.4f} s", file=sys.stderr, flush=True)
    return statistics.median(times)


def autocast(dtype: torch.dtype | None):
    return torch.autocast("cuda", dtype=dtype) if dtype is not None else nullcontext()


def training_step(model: nn.Module, inputs: dict, dtype: torch.dtype | None):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with autocast(dtype):
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def training_rows(repeats: int, dtypes: dict) -> list[tuple[str, str, float]]:
    from hf_emotion import (
        RMLSTMConfig,
        RMLSTMForEmotionRecognition,
        TuckerAVConfig,
        TuckerAVForEmotionRecognition,
    )

    device = torch.device("cuda")
    rows = []
    tucker = TuckerAVConfig()
    cases = {
        "tucker_av end to end (pixels, ResNet-18), batch 4": (
            TuckerAVForEmotionRecognition(tucker),
            {
                "input_features": torch.randn(4, tucker.num_mel_bins, tucker.num_audio_frames),
                "pixel_values_videos": torch.rand(
                    4, tucker.num_frames, 3, tucker.image_size, tucker.image_size
                ),
            },
        ),
        "tucker_av, cached frame features, batch 32": (
            TuckerAVForEmotionRecognition(TuckerAVConfig(frame_encoder=None)),
            {
                "input_features": torch.randn(32, tucker.num_mel_bins, tucker.num_audio_frames),
                "frame_features": torch.randn(32, tucker.num_frames, tucker.frame_feature_dim),
            },
        ),
    }
    rmlstm = RMLSTMConfig(frame_encoder=None)
    cases["rmlstm, cached frame features, batch 32"] = (
        RMLSTMForEmotionRecognition(rmlstm),
        {
            "input_features": torch.randn(32, rmlstm.num_mfcc, 300),
            "frame_features": torch.randn(32, rmlstm.num_frames, rmlstm.frame_feature_dim),
            "text_features": torch.rand(32, rmlstm.text_feature_dim),
        },
    )
    for name, (model, inputs) in cases.items():
        model = model.to(device).train()
        batch = next(iter(inputs.values())).shape[0]
        inputs = {k: v.to(device) for k, v in inputs.items()}
        inputs["labels"] = torch.randint(0, model.config.num_labels, (batch,), device=device)
        for label, dtype in dtypes.items():
            seconds = timed(training_step(model, inputs, dtype), repeats, f"{name} {label}")
            rows.append((name, label, batch / seconds))
        model.cpu()
    # the recurrence alone against cuDNN's LSTM, forward + backward
    x = torch.randn(32, rmlstm.num_time_steps, rmlstm.fused_feature_size, device=device)
    lstm = nn.LSTM(rmlstm.fused_feature_size, rmlstm.hidden_size, num_layers=2, batch_first=True).to(device)
    from hf_emotion.models.modeling_rmlstm import RMLSTMEncoder

    encoder = RMLSTMEncoder(rmlstm).to(device)
    for label, dtype in dtypes.items():
        for name, module in (
            ("nn.LSTM (cuDNN), fwd+bwd, batch 32", lstm),
            ("RMLSTM encoder, fwd+bwd", encoder),
        ):

            def run(module=module, dtype=dtype):
                with autocast(dtype):
                    out = module(x)  # nn.LSTM: (output, state); the encoder: every layer's output
                (out[0] if module is lstm else out[-1]).float().sum().backward()

            seconds = timed(run, repeats, f"{name} {label}")
            rows.append((name, label, 32 / seconds))
    return rows


def inference_rows(repeats: int) -> list[tuple[str, float]]:
    from pipeline_fixtures import write_clip
    from transformers import AutoModelForAudioClassification, pipeline

    from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition
    from hf_emotion.models.pipeline_emotion import TASK, register_pipeline
    from hf_emotion.models.processing_emotion import EmotionProcessor, register_processors

    register_pipeline()
    register_processors(TuckerAVConfig)
    config = TuckerAVConfig()
    model = TuckerAVForEmotionRecognition(config).eval()
    processor = EmotionProcessor.from_model_config(config)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = str(write_clip(Path(tmp) / "clip.mp4", duration_s=CLIP_SECONDS, fps=30, size=(720, 1280)))
        features = timed(lambda: processor(videos=clip), repeats, "decode + features")
        classifier = pipeline(TASK, model=model, processor=processor, device=0)
        inputs = {k: v.to("cuda") for k, v in processor(videos=clip).items()}
        with torch.no_grad():
            from hf_emotion.models.acceleration import inference_context

            def model_only():
                with inference_context(classifier.model, classifier._plan):
                    classifier.model(**inputs)

            model_seconds = timed(model_only, repeats, "model")
        total = timed(lambda: classifier(clip), repeats, "pipeline")
        rows += [
            (f"pipeline ({classifier.inference_path})", total),
            ("  decode + features (CPU)", features),
            ("  model (GPU)", model_seconds),
        ]
        model.save_pretrained(Path(tmp) / "model")
        mapped = AutoModelForAudioClassification.from_pretrained(
            Path(tmp) / "model", device_map="cuda:0"
        ).eval()
        with torch.no_grad():
            rows.append(
                ("model loaded with device_map='cuda:0'", timed(lambda: mapped(**inputs), repeats, "mapped"))
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("No CUDA device here: skipped (run this on a GPU machine).")
        return
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    props = torch.cuda.get_device_properties(0)
    dtypes = {"float32": None}
    if torch.cuda.is_bf16_supported():
        dtypes["bf16 autocast"] = torch.bfloat16
    print(
        f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, compute capability {props.major}.{props.minor}; "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}\n"
    )
    print("| training | precision | clips / s |")
    print("|---|---|---|")
    for name, label, rate in training_rows(args.repeats, dtypes):
        print(f"| {name} | {label} | {rate:.1f} |")
    print("\n| inference, 3-s 1280×720 clip | seconds | RTF |")
    print("|---|---|---|")
    for name, seconds in inference_rows(args.repeats):
        print(f"| {name} | {seconds:.3f} | {seconds / CLIP_SECONDS:.3f} |")


if __name__ == "__main__":
    main()
