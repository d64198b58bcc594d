"""One call per corpus: local folders of RAVDESS, CREMA-D, SAVEE, CK+, IEMOCAP (and the synthetic corpus)
as `datasets.Dataset` objects with one shared schema.

Standard columns (every loader):

============== ============================ ============================================================
column         feature                      content
============== ============================ ============================================================
``label``      ``ClassLabel``               emotion, with the corpus's own label names (see ``labels.py``)
``speaker``    ``Value("string")``          actor / speaker / subject id (``"01"``, ``"1001"``, ``"DC"``,
                                            ``"S005"``, ``"Ses01F"``); the unit of speaker-independent folds
``transcript`` ``Value("string")``          the spoken sentence, ``""`` where unknown
``intensity``  ``Value("string")``          RAVDESS normal/strong, CREMA-D low/medium/high, else ``""``
``path``       ``Value("string")``          the main media file of the row
``audio``      ``Audio()``                  where the corpus has audio (RAVDESS AV: the .mp4 itself)
``video``      ``Video()``                  where the corpus has video (IEMOCAP: the cut utterance clip)
``frames``     ``List(Image())``            CK+ only: the image sequence (plus ``image``: peak frame)
============== ============================ ============================================================

Corpus-specific extras: ``gender``, ``statement``, ``repetition``, ``modality``, ``vocal_channel`` (RAVDESS);
``sentence``, ``gender`` (CREMA-D, SAVEE); ``sequence``, ``n_frames`` (CK+); ``session``, ``dialog``,
``utterance``, ``gender``, ``improvised``, ``start``, ``end``, ``valence``, ``arousal``, ``dominance`` (IEMOCAP).
``dataset.info.dataset_name`` holds the corpus name (used by the split helpers).

Media columns hold file paths and decode lazily as `datasets` does: ``row["audio"]`` is a torchcodec
``AudioDecoder``, ``row["video"]`` a torchcodec ``VideoDecoder``, images are PIL images.

Errors: a missing folder raises ``FileNotFoundError``; a folder without the corpus's files raises
``ValueError`` naming the expected layout; unusable files are skipped, logged at WARNING and listed in the
:class:`~hf_emotion.data.loading.LoadReport` that every loader returns with ``return_report=True``.
"""

from __future__ import annotations

from pathlib import Path

from .ckplus import load_ckplus
from .crema_d import load_crema_d
from .iemocap import load_iemocap
from .ravdess import load_ravdess
from .savee import load_savee


def load_synthetic(path: str | Path, **kwargs):
    """A corpus written by :func:`hf_emotion.data.make_synthetic_corpus` (RAVDESS layout; same options)."""
    result = load_ravdess(path, **kwargs)
    dataset = result[0] if isinstance(result, tuple) else result
    dataset.info.dataset_name = "synthetic"
    if isinstance(result, tuple):
        result[1].corpus = "synthetic"
    return result


CORPORA = {
    "ravdess": load_ravdess,
    "crema_d": load_crema_d,
    "savee": load_savee,
    "ckplus": load_ckplus,
    "iemocap": load_iemocap,
    "synthetic": load_synthetic,
}
"""Corpus name -> loader."""


def load_corpus(name: str, path: str | Path, **kwargs):
    """Load corpus ``name`` (a key of :data:`CORPORA`) from the local folder ``path``; ``kwargs`` go to its loader."""
    key = name.lower().replace("-", "_").replace("+", "plus")
    if key not in CORPORA:
        raise ValueError(f"Unknown corpus {name!r}; choose one of {sorted(CORPORA)}.")
    return CORPORA[key](path, **kwargs)
