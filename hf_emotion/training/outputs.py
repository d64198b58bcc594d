"""Train one fold and write a run's outputs: the model with its processor, metrics, history and figures.

The run's one processor travels with the model (`model.processor`): `train_fold` attaches it,
`model.save_pretrained` writes it into the self-contained folder (weights, config with ``auto_map`` and
``custom_pipelines``, the code, the processor) and the figures use the features that processor made.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from datasets import Dataset, DatasetDict
from transformers import PretrainedConfig, PreTrainedModel

from hf_emotion.metrics.attention_metrics import attention_kl_from_uniform
from hf_emotion.metrics.emotion_metrics import flatten_metrics
from hf_emotion.models.modeling_common import EmotionFrameEncoder
from hf_emotion.models.processing_emotion import EmotionProcessor

from .collate import EmotionDataCollator, model_input_names
from .factory import build_model
from .loop import LoopArguments, TrainResult, build_accelerator, save_history, train_model

logger = logging.getLogger(__name__)


def train_fold(
    config: PretrainedConfig,
    splits: DatasetDict,
    args: LoopArguments,
    processor: EmotionProcessor | None = None,
    frame_encoder: EmotionFrameEncoder | None = None,
    accelerator: Accelerator | None = None,
    missing_inputs: Mapping[str, torch.Tensor] | None = None,
) -> tuple[PreTrainedModel, TrainResult]:
    """A freshly initialised model (seeded with `args.seed`) trained on ``splits["train"]`` and evaluated on
    ``splits["test"]``; it carries the run's `processor` as `model.processor` (saved with it by
    `model.save_pretrained`).

    `splits` and `config` are those :func:`hf_emotion.training.prepare.fit_processor` returned for this
    `processor` (fitted on the training split). Without `processor` (features made elsewhere), the model carries
    the processor built from `config`, which must then describe those features (or pass `missing_inputs`, what
    modality dropout puts in a dropped modality; see `train_model`)."""
    if processor is None:
        processor = EmotionProcessor.from_model_config(config)
    set_seed(args.seed)
    model = build_model(config, frame_encoder)
    model.processor = processor
    accelerator = accelerator or build_accelerator(args)
    result = train_model(
        model,
        splits["train"],
        args,
        eval_dataset=splits["test"],
        accelerator=accelerator,
        missing_inputs=missing_inputs,
    )
    return accelerator.unwrap_model(model), result


@torch.no_grad()
def _test_clip_outputs(model: PreTrainedModel, dataset: Dataset, max_clips: int = 64) -> dict[str, Any]:
    """The cross-modal attention maps (each `(clips, heads, T, T)`, or None) and fused embeddings of the first
    `max_clips` clips."""
    rows = dataset.select(range(min(max_clips, len(dataset)))).with_format("numpy")
    batch = EmotionDataCollator(model_input_names(model.config))([rows[i] for i in range(len(rows))])
    batch.pop("labels", None)
    model.eval()
    wants_attention = model.config.model_type == "tucker_av" and len(model.config.modalities) == 2
    output = model(**batch, output_attentions=wants_attention) if wants_attention else model(**batch)
    embeds = getattr(output, "fused_embeds", None)
    if embeds is None:
        embeds = output.logits
    return {
        "attentions": (output.audio_to_video_attentions, output.video_to_audio_attentions)
        if wants_attention
        else None,
        "embeds": embeds,
    }


def attention_flatness(attentions: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float | int]:
    """``{"audio_to_video", "video_to_audio"}``: each direction's mean KL divergence from uniform attention
    (:func:`hf_emotion.metrics.attention_kl_from_uniform`, nats; 0 = flat) over clips, heads and queries, and
    ``num_clips``."""
    audio_to_video, video_to_audio = attentions  # each (clips, heads, T, T)
    return {
        "audio_to_video": attention_kl_from_uniform(audio_to_video),
        "video_to_audio": attention_kl_from_uniform(video_to_audio),
        "num_clips": int(audio_to_video.shape[0]),
    }


def write_run_outputs(
    model: PreTrainedModel,
    result: TrainResult,
    output_dir: str | Path,
    test_dataset: Dataset | None = None,
    extra: dict[str, Any] | None = None,
    dataset_names: tuple[str, ...] = ("synthetic",),
    protocol: str | None = None,
) -> dict[str, Path]:
    """Write ``model/`` (`model.save_pretrained` with the run's processor, + model card), ``metrics.json``, ``history.json`` and the figures
    (confusion matrices, per-class F1, training curves, attention maps, feature correlation). `test_dataset` is
    the test split as the model's processor prepared it (the one the evaluation used). For a model with
    cross-modal attention, ``metrics.json`` also holds ``attention_kl_from_uniform`` (:func:`attention_flatness`
    over up to 64 test clips) and ``attention_maps.png`` shows the first test clip's maps."""
    from hf_emotion import plots

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    model_dir = output_dir / "model"
    if getattr(model, "processor", None) is None:
        raise ValueError(
            "The model carries no fitted processor (`model.processor`); train it with `train_fold`."
        )
    model.save_pretrained(model_dir)  # weights, config, code, pipeline and the run's fitted processor
    files["model"] = model_dir
    outputs = None
    if test_dataset is not None and len(test_dataset) > 1:
        outputs = _test_clip_outputs(model, test_dataset)
    metrics = result.eval_metrics
    if metrics is not None:
        payload = {**metrics, **(extra or {})}
        if outputs is not None and outputs["attentions"] is not None:
            payload["attention_kl_from_uniform"] = attention_flatness(outputs["attentions"])
        (output_dir / "metrics.json").write_text(json.dumps(payload, indent=1))
        files["metrics"] = output_dir / "metrics.json"
        labels = metrics["labels"]
        files["confusion_counts"] = plots.plot_confusion_matrix(
            metrics["confusion_matrix"], labels, output_dir / "confusion_matrix.png"
        )
        files["confusion_normalised"] = plots.plot_confusion_matrix(
            metrics["confusion_matrix"],
            labels,
            output_dir / "confusion_matrix_normalized.png",
            normalize=True,
        )
        files["per_class_f1"] = plots.plot_per_class_f1(metrics, output_dir / "per_class_f1.png")
        files["card"] = _write_card(model, model_dir, metrics, dataset_names, protocol)
    save_history(result.history, output_dir / "history.json")
    files["history"] = output_dir / "history.json"
    if result.history:
        files["training_curves"] = plots.plot_training_curves(
            result.history, output_dir / "training_curves.png"
        )
    if outputs is not None:
        if outputs["attentions"] is not None:
            files["attention"] = plots.plot_attention_maps(
                *(weights[0] for weights in outputs["attentions"]),  # the first test clip's (heads, T, T)
                output_dir / "attention_maps.png",
                title="Cross-modal attention, first test clip",
            )
        files["feature_correlation"] = plots.plot_feature_correlation(
            outputs["embeds"],
            output_dir / "feature_correlation.png",
            title="Fused embedding correlation (test clips)",
        )
    return files


def _write_card(model, model_dir: Path, metrics: dict, dataset_names, protocol) -> Path | None:
    try:
        from hf_emotion.cards import save_model_card
    except ImportError:  # pragma: no cover - cards are another module of the package
        logger.warning("hf_emotion.cards is not available; no model card written.")
        return None
    scalars = {k: v for k, v in flatten_metrics(metrics).items() if not k.startswith(("f1_", "recall_"))}
    return save_model_card(
        model_dir, model, eval_results=scalars, dataset_names=dataset_names, protocol=protocol
    )
