"""Training and evaluation: feature preparation, batching, the Accelerate loop and cross-validation."""

from .collate import EmotionDataCollator, EpochShuffleSampler, model_input_names
from .factory import (
    MODEL_TYPES,
    PRESETS,
    build_config,
    build_frame_encoder,
    build_model,
    check_model_type,
    parse_config_overrides,
)
from .loop import (
    LoopArguments,
    TrainResult,
    check_dataset_labels,
    evaluate_model,
    predict,
    save_history,
    train_model,
)
from .prepare import load_or_prepare, prepare_features
from .run_folder import atomic_write_text, prepare_output_dir, safe_output_dir
