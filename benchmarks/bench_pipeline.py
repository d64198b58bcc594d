"""Inference speed of the audio-visual emotion pipeline on CPU, against what a user would pick instead.

On a generated 3-s clip at RAVDESS resolution (1280×720, 30 fps, 16 kHz AAC), side by side in one process:
- hf_emotion's pipeline with the paper-size `tucker_av` (128 × 256 log-Mel, 90 frames at 224 px through
  ResNet-18, random init): real-time factor (RTF = processing time ÷ 3 s), decode included, with the model as
  loaded (float32) and on the path the pipeline picks for this machine (`optimize=True`, the default: the frame
  encoder on a bf16 inference copy — BatchNorm folded, frames in chunks, channels-last — where the CPU has bf16
  arithmetic, float32 copies elsewhere), the time split into decode, features and model, the logit change of the
  picked path against float32, and the frame encoder alone with each speed idea added in turn (`--inductor`:
  also compiled by Inductor with freezing);
- transformers' `video-classification` pipeline with a VideoMAE-base config and `audio-classification` with a
  wav2vec2-base config (random init, nothing downloaded) on the same clip;
- the physical limit: the frame encoder's FLOPs per clip ÷ this machine's measured peak GEMM rate in the same
  dtype, as a fraction of the model-only time.
- `--onnx`: model-only latency through ONNX Runtime (float32), and `--int8` its static int8 quantisation
  (calibrated on synthetic clips) with its agreement with float32 on held-out synthetic clips.

Usage: ``python benchmarks/bench_pipeline.py [--repeats 3] [--threads 2] [--onnx] [--int8] [--inductor]``. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pipeline_fixtures import write_clip  # noqa: E402
from transformers import pipeline  # noqa: E402

from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition  # noqa: E402
from hf_emotion.models import acceleration  # noqa: E402
from hf_emotion.models.decoding import load_audio  # noqa: E402
from hf_emotion.models.pipeline_emotion import TASK, register_pipeline  # noqa: E402
from hf_emotion.models.processing_emotion import EmotionProcessor, register_processors  # noqa: E402

CLIP_SECONDS = 3.0
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")


def timed(function, repeats: int, label: str) -> float:
    """Best wall time of `repeats` calls after one warm-up call (the machine may be shared: the fastest run is the
    one least disturbed; every run goes to stderr)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    print(f"[bench] {label}: {min(times):.3f} s (runs: {times})", file=sys.stderr, flush=True)
    return min(times)


def machine() -> str:
    model, flags = acceleration.cpu_description()
    present = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in FLAGS)
    return (
        f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; CPU flags: "
        f"{present}; bf16 arithmetic: {'yes' if acceleration.cpu_has_bf16_arithmetic() else 'no'}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def peak_gemm_flops(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """The machine's GEMM rate (FLOP/s) for a large square product in `dtype`: the best of `repeats`, through
    `torch.mm` or oneDNN's linear, whichever is faster here (MKL takes a generic path on some CPUs)."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    products = [lambda: torch.mm(a, b)]
    onednn = acceleration.private_op("mkldnn._linear_pointwise")
    if onednn is not None:
        products.append(lambda: onednn(a, b, None, "none", [], ""))
    best = float("inf")
    for product in products:
        try:
            product()
        except RuntimeError:  # no oneDNN kernel for this dtype
            continue
        best = min([best] + [timed_once(product) for _ in range(repeats)])
    return 2 * size**3 / best


def timed_once(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def frame_encoder_flops(model, pixel_values: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    encoder = acceleration.frame_encoders(model)[0]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        encoder(pixel_values)
    return counter.get_total_flops()


def frame_encoder_variants(model, pixels: torch.Tensor, plan, args) -> list[tuple[str, float]]:
    """The frame encoder alone, each speed idea added in turn, side by side: the previous path (autocast,
    channels-last weights, all frames in one call), then BatchNorm folded, then the frames in chunks (the picked
    inference copy), and with `--inductor` the copy compiled by Inductor with `freezing` (its compile time shown)."""
    import copy

    encoder = acceleration.frame_encoders(model)[0]
    flat = pixels.flatten(0, 1).contiguous(memory_format=torch.channels_last)  # (frames, 3, size, size)
    dtype = plan.frame_encoder_dtype
    previous = copy.deepcopy(encoder.backbone).to(memory_format=torch.channels_last)
    folded = acceleration._inference_copy(encoder.backbone, dtype, channels_last=False).module
    chunk = acceleration.inference_frame_chunk(flat.shape[-1], plan.device)

    def autocast_all():
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            return previous(flat)

    def chunked(module, size):
        return lambda: torch.cat([module(part.to(dtype)) for part in flat.split(size)])

    name = str(dtype).replace("torch.", "")
    rows = [
        (
            f"  frame encoder, previous path ({name} autocast, all {flat.shape[0]} frames per call)",
            autocast_all,
        ),
        (
            f"  frame encoder, + BatchNorm folded ({name} weights, all frames per call)",
            chunked(folded, len(flat)),
        ),
        (f"  frame encoder, + {chunk} frames per call (the picked inference copy)", chunked(folded, chunk)),
    ]
    if args.inductor:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(copy.deepcopy(folded))
        start = time.perf_counter()
        compiled(flat[:chunk].to(dtype))
        compile_s = time.perf_counter() - start
        rows.append(
            (f"  frame encoder, Inductor + freezing (first call {compile_s:.0f} s)", chunked(compiled, chunk))
        )
    return [(label, timed(run, args.repeats, label.strip())) for label, run in rows]


def baselines(clip: str, repeats: int) -> list[tuple[str, float]]:
    """transformers' own pipelines a user might pick instead, random init (configs only, nothing downloaded)."""
    from transformers import (
        VideoMAEConfig,
        VideoMAEForVideoClassification,
        VideoMAEImageProcessor,
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
    )

    labels = {
        "id2label": {i: f"label_{i}" for i in range(8)},
        "label2id": {f"label_{i}": i for i in range(8)},
    }
    video = pipeline(
        "video-classification",
        model=VideoMAEForVideoClassification(VideoMAEConfig(**labels)).eval(),  # base: 16 frames at 224 px
        image_processor=VideoMAEImageProcessor(),
        device=-1,
    )
    audio = pipeline(
        "audio-classification",
        model=Wav2Vec2ForSequenceClassification(Wav2Vec2Config(**labels)).eval(),  # base
        feature_extractor=Wav2Vec2FeatureExtractor(),
        device=-1,
    )
    return [
        (
            "transformers `video-classification`, VideoMAE-base (16 frames over the clip)",
            timed(lambda: video(clip, frame_sampling_rate=5), repeats, "VideoMAE-base pipeline"),
        ),
        (  # its ffmpeg pipe cannot read an .mp4 (the index is at the end): the sound track decoded by torchcodec
            "transformers `audio-classification`, wav2vec2-base (audio decoded by torchcodec)",
            timed(
                lambda: audio({"raw": load_audio(clip, 16000), "sampling_rate": 16000}),
                repeats,
                "wav2vec2-base pipeline",
            ),
        ),
    ]


def onnx_rows(model, processor, inputs: dict, args, tmp: str) -> tuple[list[tuple[str, float]], list[str]]:
    """Model-only latency through ONNX Runtime, float32 and (with `--int8`) static int8 calibrated on synthetic
    clips (`hf_emotion.onnx_export.quantize_onnx`), each row naming its logit change against PyTorch float32 on the
    clip; with `--int8`, notes on the int8 graph's agreement with float32 on held-out synthetic clips."""
    import numpy as np
    import onnxruntime

    from hf_emotion.data.synthetic import make_synthetic_corpus
    from hf_emotion.onnx_export import calibration_inputs, export_onnx, onnx_input_names, quantize_onnx

    path = export_onnx(model, Path(tmp) / "model.onnx", batch_size=1)
    paths = {"ONNX Runtime, float32": path}
    notes = []
    if args.int8:
        corpus = make_synthetic_corpus(Path(tmp) / "corpus", n_actors=2, statements=1)  # 2 actors x 15 clips
        clips = sorted(str(p) for p in corpus.root.rglob("*.mp4"))
        names = onnx_input_names(model)
        calibration = [c for c in clips if "Actor_01" in c][: args.calibration_clips]
        held_out = calibration_inputs(processor, [c for c in clips if "Actor_02" in c], names)
        start = time.perf_counter()
        paths["ONNX Runtime, static int8 (QDQ)"] = quantize_onnx(
            path, Path(tmp) / "model.int8.onnx", calibration_inputs(processor, calibration, names)
        )
        notes.append(
            f"int8 calibration on {len(calibration)} clips of actor 1: {time.perf_counter() - start:.0f} s"
        )
    feed = {name: value.numpy() for name, value in inputs.items()}
    with torch.no_grad():
        reference = model(**inputs).logits
    rows, sessions = [], {}
    for name, onnx_path in paths.items():
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = sessions[name] = onnxruntime.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        seconds = timed(lambda s=session: s.run(["logits"], feed), args.repeats, name)
        change = (torch.from_numpy(session.run(["logits"], feed)[0]) - reference).abs().max().item()
        rows.append((f"model only, {name} (logits change {change:.4f})", seconds))
    if args.int8:
        float32, int8 = (
            np.concatenate([sessions[n].run(["logits"], x)[0] for x in held_out]) for n in paths
        )  # (clips, num_labels)
        agreement = (float32.argmax(1) == int8.argmax(1)).mean()
        notes.append(
            f"int8 vs float32 on {len(held_out)} held-out synthetic clips (actor 2): top-1 agreement "
            f"{agreement:.0%}, max |Δ logit| {np.abs(int8 - float32).max():.4f} (float32 logits up to "
            f"{np.abs(float32).max():.3f})"
        )
    return rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--onnx", action="store_true", help="also time the model through ONNX Runtime")
    parser.add_argument("--int8", action="store_true", help="with --onnx: also ONNX Runtime static int8")
    parser.add_argument(
        "--calibration-clips", type=int, default=8, help="synthetic clips to calibrate int8 on"
    )
    parser.add_argument("--inductor", action="store_true", help="also the frame encoder through Inductor")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"Machine at the start: {machine()}\n")
    register_pipeline()
    register_processors(TuckerAVConfig)
    config = TuckerAVConfig()  # the paper's sizes: 128×256 log-Mel, 90 frames at 224 px, ResNet-18
    model = TuckerAVForEmotionRecognition(config).eval()
    processor = EmotionProcessor.from_model_config(config)
    plan = acceleration.inference_plan("cpu")
    float32_plan = acceleration.inference_plan("cpu", "float32")
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = str(write_clip(Path(tmp) / "clip.mp4", duration_s=CLIP_SECONDS, fps=30, size=(720, 1280)))
        window = processor.decode(clip)
        decode = timed(lambda: processor.decode(clip), args.repeats, "decode")
        features = timed(
            lambda: processor(
                videos=window.frames, audio=window.waveform, sampling_rate=window.sampling_rate
            ),
            args.repeats,
            "features",
        )
        inputs = dict(processor(videos=clip))
        with torch.no_grad():
            reference = model(**inputs).logits
            as_loaded = timed(lambda: model(**inputs), args.repeats, "model as loaded")
            as_loaded_pipeline = pipeline(TASK, model=model, processor=processor, device=-1, optimize=False)
            loaded_total = timed(lambda: as_loaded_pipeline(clip), args.repeats, "pipeline as loaded")

            def on_plan(which):
                def run():
                    with acceleration.inference_context(model, which):
                        return model(**inputs)

                return run

            float32_copies = timed(on_plan(float32_plan), args.repeats, "model, float32 inference copies")
            picked = timed(on_plan(plan), args.repeats, f"model, {plan.describe()}")
            picked_logits = on_plan(plan)().logits
            classifier = pipeline(TASK, model=model, processor=processor, device=-1)
            picked_total = timed(lambda: classifier(clip), args.repeats, "pipeline, picked path")
            encoder_rows = frame_encoder_variants(model, inputs["pixel_values_videos"], plan, args)
        rows += [
            (f"**pipeline, picked path ({classifier.inference_path})**", picked_total),
            ("  decode (90 frames + 16 kHz audio, torchcodec)", decode),
            ("  features (log-Mel + frame normalisation)", features),
            ("  model (picked path)", picked),
            ("pipeline, model as loaded (float32, contiguous)", loaded_total),
            ("  model as loaded (float32, contiguous)", as_loaded),
            ("  model, float32 inference copies (what a CPU without bf16 gets)", float32_copies),
            *encoder_rows,
        ]
        if not args.skip_baselines:
            rows += baselines(clip, args.repeats)
        notes = []
        if args.onnx:
            onnx_table, notes = onnx_rows(model, processor, {k: v[:1] for k, v in inputs.items()}, args, tmp)
            rows += onnx_table
        flops = frame_encoder_flops(model, inputs["pixel_values_videos"])
    peak = peak_gemm_flops(plan.frame_encoder_dtype)
    peak_fp32 = peak if plan.frame_encoder_dtype == torch.float32 else peak_gemm_flops(torch.float32)
    change = (picked_logits.float() - reference).abs().max().item()
    print(f"3-s clip, 1280x720 @ 30 fps, AAC 16 kHz; best of {args.repeats} runs after a warm-up\n")
    print("| measurement | seconds per clip | RTF |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | {seconds / CLIP_SECONDS:.3f} |")
    target = 0.25 if acceleration.cpu_has_bf16_arithmetic() else 0.5
    print(
        f"\nPicked path: RTF {picked_total / CLIP_SECONDS:.3f} (target ≤ {target} on this CPU); "
        f"{loaded_total / picked_total:.1f}× faster than the model as loaded; logits change "
        f"{change:.4f} (max |Δ|, logits up to {reference.abs().max().item():.3f}; stated tolerance "
        f"{acceleration.BF16_LOGIT_TOLERANCE})."
    )
    dtype = str(plan.frame_encoder_dtype).replace("torch.", "")
    print(
        f"\nPhysical limit: the frame encoder does {flops / 1e9:.0f} GFLOP per clip; this machine's peak GEMM rate "
        f"is {peak / 1e9:.0f} GFLOP/s in {dtype} ({peak_fp32 / 1e9:.0f} in float32), so the frame encoder needs "
        f"at least {flops / peak:.3f} s ({flops / peak / CLIP_SECONDS:.3f} RTF); the model-only time "
        f"{picked:.3f} s is {flops / peak / picked:.0%} of the physical limit's speed (the frame encoder at peak "
        f"/ the whole model measured)."
    )
    for note in notes:
        print(f"\n{note}")
    print(f"\nMachine at the end: {machine()}")


if __name__ == "__main__":
    main()
