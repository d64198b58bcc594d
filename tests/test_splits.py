"""Speaker-independent folds and the random split, on metadata-only datasets shaped like each corpus."""

import logging

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, DatasetInfo, Features, Value

from hf_emotion.data import get_fold, random_split, speaker_independent_folds


def make_dataset(corpus, speakers, rows_per_speaker=4, n_labels=4, sessions=None):
    speaker_column = [s for s in speakers for _ in range(rows_per_speaker)]
    columns = {
        "label": [i % n_labels for i in range(len(speaker_column))],
        "speaker": speaker_column,
        "row": list(range(len(speaker_column))),
    }
    features = {"label": ClassLabel(num_classes=n_labels), "speaker": Value("string"), "row": Value("int64")}
    if sessions is not None:
        columns["session"] = [sessions[s] for s in speaker_column]
        features["session"] = Value("int32")
    features = Features(features)
    return Dataset.from_dict(
        columns, features=features, info=DatasetInfo(dataset_name=corpus, features=features)
    )


def test_folds(dataset, folds):
    """Test sides partition the rows; within a fold no speaker is on both sides."""
    speakers = np.asarray(dataset["speaker"])
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(dataset)))
    for train, test in folds:
        assert len(train) + len(test) == len(dataset)
        assert not set(speakers[train]) & set(speakers[test])
    return [sorted(set(speakers[test])) for _, test in folds]


test_folds.__test__ = False  # a helper, not a test


def test_ravdess_six_folds_of_four_consecutive_actors():
    dataset = make_dataset("ravdess", [f"{a:02d}" for a in range(1, 25)])
    groups = test_folds(dataset, speaker_independent_folds(dataset))
    assert groups == [[f"{a:02d}" for a in range(start, start + 4)] for start in range(1, 25, 4)]
    # each fold holds two male (odd) and two female (even) actors
    assert all(sum(int(a) % 2 for a in group) == 2 for group in groups)


def test_synthetic_corpus_uses_groups_of_four_actors():
    dataset = make_dataset("synthetic", [f"{a:02d}" for a in range(1, 9)])
    assert test_folds(dataset, speaker_independent_folds(dataset)) == [
        ["01", "02", "03", "04"],
        ["05", "06", "07", "08"],
    ]


def test_crema_d_five_folds_deterministic_and_seeded():
    dataset = make_dataset("crema_d", [str(a) for a in range(1001, 1092)], rows_per_speaker=2)
    groups = test_folds(dataset, speaker_independent_folds(dataset))
    assert len(groups) == 5
    assert sorted(len(g) for g in groups) == [18, 18, 18, 18, 19]
    assert groups == test_folds(dataset, speaker_independent_folds(dataset, seed=0))
    assert groups != test_folds(dataset, speaker_independent_folds(dataset, seed=1))


def test_iemocap_leaves_one_session_out():
    speakers = [f"Ses{s:02d}{g}" for s in range(1, 6) for g in "FM"]
    dataset = make_dataset("iemocap", speakers, sessions={s: int(s[3:5]) for s in speakers})
    groups = test_folds(dataset, speaker_independent_folds(dataset))
    assert groups == [[f"Ses{s:02d}F", f"Ses{s:02d}M"] for s in range(1, 6)]


def test_savee_leaves_one_speaker_out_and_ckplus_has_ten_folds():
    savee = make_dataset("savee", ["DC", "JE", "JK", "KL"])
    assert test_folds(savee, speaker_independent_folds(savee)) == [["DC"], ["JE"], ["JK"], ["KL"]]
    ckplus = make_dataset("ckplus", [f"S{s:03d}" for s in range(5, 128)], rows_per_speaker=2)
    groups = test_folds(ckplus, speaker_independent_folds(ckplus))
    assert len(groups) == 10 and all(12 <= len(g) <= 13 for g in groups)


def test_unknown_corpus_defaults_to_leave_one_speaker_out_and_n_folds_is_checked():
    dataset = make_dataset(None, ["a", "b", "c"])
    assert test_folds(dataset, speaker_independent_folds(dataset)) == [["a"], ["b"], ["c"]]
    assert len(speaker_independent_folds(dataset, n_folds=2)) == 2
    with pytest.raises(ValueError, match="n_folds=4"):
        speaker_independent_folds(dataset, n_folds=4)
    with pytest.raises(ValueError, match="n_folds=1"):
        speaker_independent_folds(dataset, n_folds=1)
    with pytest.raises(ValueError, match="'actor' column"):
        speaker_independent_folds(dataset, speaker_column="actor")


def test_random_split_is_stratified_seeded_and_warns_about_shared_speakers(caplog):
    dataset = make_dataset("ravdess", [f"{a:02d}" for a in range(1, 11)], rows_per_speaker=10, n_labels=5)
    with caplog.at_level(logging.WARNING):
        split = random_split(dataset, test_size=0.2, seed=3)
    assert "speakers are in both train and test" in caplog.text
    assert isinstance(split, DatasetDict) and (len(split["train"]), len(split["test"])) == (80, 20)
    assert np.bincount(split["test"]["label"]).tolist() == [4, 4, 4, 4, 4]  # 20 % of every class
    assert list(split["test"]["row"]) == list(random_split(dataset, test_size=0.2, seed=3)["test"]["row"])
    assert set(split["test"]["row"]) != set(random_split(dataset, test_size=0.2, seed=4)["test"]["row"])
    assert not set(split["test"]["row"]) & set(split["train"]["row"])
    with pytest.raises(ValueError, match="test_size"):
        random_split(dataset, test_size=1.5)


def test_get_fold_returns_train_and_test():
    dataset = make_dataset("savee", ["DC", "JE", "JK", "KL"])
    fold = get_fold(dataset, "speaker", 2)
    assert set(fold["test"]["speaker"]) == {"JK"} and "JK" not in set(fold["train"]["speaker"])
    assert sorted(get_fold(dataset, "random")["test"]["label"]) == [0, 1, 2, 3]  # stratified 20 % of 16 rows
    with pytest.raises(ValueError, match="out of range"):
        get_fold(dataset, "speaker", 4)
    with pytest.raises(ValueError, match="single split"):
        get_fold(dataset, "random", 1)
    with pytest.raises(ValueError, match="protocol"):
        get_fold(dataset, "actor", 0)
