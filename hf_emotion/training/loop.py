"""The explicit Accelerate training loop shared by `examples/train_accelerate.py` and the `hf-emotion` CLI.

One code path for one CPU process, several GPUs and several machines: `accelerate launch` (or `torchrun`) sets
up the processes; `Accelerator` wraps the model in DDP, shards the batches and averages the gradients. The
paper's recipe (Table A1): Adam with weight decay 1e-4 — here AdamW (decoupled decay) with no decay on biases and
normalisation weights —, dropout from the model config, the paper's train-time augmentation (see
:class:`hf_emotion.data.augment.FeatureAugmenter` for what applies to prepared features), a learning-rate
schedule with linear warm-up; plus optional modality dropout, gradient accumulation, bf16/fp16 mixed precision
(from the Accelerate config unless set here) and periodic checkpoints (`accelerator.save_state`) that a run can
resume from exactly.

Exact resume: the data order of an epoch is drawn from ``seed + epoch`` by its own generator
(:class:`EpochShuffleSampler`), the global RNG (dropout) is saved and restored by `save_state`/`load_state`, and the
batches of a partly done epoch are skipped, so an interrupted run that is resumed ends with the same weights as
an uninterrupted one (on CPU, same seed and thread count). The random draws of augmentation and modality dropout
come from a generator seeded by (seed, epoch, batch, process), so they too are the same after a resume.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from datasets import ClassLabel, Dataset
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import PreTrainedModel, get_scheduler

from hf_emotion.metrics.emotion_metrics import compute_emotion_metrics

from .checkpoints import STATE_FILE, CheckpointError, find_checkpoint, save_checkpoint
from .collate import (
    EmotionDataCollator,
    EpochShuffleSampler,
    apply_modality_dropout,
    missing_modality_inputs,
    model_input_names,
)

logger = logging.getLogger(__name__)


@dataclass
class LoopArguments:
    """Settings of :func:`train_model` (the example script exposes each as ``--name``)."""

    output_dir: str = "outputs"
    num_train_epochs: int = 30
    max_steps: int | None = None  # optimiser steps in total; overrides num_train_epochs when set
    per_device_train_batch_size: int = 16
    per_device_eval_batch_size: int = 32
    learning_rate: float = 1e-3  # Table A1: 1e-4 … 1e-3
    weight_decay: float = 1e-4  # Table A1; decoupled (AdamW), not applied to biases and norm weights
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.1
    gradient_accumulation_steps: int = 1
    max_grad_norm: float | None = 1.0
    mixed_precision: str | None = None  # "no", "bf16" or "fp16"; None: the Accelerate config's (else "no")
    augment: bool | None = None  # train-time augmentation; None: the paper's (tucker_av on, rmlstm off)
    modality_dropout: float = 0.0  # per-clip probability of one modality's input becoming a missing stream's
    checkpointing_steps: int | None = None  # save_state every N optimiser steps
    save_total_limit: int | None = None  # keep only the newest N complete checkpoints
    resume_from_checkpoint: str | None = None  # a checkpoint folder, or "latest" under output_dir
    max_steps_this_run: int | None = None  # stop early (after checkpointing) to simulate an interruption
    seed: int = 0
    logging_steps: int = 10
    eval_every_epoch: bool = True
    progress: bool = True

    def __post_init__(self):
        if self.max_steps is None and self.num_train_epochs < 1:
            raise ValueError(
                f"--epochs must be at least 1 (got {self.num_train_epochs}): there would be nothing to train."
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be at least 1 (got {self.max_steps}).")
        if self.mixed_precision not in (None, "no", "bf16", "fp16"):
            raise ValueError(f"--mixed-precision must be no, bf16 or fp16, got {self.mixed_precision!r}.")
        if not 0.0 <= self.modality_dropout <= 1.0:
            raise ValueError(
                f"--modality-dropout must be a probability in [0, 1], got {self.modality_dropout}."
            )

    def fingerprint(self) -> dict[str, Any]:
        """The settings a resumed run must share with the run it resumes."""
        keys = (
            "num_train_epochs",
            "max_steps",
            "per_device_train_batch_size",
            "learning_rate",
            "weight_decay",
            "lr_scheduler_type",
            "warmup_ratio",
            "gradient_accumulation_steps",
            "max_grad_norm",
            "augment",
            "modality_dropout",
            "seed",
        )
        return {k: getattr(self, k) for k in keys}


@dataclass
class TrainResult:
    global_step: int
    history: list[dict[str, Any]] = field(default_factory=list)
    eval_metrics: dict[str, Any] | None = None
    stopped_early: bool = False


def build_accelerator(args: LoopArguments) -> Accelerator:
    """The run's `Accelerator`. Mixed precision: `args.mixed_precision` when set, else what the Accelerate config
    says (`accelerate launch --config_file ...` passes it on as ``ACCELERATE_MIXED_PRECISION``), else "no";
    `args.mixed_precision` is then set to the precision in use, so the saved arguments record it."""
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        cpu=not torch.cuda.is_available(),
    )
    args.mixed_precision = str(accelerator.mixed_precision)
    return accelerator


NORM_LAYERS = (
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.modules.batchnorm._BatchNorm,
    torch.nn.modules.instancenorm._InstanceNorm,
    torch.nn.LocalResponseNorm,
    *((torch.nn.RMSNorm,) if hasattr(torch.nn, "RMSNorm") else ()),
)


def optimizer_parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups: weight decay on the trainable weights, none on biases (every parameter whose name
    contains "bias", e.g. ``bias_ih_l0``, ``in_proj_bias``) and on the parameters of normalisation layers."""
    no_decay = {
        id(p)
        for module in model.modules()
        if isinstance(module, NORM_LAYERS)
        for p in module.parameters(False)
    }
    no_decay |= {id(p) for name, p in model.named_parameters() if "bias" in name.rsplit(".", 1)[-1]}
    trainable = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in trainable if id(p) not in no_decay], "weight_decay": weight_decay},
        {"params": [p for p in trainable if id(p) in no_decay], "weight_decay": 0.0},
    ]


def _batch_generator(seed: int, epoch: int, batch: int, process: int) -> torch.Generator:
    """A generator for one training batch's random draws, the same whenever (and after whatever resume) that
    batch is drawn."""
    key = hashlib.sha256(f"{seed}/{epoch}/{batch}/{process}".encode()).hexdigest()
    return torch.Generator().manual_seed(int(key[:15], 16))


def _wants_augmentation(args: LoopArguments, config) -> bool:
    # The Tucker paper augments (Table A1); the RMLSTM paper does not.
    return args.augment if args.augment is not None else config.model_type == "tucker_av"


def check_dataset_labels(dataset: Dataset, config, split: str = "dataset") -> None:
    """Raise a clear `ValueError` when the dataset's `label` names differ from the model's `id2label`."""
    if dataset is None or len(dataset) == 0:
        raise ValueError(
            f"The {split} split is missing or empty; check the corpus folder, protocol and fold."
        )
    feature = dataset.features.get("label")
    if not isinstance(feature, ClassLabel):
        raise ValueError(
            f"The {split} split needs a `label` ClassLabel column; it has {dataset.column_names}."
        )
    model_names = [str(config.id2label[i]) for i in range(config.num_labels)]
    if list(feature.names) != model_names:
        raise ValueError(
            f"The model's labels {model_names} do not match the {split}'s labels {list(feature.names)}; "
            "use a model trained on this label set (or retrain)."
        )


def _config_fingerprint(model: PreTrainedModel) -> dict[str, Any]:
    data = model.config.to_dict()
    for volatile in ("transformers_version", "_name_or_path", "architectures", "dtype", "torch_dtype"):
        data.pop(volatile, None)
    return json.loads(json.dumps(data, sort_keys=True, default=str))


def _check_resume(state: dict, expected: dict, path: Path) -> None:
    for section in ("model_config", "arguments", "run"):
        old, new = state.get(section, {}), expected[section]
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:5])
            raise ValueError(
                f"Cannot resume from {path}: the {section.replace('_', ' ')} changed ({details}). Resume with the "
                "settings of the interrupted run, or start a new run in another output folder."
            )


def make_dataloader(
    dataset: Dataset, batch_size: int, input_names: Sequence[str], shuffle_seed: int | None = None
) -> DataLoader:
    collator = EmotionDataCollator(input_names)
    columns = [c for c in (*input_names, "label") if c in dataset.column_names]
    missing = [n for n in input_names if n not in dataset.column_names]
    if missing:
        raise ValueError(
            f"The prepared dataset lacks the model inputs {missing} (it has {dataset.column_names}); prepare it "
            "with the same config (modalities, frozen backbone) as the model."
        )
    data = dataset.with_format("numpy", columns=columns)
    sampler = EpochShuffleSampler(len(data), shuffle_seed) if shuffle_seed is not None else None
    return DataLoader(
        data,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collator,
        generator=torch.Generator().manual_seed(shuffle_seed or 0),
    )


@torch.no_grad()
def predict(
    model: PreTrainedModel,
    dataset: Dataset,
    batch_size: int = 32,
    accelerator: Accelerator | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, num_labels) and labels (N,) of a prepared dataset, gathered over processes."""
    accelerator = accelerator or Accelerator(cpu=not torch.cuda.is_available())
    config = accelerator.unwrap_model(model).config
    loader = accelerator.prepare(make_dataloader(dataset, batch_size, model_input_names(config)))
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for batch in tqdm(
        loader, desc="Evaluating", disable=not (progress and accelerator.is_local_main_process)
    ):
        targets = batch.pop("labels")
        output = model(**batch)
        gathered = accelerator.gather_for_metrics((output.logits.float(), targets))
        logits.append(gathered[0].cpu().numpy())
        labels.append(gathered[1].cpu().numpy())
    model.train(was_training)
    return np.concatenate(logits), np.concatenate(labels)


def evaluate_model(
    model: PreTrainedModel,
    dataset: Dataset,
    batch_size: int = 32,
    accelerator: Accelerator | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """:func:`hf_emotion.metrics.compute_emotion_metrics` of the model on a prepared dataset."""
    config = (accelerator.unwrap_model(model) if accelerator is not None else model).config
    logits, labels = predict(model, dataset, batch_size, accelerator, progress)
    names = [str(config.id2label[i]) for i in range(config.num_labels)]
    return compute_emotion_metrics(
        logits.argmax(-1), labels, labels=list(range(len(names))), label_names=names
    )


def train_model(
    model: PreTrainedModel,
    train_dataset: Dataset,
    args: LoopArguments,
    eval_dataset: Dataset | None = None,
    accelerator: Accelerator | None = None,
    processor: Any = None,
    missing_inputs: Mapping[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train `model` on a prepared dataset with Accelerate (see the module docstring); returns the history.

    `processor` (default: `model.processor`) is the run's processor: the audio-feature augmentation reads its
    feature settings (Mel bands, normalisation statistics), and modality dropout puts its features of silence /
    black frames in a dropped modality (`missing_modality_inputs`) — or `missing_inputs` (one clip's input per
    input name) when given, for features made elsewhere. Augmentation and modality dropout touch training
    batches only, never evaluation.

    Checkpoints go to ``{output_dir}/checkpoints/step_N`` (`save_state` + ``trainer_state.json``). Raises a
    `ValueError` for empty splits, mismatched labels, a resume with changed settings, or a non-finite loss.
    """
    check_dataset_labels(train_dataset, model.config, "training")
    if eval_dataset is not None:
        check_dataset_labels(eval_dataset, model.config, "evaluation")
    accelerator = accelerator or build_accelerator(args)
    config = model.config
    input_names = model_input_names(config)
    loader = make_dataloader(
        train_dataset, args.per_device_train_batch_size, input_names, shuffle_seed=args.seed
    )
    processor = processor if processor is not None else getattr(model, "processor", None)
    augmenter = None
    if _wants_augmentation(args, config):
        from hf_emotion.data.augment import FeatureAugmenter

        augmenter = FeatureAugmenter.for_processor(processor)
    if args.modality_dropout and missing_inputs is None:
        missing_inputs = missing_modality_inputs(model, processor)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(optimizer_parameter_groups(model, args.weight_decay), lr=args.learning_rate)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    steps_per_epoch = max(1, math.ceil(len(loader) / args.gradient_accumulation_steps))
    total_steps = args.max_steps or steps_per_epoch * args.num_train_epochs
    if total_steps < 1:
        raise ValueError(
            f"The run would take {total_steps} training steps (num_train_epochs={args.num_train_epochs}, "
            f"max_steps={args.max_steps}); pass at least one epoch or step."
        )
    num_epochs = math.ceil(total_steps / steps_per_epoch)
    # AcceleratedScheduler steps once per process per optimiser step, hence the factor.
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer,
        num_warmup_steps=int(args.warmup_ratio * total_steps) * accelerator.num_processes,
        num_training_steps=total_steps * accelerator.num_processes,
    )
    scheduler = accelerator.prepare(scheduler)
    expected = {
        "model_config": _config_fingerprint(accelerator.unwrap_model(model)),
        "arguments": args.fingerprint(),
        "run": {"num_processes": accelerator.num_processes, "train_rows": len(train_dataset)},
    }

    global_step, history = 0, []
    if args.resume_from_checkpoint:
        checkpoint = find_checkpoint(args.output_dir, args.resume_from_checkpoint)
        state = json.loads((checkpoint / STATE_FILE).read_text())
        _check_resume(state, expected, checkpoint)
        try:
            accelerator.load_state(str(checkpoint))
        except Exception as error:  # torch, safetensors and accelerate errors of a damaged file
            raise CheckpointError(
                f"Cannot load the checkpoint {checkpoint}: {' '.join(str(error).split())[:200]}. Resume from an "
                "earlier checkpoint (move this one aside)."
            ) from error
        global_step, history = state["global_step"], state["history"]
        logger.info("Resumed from %s at step %d", checkpoint, global_step)

    progress = tqdm(
        total=total_steps,
        initial=global_step,
        desc="Training",
        unit="step",
        disable=not (args.progress and accelerator.is_local_main_process),
    )
    steps_this_run, window, stopped_early, eval_metrics = 0, [], False, None
    model.train()
    for epoch in range(global_step // steps_per_epoch, num_epochs):
        # The prepared loader sets its sampler's epoch from its own counter on every iteration: set both.
        loader.set_epoch(epoch)
        done_in_epoch = global_step - epoch * steps_per_epoch
        epoch_loader = loader
        if done_in_epoch:
            epoch_loader = accelerator.skip_first_batches(
                loader, done_in_epoch * args.gradient_accumulation_steps
            )
            epoch_loader.set_epoch(epoch)
        for index, batch in enumerate(epoch_loader, start=done_in_epoch * args.gradient_accumulation_steps):
            generator = _batch_generator(args.seed, epoch, index, accelerator.process_index)
            if augmenter is not None:
                batch = augmenter(batch, generator=generator)
            if args.modality_dropout:
                batch = apply_modality_dropout(
                    batch, args.modality_dropout, config, generator=generator, fill=missing_inputs
                )
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                losses = accelerator.gather(loss.detach().float().reshape(1))
                if not torch.isfinite(losses).all():
                    raise ValueError(
                        f"The training loss became {losses.tolist()} at step {global_step + 1} (epoch {epoch}); "
                        "lower the learning rate, check the features for NaN/inf, or try --mixed-precision no."
                    )
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm:
                    accelerator.clip_grad_norm_(parameters, args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            window.append(float(losses.mean()))
            if not accelerator.sync_gradients:
                continue
            global_step += 1
            steps_this_run += 1
            progress.update()
            if global_step % args.logging_steps == 0 or global_step == total_steps:
                entry = {"step": global_step, "epoch": epoch, "loss": float(np.mean(window))}
                entry["learning_rate"] = float(scheduler.get_last_lr()[0])
                history.append(entry)
                progress.set_postfix(loss=f"{entry['loss']:.3f}")
                window = []
            if args.checkpointing_steps and global_step % args.checkpointing_steps == 0:
                save_checkpoint(
                    accelerator, args.output_dir, global_step, expected, history, args.save_total_limit
                )
            if global_step >= total_steps:
                break
            if args.max_steps_this_run and steps_this_run >= args.max_steps_this_run:
                stopped_early = True
                break
        if stopped_early:
            break
        epoch_done = global_step >= min(total_steps, (epoch + 1) * steps_per_epoch)
        if eval_dataset is not None and args.eval_every_epoch and epoch_done:
            eval_metrics = evaluate_model(model, eval_dataset, args.per_device_eval_batch_size, accelerator)
            history.append(
                {
                    "step": global_step,
                    "epoch": epoch,
                    "eval_accuracy": eval_metrics["accuracy"],
                    "eval_uar": eval_metrics["uar"],
                    "eval_macro_f1": eval_metrics["macro_f1"],
                }
            )
            model.train()
        if global_step >= total_steps:
            break
    progress.close()
    if eval_dataset is not None and not stopped_early and (eval_metrics is None or not args.eval_every_epoch):
        eval_metrics = evaluate_model(model, eval_dataset, args.per_device_eval_batch_size, accelerator)
    return TrainResult(global_step, history, eval_metrics, stopped_early)


def save_history(history: list[dict], path: str | Path, args: LoopArguments | None = None) -> None:
    """Write the training history (and the arguments) as JSON."""
    payload = {"history": history, "arguments": asdict(args) if args is not None else None}
    Path(path).write_text(json.dumps(payload, indent=1))
