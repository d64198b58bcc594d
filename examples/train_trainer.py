"""Train `tucker_av` or `rmlstm` with `transformers.Trainer` on one fold of a corpus.

    python examples/train_trainer.py --model_type tucker_av --preset demo --corpus synthetic \
        --data_dir demo_corpus --protocol speaker --fold 0 --n_folds 4 \
        --config_overrides hidden_size=64,num_time_steps=16 \
        --output_dir runs/trainer --num_train_epochs 30 --learning_rate 2e-3 --per_device_train_batch_size 16

Features are prepared once (frozen-backbone frame embeddings by default) and cached next to the corpus; or
give an already prepared folder with ``--features_dir``. Metrics come from `hf_emotion.metrics`
(accuracy = WA, uar = UA/UAR, macro F1, MCC, per-class F1; ``--metric_for_best_model uar`` works). The model
with its processor, code and pipeline (one folder) and the final metrics are saved to ``--output_dir``;
``--push_to_hub --hub_model_id user/name`` uploads that folder. Multi-GPU: ``accelerate launch examples/train_trainer.py ...``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed

from hf_emotion.metrics import make_compute_metrics
from hf_emotion.training import (
    EmotionDataCollator,
    build_model,
    model_input_names,
    parse_config_overrides,
    prepare_output_dir,
)
from hf_emotion.training.experiment import load_experiment, split_fold
from hf_emotion.training.loop import check_dataset_labels
from hf_emotion.training.prepare import fit_processor


@dataclass
class ExperimentArguments:
    model_type: str = field(default="tucker_av", metadata={"help": "tucker_av or rmlstm"})
    preset: str = field(
        default="demo", metadata={"help": "size preset: demo, cached (frozen backbone) or paper"}
    )
    config_overrides: str | None = field(default=None, metadata={"help": "e.g. hidden_size=64,num_frames=16"})
    frozen_backbone: bool | None = field(
        default=None,
        metadata={"help": "override the preset: cached frozen-backbone features (true) or pixels (false)"},
    )
    corpus: str = field(
        default="synthetic", metadata={"help": "ravdess, crema_d, savee, ckplus, iemocap, synthetic"}
    )
    data_dir: str | None = field(default=None, metadata={"help": "the corpus folder"})
    features_dir: str | None = field(default=None, metadata={"help": "an already prepared features folder"})
    cache_dir: str | None = field(default=None, metadata={"help": "where to cache prepared features"})
    protocol: str = field(
        default="speaker", metadata={"help": "speaker (independent folds) or random (80:20)"}
    )
    fold: int = field(default=0)
    n_folds: int | None = field(default=None)
    overwrite: bool = field(default=False, metadata={"help": "replace a non-empty output_dir"})


def main(argv: list[str] | None = None) -> int:
    parser = HfArgumentParser((ExperimentArguments, TrainingArguments))
    exp, training_args = parser.parse_args_into_dataclasses(args=argv)
    if training_args.process_index == 0:
        prepare_output_dir(
            training_args.output_dir,
            overwrite=exp.overwrite,
            resuming=bool(training_args.resume_from_checkpoint),
            inputs=[exp.data_dir, exp.features_dir, exp.cache_dir],
        )
    cache_dir = exp.cache_dir
    if cache_dir is None and exp.data_dir is not None:
        cache_dir = str(Path(exp.data_dir) / ".hf_emotion_cache" / f"{exp.model_type}_{exp.preset}")
    with training_args.main_process_first(desc="preparing features"):
        config, processor, features, encoder = load_experiment(
            exp.model_type,
            exp.preset,
            parse_config_overrides(exp.config_overrides),
            corpus=exp.corpus,
            data_dir=exp.data_dir,
            features_dir=exp.features_dir,
            cache_dir=cache_dir,
            frozen_backbone=exp.frozen_backbone,
            seed=training_args.seed,
        )
    splits = split_fold(features, exp.protocol, exp.fold, exp.n_folds, exp.corpus, training_args.seed)
    splits, config = fit_processor(processor, splits, config)  # the run's one processor, fitted on "train"
    for name in ("train", "test"):
        check_dataset_labels(splits[name], config, name)
    set_seed(training_args.seed)
    model = build_model(config, encoder)
    model.processor = processor
    columns = [*model_input_names(config), "label"]
    training_args.remove_unused_columns = False  # the collator picks the model inputs
    training_args.label_names = ["labels"]
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"].with_format("numpy", columns=columns),
        eval_dataset=splits["test"].with_format("numpy", columns=columns),
        data_collator=EmotionDataCollator(model_input_names(config)),
        compute_metrics=make_compute_metrics(config.id2label),
        processing_class=processor,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    metrics = trainer.evaluate()
    if trainer.is_world_process_zero():
        trainer.save_model(training_args.output_dir)  # weights, config, code, processor: one folder
        Path(training_args.output_dir, "eval_metrics.json").write_text(json.dumps(metrics, indent=1))
        print(
            f"fold {exp.fold}: accuracy (WA) {metrics['eval_accuracy']:.3f}, UAR {metrics['eval_uar']:.3f}, "
            f"macro-F1 {metrics['eval_macro_f1']:.3f}; model in {training_args.output_dir}"
        )
    if training_args.push_to_hub:
        trainer.push_to_hub()  # the same folder: loads with trust_remote_code=True where hf_emotion is absent
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
