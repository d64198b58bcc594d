"""Corpus loaders on fixture folders in each corpus's real layout and file formats (see corpus_fixtures.py)."""

import logging

import av
import numpy as np
import pytest
from corpus_fixtures import IEMOCAP_FPS, make_ckplus, make_crema_d, make_iemocap, make_ravdess, make_savee
from datasets import Audio, Video

from hf_emotion.data import (
    CORPORA,
    SHARED_EMOTIONS,
    harmonize_labels,
    load_ckplus,
    load_corpus,
    load_crema_d,
    load_iemocap,
    load_ravdess,
    load_savee,
)
from hf_emotion.data.iemocap import cut_dialog_video


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    return {
        "ravdess": make_ravdess(root / "ravdess"),
        "crema_d": make_crema_d(root / "crema_d"),
        "savee": make_savee(root / "savee"),
        "ckplus": make_ckplus(root / "ckplus"),
        "iemocap": make_iemocap(root / "iemocap"),
    }


def names(dataset):
    return [dataset.features["label"].int2str(i) for i in dataset["label"]]


def test_ravdess_audio_visual_speech(folders, caplog):
    with caplog.at_level(logging.WARNING):
        dataset, report = load_ravdess(folders["ravdess"], return_report=True)
    assert names(dataset) == ["neutral", "angry", "happy"]
    assert dataset["speaker"] == ["01", "01", "02"]
    assert dataset["transcript"] == ["Kids are talking by the door", "Dogs are sitting by the door"] + [
        "Kids are talking by the door"
    ]
    assert dataset["intensity"] == ["normal", "strong", "normal"]
    assert dataset["gender"] == ["male", "male", "female"] and dataset["repetition"] == [1, 1, 2]
    assert dataset.info.dataset_name == "ravdess"
    # bad names are skipped with a reason and logged, other modalities/channels are excluded by the options
    reasons = {path.rsplit("/", 1)[1]: reason for path, reason in report.skipped.items()}
    assert reasons["notes-01.mp4"].startswith("unparseable name")
    assert reasons["01-01-09-01-01-01-01.mp4"].startswith("code out of range: emotion")
    assert "skipped 2 items" in caplog.text
    assert sum(report.excluded.values()) == 3
    row = dataset[0]
    raw = dataset.cast_column("audio", Audio(decode=False)).cast_column("video", Video(decode=False))[0]
    assert raw["audio"]["path"] == raw["video"]["path"] == row["path"]  # AV clips: both columns are the .mp4
    frames = row["video"].get_frames_in_range(0, 2).data
    assert tuple(frames.shape) == (2, 3, 720, 1280) and row["video"].metadata.num_frames == 15
    audio = row["audio"].get_all_samples()
    assert audio.sample_rate == 48000 and abs(audio.data.shape[-1] - 24000) < 2048


def test_ravdess_modality_and_channel_options(folders):
    everything = load_ravdess(folders["ravdess"], modality="all", vocal_channel="all")
    assert len(everything) == 6 and set(everything["vocal_channel"]) == {"speech", "song"}
    modality = dict(zip(everything["modality"], range(len(everything))))
    assert everything[modality["video-only"]]["audio"] is None
    assert everything[modality["audio-only"]]["video"] is None
    audio_only = load_ravdess(folders["ravdess"], modality="audio-only")
    assert "video" not in audio_only.column_names and names(audio_only) == ["surprised"]
    assert audio_only[0]["audio"].get_all_samples().sample_rate == 48000
    assert names(load_ravdess(folders["ravdess"], vocal_channel="song")) == ["sad"]
    with pytest.raises(ValueError, match="modality"):
        load_ravdess(folders["ravdess"], modality="3d")


def test_missing_and_wrong_folders(folders, tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        load_ravdess(tmp_path / "no_such_folder")
    (tmp_path / "holiday").mkdir()
    (tmp_path / "holiday" / "beach.mp4").write_bytes(b"x")
    with pytest.raises(ValueError, match="Actor_XX"):
        load_ravdess(tmp_path / "holiday")
    with pytest.raises(ValueError, match="AudioWAV"):
        load_crema_d(folders["ravdess"])
    with pytest.raises(ValueError, match="AudioData"):
        load_savee(folders["ravdess"])
    with pytest.raises(ValueError, match="cohn-kanade-images"):
        load_ckplus(folders["ravdess"])
    with pytest.raises(ValueError, match="EmoEvaluation"):
        load_iemocap(folders["ravdess"])


def test_crema_d(folders):
    dataset, report = load_crema_d(folders["crema_d"], return_report=True)
    assert names(dataset) == ["anger", "happy", "sad", "neutral"]
    assert dataset["speaker"] == ["1001", "1001", "1002", "1091"]
    assert dataset["transcript"] == [
        "Don't forget a jacket",
        "It's eleven o'clock",
        "That is exactly what happened",
        "We'll stop in a couple of minutes",
    ]
    assert dataset["intensity"] == ["", "high", "low", "medium"]
    assert dataset["gender"] == ["male", "male", "female", ""]
    reasons = {path.rsplit("/", 1)[1]: reason for path, reason in report.skipped.items()}
    assert reasons == {
        "1002_MTI_FEA_XX.wav": "no matching video: VideoFlash/1002_MTI_FEA_XX.* is missing",
        "1002_XYZ_ANG_XX.wav": "unknown sentence code: XYZ",
    }
    row = dataset[2]
    audio = row["audio"].get_all_samples()
    assert audio.sample_rate == 16000 and audio.data.shape == (1, 6400)
    assert tuple(row["video"].get_frames_in_range(0, 1).data.shape) == (1, 3, 360, 480)
    assert len(load_crema_d(folders["crema_d"], modality="audio-only")) == 5  # the unmatched wav counts now


def test_savee(folders):
    dataset, report = load_savee(
        folders["savee"], return_report=True, sentences={"a01": "She had your dark suit"}
    )
    assert names(dataset) == ["anger", "sadness", "surprise", "neutral"]
    assert dataset["speaker"] == ["DC", "DC", "JE", "KL"]
    assert dataset["transcript"] == ["She had your dark suit", "", "", ""]
    assert dataset["sentence"] == ["a01", "sa02", "su01", "n03"]
    assert list(report.skipped.values()) == [
        "unparseable name: expected <code><nn> with code in ['a', 'd', 'f', 'h', 'n', 'sa', 'su']"
    ]
    row = dataset[1]
    assert row["audio"].get_all_samples().sample_rate == 44100
    assert tuple(row["video"].get_frames_in_range(0, 1).data.shape) == (1, 3, 256, 320)


def test_ckplus(folders):
    dataset, report = load_ckplus(folders["ckplus"], return_report=True)
    assert names(dataset) == ["disgust", "surprise", "happy"]  # emotion files hold 3, 7 and 5
    assert dataset["speaker"] == ["S005", "S010", "S011"] and dataset["n_frames"] == [3, 2, 4]
    assert list(report.skipped.values()) == ["unlabeled sequence: no Emotion/S010/003/*_emotion.txt"]
    row = dataset[0]
    assert [image.getpixel((0, 0)) for image in row["frames"]] == [20, 40, 60]  # onset -> peak order
    assert row["image"].size == (640, 490) and row["path"].endswith("S005_001_00000003.png")
    assert dataset[2]["image"].mode == "RGB"
    with_unlabeled = load_ckplus(folders["ckplus"], include_unlabeled=True)
    assert with_unlabeled["label"] == [3, 7, -1, 5]


def test_iemocap_labels_transcripts_and_cut_video(folders, tmp_path):
    cache = tmp_path / "cache"
    sources = {p: p.stat().st_mtime_ns for p in folders["iemocap"].rglob("*") if p.is_file()}
    dataset, report = load_iemocap(folders["iemocap"], cache_dir=cache, num_workers=2, return_report=True)
    assert dataset["utterance"] == [
        "Ses01F_impro01_F000",
        "Ses01F_impro01_M000",
        "Ses02M_script01_1_F000",
        "Ses02M_script01_1_M001",
    ]
    assert names(dataset) == ["neu", "hap", "ang", "sad"]  # exc -> hap in the 4-class set
    assert dataset["speaker"] == ["Ses01F", "Ses01M", "Ses02F", "Ses02M"]
    assert dataset["transcript"] == ["Excuse me.", "Do you have your forms?", "What?", "I'm sorry."]
    assert dataset["session"] == [1, 1, 2, 2] and dataset["improvised"] == [True, True, False, False]
    assert dataset["valence"][0] == 2.5 and dataset["arousal"][0] == 3.0 and dataset["dominance"][0] == 3.5
    assert report.excluded == {"label xxx not in 4class": 1}
    assert list(report.skipped.values()) == [
        "missing wav: utterance listed in EmoEvaluation has no audio file"
    ]
    assert dataset[0]["audio"].get_all_samples().data.shape == (1, 16000)

    # the cut clip holds the dialog frames from start to end (compared with the source decoded by PyAV)
    row = dataset[1]
    with av.open(str(folders["iemocap"] / "Session1/dialog/avi/DivX/Ses01F_impro01.avi")) as container:
        source = [frame.to_ndarray(format="rgb24").mean() for frame in container.decode(video=0)]
    clip = row["video"]
    first, last = round(row["start"] * IEMOCAP_FPS), round(row["end"] * IEMOCAP_FPS)
    assert abs(clip.metadata.num_frames - (last - first)) <= 1
    decoded = clip.get_frames_in_range(0, clip.metadata.num_frames).data.float().mean(dim=(1, 2, 3)).numpy()
    assert np.allclose(decoded, source[first : first + len(decoded)], atol=2.0)

    # cached clips are re-used, sources untouched
    clip_times = {p: p.stat().st_mtime_ns for p in cache.rglob("*.mp4")}
    assert len(clip_times) == 4
    full = load_iemocap(folders["iemocap"], label_set="full", cache_dir=cache, num_workers=1)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.mp4")} == clip_times
    assert names(full) == ["neu", "exc", "ang", "sad"]
    assert {p: p.stat().st_mtime_ns for p in folders["iemocap"].rglob("*") if p.is_file()} == sources
    audio_only = load_iemocap(folders["iemocap"], video=False, sessions=[2])
    assert "video" not in audio_only.column_names and audio_only["session"] == [2, 2]


def test_registry_and_label_harmonisation(folders, caplog):
    assert set(CORPORA) == {"ravdess", "crema_d", "savee", "ckplus", "iemocap", "synthetic"}
    assert load_corpus("CREMA-D", folders["crema_d"], modality="audio-only").info.dataset_name == "crema_d"
    with pytest.raises(ValueError, match="Unknown corpus"):
        load_corpus("mosei", folders["crema_d"])

    ravdess = load_ravdess(folders["ravdess"], modality="all", vocal_channel="all")
    # neutral, angry, happy, sad, fearful, surprised: all in the shared vocabulary
    shared = harmonize_labels(ravdess)
    assert names(shared) == names(ravdess) and shared.features["label"].names == list(SHARED_EMOTIONS)
    crema = harmonize_labels(load_crema_d(folders["crema_d"]))
    assert names(crema) == ["angry", "happy", "sad", "neutral"]
    savee = harmonize_labels(load_savee(folders["savee"]))
    assert names(savee) == ["angry", "sad", "surprised", "neutral"]
    ckplus = load_ckplus(folders["ckplus"])
    with caplog.at_level(logging.WARNING):
        two, dropped = harmonize_labels(ckplus, target_vocabulary=["happy", "surprised"], return_report=True)
    assert names(two) == ["surprised", "happy"] and dropped == {"disgust": 1}
    assert "dropped 1 of 3 rows" in caplog.text
    assert "frames" in two.column_names and two.column_names[0] == "label"
    with pytest.raises(ValueError, match="target_vocabulary"):
        harmonize_labels(ckplus, target_vocabulary=["joy"])


def test_harmonisation_merges_and_drops_on_request(tmp_path):
    from datasets import ClassLabel, Dataset, DatasetInfo, Features, Value

    features = Features(label=ClassLabel(names=["neutral", "calm", "happy"]), speaker=Value("string"))
    dataset = Dataset.from_dict(
        {"label": [0, 1, 2, 1], "speaker": ["01", "02", "03", "04"]},
        features=features,
        info=DatasetInfo(dataset_name="ravdess", features=features),
    )
    dropped = harmonize_labels(dataset)
    assert names(dropped) == ["neutral", "happy"] and dropped["speaker"] == ["01", "03"]
    merged = harmonize_labels(dataset, merge={"calm": "neutral"}, target_vocabulary=["neutral", "happy"])
    assert merged["label"] == [0, 0, 1, 0]
    iemocap = Dataset.from_dict(
        {"label": [0, 1, 2]},
        features=Features(label=ClassLabel(names=["hap", "exc", "fru"])),
    )
    result = harmonize_labels(
        iemocap, corpus="iemocap", merge={"excited": "happy"}, target_vocabulary=["happy"]
    )
    assert result["label"] == [0, 0]


def test_cut_dialog_video_seeks_and_reports_cuts_outside_the_video(folders, tmp_path):
    source = folders["iemocap"] / "Session2/dialog/avi/DivX/Ses02M_script01_1.avi"
    with av.open(str(source)) as container:
        reference = [frame.to_ndarray(format="rgb24").mean() for frame in container.decode(video=0)]
    cuts = [
        (2.5, 3.0, str(tmp_path / "a.mp4")),
        (3.5, 3.9, str(tmp_path / "b.mp4")),
        (5.0, 6.0, str(tmp_path / "c.mp4")),
    ]
    errors = cut_dialog_video(source, cuts)
    assert list(errors) == [cuts[2][2]] and "no frames" in errors[cuts[2][2]]
    assert not (tmp_path / "c.mp4").exists() and not list(tmp_path.glob("*.part"))
    with av.open(cuts[0][2]) as container:
        decoded = [frame.to_ndarray(format="rgb24").mean() for frame in container.decode(video=0)]
    assert len(decoded) == 15 and np.allclose(decoded, reference[75:90], atol=2.0)
