"""Regenerate RESULTS.md's scenario and robustness tables: which fusion wins on which synthetic scenario, and what a
missing or degraded modality does to each model.

For each scenario (additive, interaction, timing, degraded) it writes a small corpus with the package's generator,
decodes every clip once, featurises it through each model family's own processor, and trains every model row on
the speaker-independent folds for each seed with the package's training loop (`train_fold`). The robustness table
evaluates the additive-scenario models on their test actors with one modality corrupted at test time
(`hf_emotion.training.robustness`), trained without and with modality dropout.

Settings (fit a 2-core CPU: the whole grid takes about an hour): 24 actors × 15 clips (one statement, one
repetition; RAVDESS's actor count), 3 speaker-independent folds of 8 actors, seeds 0-2; 16 frames and 16 aligned
steps per 3 s clip; log-Mel 32 × 64 (tucker_av) / 20 MFCC (rmlstm); video as 32 × 32 grey pixels per frame
(`frame_features`, 1024-d; a frozen *random* ResNet-18 does not see the synthetic faces' cues and pretrained
weights cannot be downloaded here); every feature standardised with its training fold's mean and std, so the
loop's augmentation (made for the processor's log-Mel values) is off; AdamW (lr 2e-3, weight decay 1e-4, none on
norms and biases), batch 16, 30 epochs. The modality-dropout rows use the loop's own option
(`LoopArguments.modality_dropout`: with probability MODALITY_DROPOUT a clip's input of one modality becomes what a
missing stream gives — the standardised features of muted audio or of black frames).

Usage:
    python examples/experiments/fusion_scenarios.py --work-dir runs/scenarios            # everything
    python examples/experiments/fusion_scenarios.py --work-dir runs/scenarios --scenarios timing --models tucker
    python examples/experiments/fusion_scenarios.py --work-dir runs/scenarios --report   # tables only

Each (scenario, model, seed, fold) result is a JSON file under WORK_DIR/results; existing ones are skipped, so an
interrupted run resumes and several processes can share the work (give them different --models).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Array2D, ClassLabel, Dataset, Features, Value

from hf_emotion.data import load_synthetic, make_synthetic_corpus, speaker_independent_folds
from hf_emotion.data.labels import RAVDESS_LABELS
from hf_emotion.data.synthetic_scenarios import CEILINGS, CHANCE, SCENARIOS
from hf_emotion.models.processing_emotion import EmotionProcessor
from hf_emotion.training import LoopArguments, build_config
from hf_emotion.training.loop import evaluate_model
from hf_emotion.training.outputs import train_fold
from hf_emotion.training.robustness import CORRUPTIONS, corrupted_inputs, decode_clips

N_ACTORS, N_FOLDS, SEEDS, FRAMES, PIXELS, EPOCHS = 24, 3, (0, 1, 2), 16, 32, 30
MODALITY_DROPOUT = 0.5  # the "modality dropout" rows: LoopArguments.modality_dropout
TUCKER = {
    "num_mel_bins": 32,
    "num_audio_frames": 64,
    "audio_conv_channels": [8, 16, 32],
    "num_frames": FRAMES,
    "image_size": PIXELS,
    "frame_encoder": None,
    "frame_feature_dim": PIXELS * PIXELS,
    "freeze_backbone": False,
    "gru_hidden_size": 16,
    "hidden_size": 32,
    "tucker_audio_rank": 16,
    "tucker_video_rank": 16,
    "fbp_output_size": 64,
}
RMLSTM = {
    "num_mfcc": 20,
    "num_frames": FRAMES,
    "image_size": PIXELS,
    "frame_encoder": None,
    "frame_feature_dim": PIXELS * PIXELS,
    "freeze_backbone": False,
    "hidden_size": 32,
    "modalities": ["audio", "video"],
}
SETTINGS = (
    f"{N_ACTORS}a_{FRAMES}f_{PIXELS}px_{TUCKER['num_mel_bins']}x{TUCKER['num_audio_frames']}mel_{EPOCHS}e"
)
MODELS = {  # row name: (model type, preset, overrides)
    "tucker": ("tucker_av", "demo", TUCKER),
    "tucker_additive": ("tucker_av", "demo", {**TUCKER, "fusion_additive_path": True}),
    "tucker_additive_pe": (
        "tucker_av",
        "demo",
        {**TUCKER, "fusion_additive_path": True, "cross_attention_position_encoding": True},
    ),
    "concat": ("tucker_av", "demo", {**TUCKER, "fusion_type": "concat"}),
    "rmlstm": ("rmlstm", "cached", RMLSTM),
    "rmlstm_audio_only": ("rmlstm", "cached", {**RMLSTM, "modalities": ["audio"]}),
    "rmlstm_video_only": ("rmlstm", "cached", {**RMLSTM, "modalities": ["video"]}),
    "audio_only": ("tucker_av", "demo", {**TUCKER, "modalities": ["audio"]}),
    "video_only": ("tucker_av", "demo", {**TUCKER, "modalities": ["video"]}),
}
ROW_NAMES = {
    "tucker": "tucker_av, Tucker fusion (fixed init)",
    "tucker_additive": "tucker_av, Tucker + additive path",
    "tucker_additive_pe": "tucker_av, Tucker + additive path + position encoding",
    "concat": "tucker_av, concat",
    "rmlstm": "rmlstm, audio + video",
    "rmlstm_audio_only": "rmlstm, audio only",
    "rmlstm_video_only": "rmlstm, video only",
    "audio_only": "tucker_av, audio only",
    "video_only": "tucker_av, video only",
}
METRICS = ("accuracy", "uar", "macro_f1")
ROBUST_MODELS = ("tucker", "tucker_additive", "concat", "rmlstm")


def loop_args(output_dir: Path, seed: int, dropout: bool = False) -> LoopArguments:
    return LoopArguments(
        output_dir=str(output_dir),
        num_train_epochs=EPOCHS,
        per_device_train_batch_size=16,
        learning_rate=2e-3,
        seed=seed,
        eval_every_epoch=False,
        progress=False,
        logging_steps=50,
        augment=False,  # the inputs here are fold-standardised features, not the processor's log-Mel values
        modality_dropout=MODALITY_DROPOUT if dropout else 0.0,
    )


def _grey_pixels(pixel_values: torch.Tensor) -> np.ndarray:
    """(clips, frames, 3, size, size) → (clips, frames, size·size) channel-mean pixels: the frame features."""
    return pixel_values.float().mean(dim=2).flatten(2).numpy()


def scenario_features(work_dir: Path, scenario: str) -> dict:
    """Corpus, decoded clips and each family's processor outputs (clean, and every corruption for the
    additive scenario), cached in WORK_DIR/features/<scenario>.npz."""
    cache = work_dir / "features" / f"{scenario}_{SETTINGS}.npz"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return {key: data[key] for key in data.files}
    corpus = make_synthetic_corpus(
        work_dir / "corpora" / scenario, n_actors=N_ACTORS, statements=1, repetitions=1, scenario=scenario
    )
    dataset = load_synthetic(corpus.root)
    corruptions = CORRUPTIONS if scenario == "additive" else ("clean",)
    arrays = {"label": np.array(dataset["label"]), "speaker": np.array(dataset["speaker"])}
    clips = None
    for family in ("tucker_av", "rmlstm"):
        name = "tucker" if family == "tucker_av" else "rmlstm"
        config = build_config(family, dict(enumerate(RAVDESS_LABELS)), MODELS[name][1], MODELS[name][2])
        processor = EmotionProcessor.from_model_config(config)
        clips = clips or decode_clips(dataset["path"], processor)  # both families sample FRAMES frames
        for corruption in corruptions:
            features = corrupted_inputs(processor, clips, corruption)
            arrays[f"{family}/{corruption}/audio"] = features["input_features"].numpy()
            arrays[f"{family}/{corruption}/video"] = _grey_pixels(features["pixel_values_videos"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return arrays


def _dataset(audio: np.ndarray, video: np.ndarray, labels: np.ndarray, speakers: np.ndarray) -> Dataset:
    features = Features(
        {
            "input_features": Array2D(audio.shape[1:], "float32"),
            "frame_features": Array2D(video.shape[1:], "float32"),
            "label": ClassLabel(names=list(RAVDESS_LABELS)),
            "speaker": Value("string"),
        }
    )
    data = {"input_features": audio, "frame_features": video, "label": labels, "speaker": speakers}
    dataset = Dataset.from_dict({k: list(v) for k, v in data.items()}, features=features)
    dataset.info.dataset_name = "synthetic"
    return dataset.with_format("numpy")


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Per feature (last axis... and for spectrograms the feature axis 1) z-scores with the training side's stats."""
    axes = (0, 2) if train.shape[1] != FRAMES else (0, 1)  # (clips, mels, frames) or (clips, frames, dim)
    mean, std = train.mean(axis=axes, keepdims=True), train.std(axis=axes, keepdims=True) + 1e-5
    return [((x - mean) / std).astype(np.float32) for x in (train, *others)]


def run_cell(work_dir: Path, scenario: str, model: str, seed: int, fold: int, dropout: bool = False) -> dict:
    """Train one model on one fold; evaluate it clean (and under each corruption for the additive scenario)."""
    tag = f"{scenario}__{model}{'__dropout' if dropout else ''}__s{seed}__f{fold}"
    path = work_dir / "results" / SETTINGS / f"{tag}.json"
    if path.is_file():
        return json.loads(path.read_text())
    arrays = scenario_features(work_dir, scenario)
    model_type, preset, overrides = MODELS[model]
    family = model_type
    labels, speakers = arrays["label"], arrays["speaker"]
    _, test_rows = speaker_independent_folds(
        Dataset.from_dict({"speaker": speakers.tolist()}), n_folds=N_FOLDS, corpus="synthetic"
    )[fold]
    test = np.isin(np.arange(len(labels)), test_rows)
    clean_audio, clean_video = arrays[f"{family}/clean/audio"], arrays[f"{family}/clean/video"]
    train_audio, train_video, train_labels = clean_audio[~test], clean_video[~test], labels[~test]
    corruptions = CORRUPTIONS if scenario == "additive" and model in ROBUST_MODELS else ("clean",)
    test_sets = {
        c: (arrays[f"{family}/{c}/audio"][test], arrays[f"{family}/{c}/video"][test]) for c in corruptions
    }
    audio_sets = _standardise(train_audio, *(a for a, _ in test_sets.values()))
    video_sets = _standardise(train_video, *(v for _, v in test_sets.values()))
    train_speakers = np.array(["train"] * len(train_labels))
    splits = {
        "train": _dataset(audio_sets[0], video_sets[0], train_labels, train_speakers),
        "test": _dataset(audio_sets[1], video_sets[1], labels[test], speakers[test]),
    }
    missing = None
    if dropout:  # what a missing stream gives (muted audio, black frames), standardised like every input here
        names = list(test_sets)
        missing = {
            "input_features": torch.as_tensor(audio_sets[1 + names.index("audio_muted")][0]),
            "frame_features": torch.as_tensor(video_sets[1 + names.index("video_missing")][0]),
        }
    config = build_config(model_type, dict(enumerate(RAVDESS_LABELS)), preset, overrides)
    started = time.perf_counter()
    trained, result = train_fold(
        config, splits, loop_args(work_dir / "runs" / tag, seed, dropout), missing_inputs=missing
    )
    row = {"scenario": scenario, "model": model, "dropout": dropout, "seed": seed, "fold": fold}
    row["train_seconds"] = time.perf_counter() - started
    row["clean"] = {k: result.eval_metrics[k] for k in METRICS}
    for i, corruption in enumerate(corruptions):
        if corruption == "clean":
            continue
        data = _dataset(audio_sets[1 + i], video_sets[1 + i], labels[test], speakers[test])
        metrics = evaluate_model(trained, data)
        row[corruption] = {k: metrics[k] for k in METRICS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row, indent=1))
    print(f"{tag}: accuracy {row['clean']['accuracy']:.3f} ({row['train_seconds']:.0f} s)", flush=True)
    return row


def _mean_std(rows: list[dict], key: str, metric: str = "accuracy") -> str:
    values = np.array([row[key][metric] for row in rows if key in row])
    return f"{values.mean():.3f} ± {values.std():.3f}" if len(values) else "—"


def probe_rows(work_dir: Path) -> list[str]:
    """Reference rows: multinomial logistic probes on the time-means of the same standardised features, same folds
    (an additive, linear read-out of what the features hold at this training-set size)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = []
    for scenario in SCENARIOS:
        cache = work_dir / "features" / f"{scenario}_{SETTINGS}.npz"
        if not cache.is_file():
            continue
        data = np.load(cache)
        labels, speakers = data["label"], data["speaker"]
        audio = data["tucker_av/clean/audio"].mean(axis=2)  # (clips, mels)
        video = data["tucker_av/clean/video"].mean(axis=1)  # (clips, pixels)
        folds = speaker_independent_folds(
            Dataset.from_dict({"speaker": speakers.tolist()}), n_folds=N_FOLDS, corpus="synthetic"
        )
        for name, x in (("audio", audio), ("video", video), ("audio + video", np.hstack([audio, video]))):
            scores = []
            for train, test in folds:
                probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
                scores.append((probe.fit(x[train], labels[train]).predict(x[test]) == labels[test]).mean())
            rows.append(
                f"| {scenario} | linear probe on time-mean features, {name} | {N_FOLDS} | "
                f"{np.mean(scores):.3f} ± {np.std(scores):.3f} | | | |"
            )
    return rows


def report(work_dir: Path) -> str:
    """Markdown tables of every finished cell: mean ± population std over seeds × folds."""
    rows = [json.loads(p.read_text()) for p in sorted((work_dir / "results" / SETTINGS).glob("*.json"))]
    for row in rows:  # results written before the metric was renamed `uar`
        for value in row.values():
            if isinstance(value, dict) and "unweighted_accuracy" in value:
                value["uar"] = value.pop("unweighted_accuracy")
    lines = [
        "| scenario (chance 0.125) | model | runs | accuracy (WA) | UAR | macro-F1 | designed ceiling |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        for model in MODELS:
            cell = [r for r in rows if r["scenario"] == scenario and r["model"] == model and not r["dropout"]]
            if not cell:
                continue
            ceiling = CEILINGS[scenario][
                "audio"
                if model.endswith("audio_only")
                else "video"
                if model.endswith("video_only")
                else "fusion"
            ]
            metrics = " | ".join(_mean_std(cell, "clean", m) for m in METRICS)
            lines.append(f"| {scenario} | {ROW_NAMES[model]} | {len(cell)} | {metrics} | {ceiling:.3f} |")
    lines += probe_rows(work_dir)
    lines += ["", "| model (additive scenario), accuracy | " + " | ".join(CORRUPTIONS) + " |"]
    lines.append("|---" * (len(CORRUPTIONS) + 1) + "|")
    for model in ROBUST_MODELS:
        for dropout in (False, True):
            cell = [
                r
                for r in rows
                if r["scenario"] == "additive" and r["model"] == model and r["dropout"] == dropout
            ]
            if cell:
                name = f"{ROW_NAMES[model]}{', modality dropout' if dropout else ''} ({len(cell)} runs)"
                lines.append(f"| {name} | " + " | ".join(_mean_std(cell, c) for c in CORRUPTIONS) + " |")
    lines.append(f"\nChance {CHANCE:.3f}; settings: {N_ACTORS} actors, {N_FOLDS} folds, seeds {list(SEEDS)}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--robustness", action="store_true", help="also train the modality-dropout models")
    parser.add_argument("--report", action="store_true", help="only print the tables of finished cells")
    parser.add_argument("--prepare", action="store_true", help="only write the corpora and features")
    args = parser.parse_args()
    work_dir = Path(args.work_dir)
    if args.prepare:
        for scenario in args.scenarios:
            scenario_features(work_dir, scenario)
        return
    if not args.report:
        torch.set_num_threads(1)
        for seed in args.seeds:
            for scenario in args.scenarios:
                for model in args.models:
                    for fold in range(N_FOLDS):
                        run_cell(work_dir, scenario, model, seed, fold)
            if args.robustness:
                for model in (m for m in ROBUST_MODELS if m in args.models):
                    for fold in range(N_FOLDS):
                        run_cell(work_dir, "additive", model, seed, fold, dropout=True)
    print(report(work_dir))


if __name__ == "__main__":
    main()
