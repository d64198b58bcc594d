"""Train `tucker_av` or `rmlstm` with an explicit Accelerate loop (the paper's Adam + weight decay recipe).

The same file runs on one CPU process, one GPU, several GPUs, or several machines:

    python examples/train_accelerate.py --model_type tucker_av --preset demo --data_dir synthetic_corpus \
        --make_synthetic --output_dir runs/tucker_demo
    accelerate launch --config_file examples/accelerate_configs/multi_gpu.yaml examples/train_accelerate.py ...
    accelerate launch --config_file examples/accelerate_configs/cpu_2proc.yaml examples/train_accelerate.py ...
    torchrun --nproc_per_node 2 examples/train_accelerate.py ...

Data: either a corpus (``--corpus NAME --data_dir DIR``; features are prepared once and cached in
``--cache_dir``, by default ``DIR/.hf_emotion_cache/<model_type>_<preset>``) or an already prepared feature
folder (``--features_dir``). ``--protocol speaker|random --fold K`` picks the split. Checkpoints every
``--checkpointing_steps`` steps go to ``OUTPUT_DIR/checkpoints/step_N``; ``--resume_from_checkpoint latest``
continues the last one (the settings must not change). The final model folder (``OUTPUT_DIR/model``: weights,
config, code and the run's fitted processor, loadable by ``pipeline(..., trust_remote_code=True)``),
``metrics.json`` and ``history.json`` are written to ``OUTPUT_DIR``.

Mixed precision comes from the Accelerate config (``accelerate launch --config_file ...``; the shipped GPU
configs ask for bf16) unless ``--mixed_precision no|bf16|fp16`` is given; ``history.json`` records the one used.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from accelerate.utils import set_seed
from safetensors.torch import save_file
from transformers import HfArgumentParser

from hf_emotion.training import (
    LoopArguments,
    build_model,
    parse_config_overrides,
    prepare_output_dir,
    save_history,
    train_model,
)
from hf_emotion.training.experiment import load_experiment, split_fold
from hf_emotion.training.loop import build_accelerator
from hf_emotion.training.prepare import fit_processor


@dataclass
class ModelArguments:
    model_type: str = field(default="tucker_av", metadata={"help": "tucker_av or rmlstm"})
    preset: str = field(
        default="demo", metadata={"help": "size preset: demo, cached (frozen backbone) or paper"}
    )
    config_overrides: str | None = field(
        default=None, metadata={"help": "comma-separated config fields, e.g. hidden_size=64,num_frames=16"}
    )
    frozen_backbone: bool | None = field(
        default=None,
        metadata={"help": "override the preset: cached frozen-backbone features (true) or pixels (false)"},
    )


@dataclass
class DataArguments:
    corpus: str = field(
        default="synthetic", metadata={"help": "ravdess, crema_d, savee, ckplus, iemocap, synthetic"}
    )
    data_dir: str | None = field(default=None, metadata={"help": "the corpus folder"})
    features_dir: str | None = field(default=None, metadata={"help": "an already prepared features folder"})
    cache_dir: str | None = field(default=None, metadata={"help": "where to cache prepared features"})
    make_synthetic: bool = field(
        default=False, metadata={"help": "write the synthetic corpus to data_dir first"}
    )
    synthetic_actors: int = field(default=8)
    protocol: str = field(
        default="speaker", metadata={"help": "speaker (independent folds) or random (80:20)"}
    )
    fold: int = field(default=0)
    n_folds: int | None = field(default=None)


@dataclass
class RunArguments:
    overwrite: bool = field(default=False, metadata={"help": "replace a non-empty output_dir"})
    save_rank_weights: bool = field(
        default=False, metadata={"help": "every process writes its weights to rank_weights/ (DDP sync check)"}
    )


def main(argv: list[str] | None = None) -> int:
    parser = HfArgumentParser((ModelArguments, DataArguments, LoopArguments, RunArguments))
    model_args, data_args, loop_args, run_args = parser.parse_args_into_dataclasses(args=argv)
    accelerator = build_accelerator(
        loop_args
    )  # mixed precision: --mixed_precision, else the Accelerate config
    set_seed(loop_args.seed)
    cache_dir = data_args.cache_dir
    if cache_dir is None and data_args.data_dir is not None:
        cache_dir = str(
            Path(data_args.data_dir) / ".hf_emotion_cache" / f"{model_args.model_type}_{model_args.preset}"
        )
    if accelerator.is_main_process:  # refuses an output folder that is, holds or lies inside an input folder
        prepare_output_dir(
            loop_args.output_dir,
            overwrite=run_args.overwrite,
            resuming=bool(loop_args.resume_from_checkpoint),
            inputs=[data_args.data_dir, data_args.features_dir, cache_dir],
        )
    accelerator.wait_for_everyone()
    with accelerator.main_process_first():  # the main process prepares the cache, the others reuse it
        config, processor, features, encoder = load_experiment(
            model_args.model_type,
            model_args.preset,
            parse_config_overrides(model_args.config_overrides),
            corpus=data_args.corpus,
            data_dir=data_args.data_dir,
            features_dir=data_args.features_dir,
            cache_dir=cache_dir,
            frozen_backbone=model_args.frozen_backbone,
            seed=loop_args.seed,
            make_synthetic=data_args.make_synthetic and accelerator.is_main_process,
            synthetic_actors=data_args.synthetic_actors,
        )
    splits = split_fold(
        features, data_args.protocol, data_args.fold, data_args.n_folds, data_args.corpus, loop_args.seed
    )
    splits, config = fit_processor(processor, splits, config)  # the run's one processor, fitted on "train"
    set_seed(loop_args.seed)  # the same initial weights whatever preparation consumed
    model = build_model(config, encoder)
    model.processor = processor  # travels with the model: augmentation reads it, save_pretrained writes it
    result = train_model(
        model, splits["train"], loop_args, eval_dataset=splits["test"], accelerator=accelerator
    )

    output_dir = Path(loop_args.output_dir)
    if run_args.save_rank_weights:
        weights = {
            k: v.detach().cpu().contiguous() for k, v in accelerator.unwrap_model(model).state_dict().items()
        }
        (output_dir / "rank_weights").mkdir(exist_ok=True)
        save_file(weights, output_dir / "rank_weights" / f"rank{accelerator.process_index}.safetensors")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_history(result.history, output_dir / "history.json", loop_args)
        if not result.stopped_early:
            accelerator.unwrap_model(model).save_pretrained(output_dir / "model")  # with the fitted processor
            (output_dir / "metrics.json").write_text(json.dumps(result.eval_metrics, indent=1))
            metrics = result.eval_metrics
            print(
                f"fold {data_args.fold}: accuracy (WA) {metrics['accuracy']:.3f}, UAR {metrics['uar']:.3f}, "
                f"macro-F1 {metrics['macro_f1']:.3f} on {metrics['num_samples']} test clips; model in {output_dir / 'model'}"
            )
        else:
            print(f"stopped after step {result.global_step}; resume with --resume_from_checkpoint latest")
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
