"""Tests of the TF-IDF text featurizer: eq. 2 preprocessing, both IDF variants against scikit-learn, JSON round
trip without scikit-learn, and the documented behaviour on odd input."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfVectorizer

from hf_emotion.models import text_featurization
from hf_emotion.models.text_featurization import FEATURIZER_FILE, TfidfTextFeaturizer

TRAIN = [
    "Kids are talking by the door.",
    "Dogs are sitting by the door!",
    "I can't believe the DOGS, the kids... and the door-bell?",
    "Happy happy kids; sad dogs.",
    "",
]
TEST = ["The door, the door and the kids", "zebras are unknown here", "", "Dogs? Dogs! sitting"]


def sklearn_reference(featurizer: TfidfTextFeaturizer, idf_type: str, norm):
    """An independently fitted scikit-learn vectorizer over the same tokens (paper IDF set by hand)."""
    reference = TfidfVectorizer(analyzer=featurizer.tokenize, norm=norm, smooth_idf=True).fit(TRAIN)
    if idf_type == "paper":
        counts = CountVectorizer(analyzer=featurizer.tokenize, vocabulary=reference.vocabulary_).transform(
            TRAIN
        )
        document_frequency = np.asarray((counts > 0).sum(axis=0)).ravel()
        reference.idf_ = len(TRAIN) / document_frequency
    return reference


def test_tokenize_removes_punctuation_and_stop_words():
    featurizer = TfidfTextFeaturizer()
    # "can't" → "cant", a stop word in scikit-learn's list, like "the" and "and"
    assert featurizer.tokenize("I can't believe the DOGS, the kids... and the door-bell?") == [
        "believe",
        "dogs",
        "kids",
        "door",
        "bell",
    ]
    assert featurizer.tokenize("The, and; of!") == []
    assert set(featurizer.stop_words) == set(ENGLISH_STOP_WORDS)


@pytest.mark.parametrize("idf_type", ["smooth_log", "paper"])
@pytest.mark.parametrize("norm", ["l2", None])
def test_saved_featurizer_matches_sklearn_transform(tmp_path, idf_type, norm):
    featurizer = TfidfTextFeaturizer(idf=idf_type, norm=norm).fit(TRAIN)
    featurizer.save_pretrained(tmp_path)
    loaded = TfidfTextFeaturizer.from_pretrained(tmp_path)
    reference = sklearn_reference(featurizer, idf_type, norm)
    order = np.argsort([reference.vocabulary_[term] for term in loaded.vocabulary])
    expected = reference.transform(TEST).toarray()[:, np.argsort(order)]
    assert loaded.vocabulary == sorted(reference.vocabulary_, key=reference.vocabulary_.get)
    features = loaded(TEST)
    assert features.dtype == np.float32 and features.shape == (len(TEST), loaded.vocabulary_size)
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-7)


def test_paper_idf_is_n_over_document_frequency():
    featurizer = TfidfTextFeaturizer(idf="paper", norm=None).fit(["kids door", "dogs door", "kids"])
    idf = dict(zip(featurizer.vocabulary, featurizer.idf))
    assert idf == {"dogs": 3 / 1, "door": 3 / 2, "kids": 3 / 2}
    row = featurizer("kids kids door")[0]
    assert dict(zip(featurizer.vocabulary, row)) == {"dogs": 0.0, "door": 1.5, "kids": 3.0}


def test_empty_transcript_gives_zero_vector_and_unknown_words_are_ignored():
    featurizer = TfidfTextFeaturizer().fit(TRAIN)
    features = featurizer(["", None, "the and of", "zebra kids", "kids"])
    assert not features[:3].any()
    np.testing.assert_array_equal(features[3], features[4])
    assert featurizer("kids").shape == (1, featurizer.vocabulary_size)


def test_max_features_keeps_most_frequent_terms():
    featurizer = TfidfTextFeaturizer(max_features=2).fit(["kids door", "kids dogs", "kids cats", "dogs"])
    assert set(featurizer.vocabulary) == {"kids", "dogs"}  # 3 and 2 occurrences, the others 1


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        TfidfTextFeaturizer()(["kids"])
    with pytest.raises(ValueError, match="not fitted"):
        TfidfTextFeaturizer().to_dict()
    with pytest.raises(ValueError, match="empty list"):
        TfidfTextFeaturizer().fit([])
    with pytest.raises(ValueError, match="empty after punctuation"):
        TfidfTextFeaturizer().fit(["", "the and!", None])
    with pytest.raises(ValueError, match="must be strings"):
        TfidfTextFeaturizer().fit(TRAIN)([3])
    with pytest.raises(ValueError, match="idf"):
        TfidfTextFeaturizer(idf="log")
    with pytest.raises(FileNotFoundError, match=FEATURIZER_FILE):
        TfidfTextFeaturizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="missing keys"):
        TfidfTextFeaturizer.from_dict({"vocabulary": []})


def test_saved_json_loads_and_transforms_without_sklearn(tmp_path):
    featurizer = TfidfTextFeaturizer(idf="paper").fit(TRAIN)
    path = featurizer.save_pretrained(tmp_path)
    saved = json.loads(open(path).read())
    assert saved["vocabulary"] == featurizer.vocabulary and len(saved["idf"]) == featurizer.vocabulary_size
    np.save(tmp_path / "expected.npy", featurizer(TEST))
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["sklearn"] = None  # inference must not need scikit-learn
        import importlib.util
        import numpy as np
        spec = importlib.util.spec_from_file_location("text_featurization", {text_featurization.__file__!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # the file alone: stdlib + numpy
        loaded = module.TfidfTextFeaturizer.from_pretrained({str(tmp_path)!r})
        np.testing.assert_array_equal(loaded({TEST!r}), np.load({str(tmp_path / "expected.npy")!r}))
        print("OK")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]
