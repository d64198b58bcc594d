"""Data: corpus loaders, label harmonisation, speaker-independent splits and the synthetic corpus."""

from .augment import AudioAugmenter, AudioVisualAugmenter, VideoAugmenter
from .corpora import (
    CORPORA,
    load_ckplus,
    load_corpus,
    load_crema_d,
    load_iemocap,
    load_ravdess,
    load_savee,
    load_synthetic,
)
from .features import cache_frame_features, prepare_dataset
from .labels import CANONICAL_EMOTIONS, CORPUS_LABELS, SHARED_EMOTIONS, harmonize_labels
from .loading import LoadReport
from .splits import get_fold, random_split, speaker_independent_folds
from .synthetic import make_synthetic_corpus
