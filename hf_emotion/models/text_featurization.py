"""TF-IDF text features for the `rmlstm` model (paper eqs. 2–5), saved as JSON.

Fitting uses scikit-learn's `TfidfVectorizer` (imported lazily); a fitted featurizer computes TF-IDF from its saved
vocabulary and IDF vector with numpy alone, so inference needs neither scikit-learn nor a pickle.
"""

from __future__ import annotations

import json
import logging
import os
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

FEATURIZER_FILE = "text_featurizer.json"
IDF_TYPES = ("smooth_log", "paper")
_PUNCTUATION = re.compile("[" + re.escape(string.punctuation.replace("'", "")) + "]")


class TfidfTextFeaturizer:
    r"""
    Transcript → TF-IDF vector (batch, vocabulary_size), float32.

    Preprocessing (eq. 2): lower-casing, apostrophes deleted ("don't" → "dont"), every other punctuation mark
    replaced by a space, whitespace tokenisation, then stop-word removal (scikit-learn's English list by default)
    and removal of one-character tokens. Weights (eqs. 3–5): raw term count × IDF, then (by default) L2
    normalisation of each vector, as scikit-learn's `TfidfVectorizer` does.

    Documented behaviour on odd input: an empty (or `None`, or all stop-word) transcript gives a zero vector;
    words that were not in the training transcripts are ignored.

    Args:
        idf (`str`, *optional*, defaults to `"smooth_log"`):
            `"smooth_log"`: scikit-learn's idf = ln((1 + N) / (1 + n(x))) + 1. `"paper"`: idf = N / n(x) without a
            logarithm (eq. 4). N is the number of training transcripts, n(x) how many contain term x.
        norm (`str` or `None`, *optional*, defaults to `"l2"`):
            `"l2"` divides each vector by its Euclidean norm; `None` keeps raw TF × IDF weights (eq. 5).
        max_features (`int`, *optional*):
            Keep only the most frequent terms of the training transcripts (all terms when `None`).
        stop_words (`str`, `list[str]` or `None`, *optional*, defaults to `"english"`):
            `"english"` (scikit-learn's list, stored in the JSON at fit time), an explicit list, or `None`.

    Example:

    ```python
    >>> featurizer = TfidfTextFeaturizer().fit(["Kids are talking by the door", "Dogs are sitting by the door"])
    >>> featurizer.vocabulary
    ['dogs', 'door', 'kids', 'sitting', 'talking']
    >>> featurizer(["the kids are at the door!"]).shape
    (1, 5)
    ```
    """

    def __init__(
        self,
        idf: str = "smooth_log",
        norm: str | None = "l2",
        max_features: int | None = None,
        stop_words: str | Sequence[str] | None = "english",
    ):
        if idf not in IDF_TYPES:
            raise ValueError(f"`idf` must be one of {IDF_TYPES}, got {idf!r}.")
        if norm not in ("l2", None):
            raise ValueError(f"`norm` must be 'l2' or None, got {norm!r}.")
        if max_features is not None and (not isinstance(max_features, int) or max_features < 1):
            raise ValueError(f"`max_features` must be a positive integer or None, got {max_features!r}.")
        if isinstance(stop_words, str) and stop_words != "english":
            raise ValueError(f"`stop_words` must be 'english', a list of words or None, got {stop_words!r}.")
        self.idf_type = idf
        self.norm = norm
        self.max_features = max_features
        self.stop_words = (
            stop_words if isinstance(stop_words, str) or stop_words is None else list(stop_words)
        )
        self.vocabulary: list[str] | None = None
        self.idf: np.ndarray | None = None
        self._index: dict[str, int] = {}

    # ------------------------------------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self.vocabulary is not None

    @property
    def vocabulary_size(self) -> int:
        """Length of the feature vector (`RMLSTMConfig.text_feature_dim`)."""
        self._require_fitted()
        return len(self.vocabulary)

    def _stop_word_set(self) -> frozenset[str]:
        if self.stop_words == "english":
            from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # only needed before fitting

            self.stop_words = sorted(ENGLISH_STOP_WORDS)
        return frozenset(self.stop_words or ())

    def tokenize(self, text: str | None) -> list[str]:
        """Eq. 2: lower-case, strip punctuation, split, drop stop words and one-character tokens."""
        if text is None:
            return []
        if not isinstance(text, str):
            raise ValueError(f"Transcripts must be strings (or None), got {type(text).__name__}: {text!r}.")
        stop = self._stop_word_set()
        cleaned = _PUNCTUATION.sub(" ", text.lower().replace("'", ""))
        return [token for token in cleaned.split() if len(token) > 1 and token not in stop]

    # ------------------------------------------------------------------------------------------------------
    def fit(self, texts: Iterable[str | None]) -> TfidfTextFeaturizer:
        """Fit the vocabulary and IDF on training transcripts with scikit-learn's `TfidfVectorizer`."""
        try:
            from sklearn.feature_extraction.text import TfidfVectorizer
        except ImportError as error:  # pragma: no cover - scikit-learn is a package dependency
            raise ImportError(
                "Fitting a TfidfTextFeaturizer needs scikit-learn: pip install scikit-learn"
            ) from error
        texts = [text for text in texts]
        if not texts:
            raise ValueError("Cannot fit a TfidfTextFeaturizer on an empty list of transcripts.")
        documents = [self.tokenize(text) for text in texts]
        if not any(documents):
            raise ValueError(
                f"All {len(texts)} training transcripts are empty after punctuation and stop-word removal; "
                "there is no vocabulary to fit."
            )
        vectorizer = TfidfVectorizer(
            analyzer=lambda tokens: tokens, max_features=self.max_features, norm=self.norm, smooth_idf=True
        )
        vectorizer.fit(documents)
        vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        if self.idf_type == "paper":
            index = {term: i for i, term in enumerate(vocabulary)}
            document_frequency = np.zeros(len(vocabulary))
            for tokens in documents:
                for term in set(tokens) & index.keys():
                    document_frequency[index[term]] += 1
            idf = len(documents) / document_frequency  # eq. 4: N / n(x), every kept term occurs at least once
        self._set_fitted(vocabulary, idf)
        logger.info(
            "Fitted TF-IDF on %d transcripts: %d terms (%s IDF).", len(texts), len(vocabulary), self.idf_type
        )
        return self

    def _set_fitted(self, vocabulary: list[str], idf: np.ndarray) -> None:
        if len(vocabulary) != len(idf) or len(set(vocabulary)) != len(vocabulary):
            raise ValueError(
                f"Inconsistent featurizer state: {len(vocabulary)} terms (unique: {len(set(vocabulary))}) "
                f"but {len(idf)} IDF values."
            )
        self.vocabulary = list(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float64)
        self._index = {term: i for i, term in enumerate(self.vocabulary)}

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise ValueError(
                "This TfidfTextFeaturizer is not fitted yet: call `fit(train_transcripts)` or load one with "
                "`TfidfTextFeaturizer.from_pretrained(directory)`."
            )

    # ------------------------------------------------------------------------------------------------------
    def __call__(self, texts: str | None | Sequence[str | None]) -> np.ndarray:
        """Transcripts → TF-IDF matrix (batch, vocabulary_size), float32 (numpy only, no scikit-learn)."""
        self._require_fitted()
        if texts is None or isinstance(texts, str):
            texts = [texts]
        features = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float64)
        for row, text in enumerate(texts):
            counts = Counter(token for token in self.tokenize(text) if token in self._index)  # OOV ignored
            for term, count in counts.items():
                features[row, self._index[term]] = count
        features *= self.idf  # (batch, vocab): TF × IDF, eq. 5
        if self.norm == "l2":
            norms = np.linalg.norm(features, axis=1, keepdims=True)
            features = np.divide(features, norms, out=np.zeros_like(features), where=norms > 0)
        return features.astype(np.float32)

    # ------------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Everything needed to rebuild the featurizer, JSON-serialisable."""
        self._require_fitted()
        return {
            "featurizer_type": type(self).__name__,
            "idf_type": self.idf_type,
            "norm": self.norm,
            "max_features": self.max_features,
            "stop_words": sorted(self._stop_word_set()) if self.stop_words is not None else None,
            "vocabulary": list(self.vocabulary),
            "idf": [float(value) for value in self.idf],
        }

    @classmethod
    def from_dict(cls, data: dict) -> TfidfTextFeaturizer:
        """Rebuild a fitted featurizer from `to_dict()`'s output."""
        missing = [key for key in ("idf_type", "vocabulary", "idf") if key not in data]
        if missing:
            raise ValueError(f"Not a TfidfTextFeaturizer dict: missing keys {missing}.")
        stop_words = data.get("stop_words")
        featurizer = cls(
            idf=data["idf_type"],
            norm=data.get("norm", "l2"),
            max_features=data.get("max_features"),
            stop_words=sorted(stop_words) if stop_words is not None else None,
        )
        featurizer._set_fitted(list(data["vocabulary"]), np.asarray(data["idf"], dtype=np.float64))
        return featurizer

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """Write `text_featurizer.json` into `save_directory` (created if needed); returns the file path."""
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(save_directory, FEATURIZER_FILE)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=1, sort_keys=True)
        return path

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> TfidfTextFeaturizer:
        """Load the featurizer saved by `save_pretrained(directory)`."""
        path = os.path.join(directory, FEATURIZER_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"No {FEATURIZER_FILE} in {os.fspath(directory)!r}; save a fitted featurizer there with "
                "`featurizer.save_pretrained(directory)`."
            )
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    def __repr__(self) -> str:
        size = len(self.vocabulary) if self.is_fitted else "unfitted"
        return f"{type(self).__name__}(idf={self.idf_type!r}, norm={self.norm!r}, vocabulary={size})"


__all__ = ["TfidfTextFeaturizer", "FEATURIZER_FILE"]
