"""Feature caching with Dataset.map: audio features, optional pixels and frozen-backbone frame features."""

import pytest
import torch
from datasets import Audio, Dataset, Video
from media_fixtures import write_video

from hf_emotion.data.features import cache_frame_features, prepare_dataset
from hf_emotion.models.decoding import load_audio
from hf_emotion.models.feature_extraction_emotion import EmotionFeatureExtractor
from hf_emotion.models.processing_emotion import EmotionProcessor
from hf_emotion.models.video_processing_emotion import EmotionVideoProcessor


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Dataset:
    root = tmp_path_factory.mktemp("cache")
    paths = [
        str(write_video(root / f"clip{i}.mp4", seconds=0.5, fps=20, audio_hz=300.0 + 200 * i, size=(32, 40)))
        for i in range(3)
    ]
    table = Dataset.from_dict({"path": paths, "audio": paths, "video": paths, "label": [0, 1, 2]})
    return table.cast_column("audio", Audio()).cast_column("video", Video())


def small_processor() -> EmotionProcessor:
    return EmotionProcessor(
        feature_extractor=EmotionFeatureExtractor(num_mel_bins=16, num_frames=32, clip_seconds=0.5),
        video_processor=EmotionVideoProcessor(num_frames=4, image_size=32),
    )


def test_prepare_dataset_matches_direct_extraction_with_two_processes(dataset):
    processor = small_processor()
    prepared = prepare_dataset(dataset, processor, num_proc=2, include_pixels=True, batch_size=2)
    assert prepared.column_names == [
        "path",
        "audio",
        "video",
        "label",
        "input_features",
        "pixel_values_videos",
    ]
    assert prepared.features["audio"].decode and prepared.features["video"].decode  # media columns unchanged
    rows = prepared.with_format("torch", columns=["input_features", "pixel_values_videos"])
    assert rows[0]["input_features"].shape == (16, 32)
    assert rows[0]["pixel_values_videos"].shape == (4, 3, 32, 32)
    for index, path in enumerate(dataset["path"]):
        direct = processor.feature_extractor(load_audio(path), sampling_rate=16000)["input_features"][0]
        torch.testing.assert_close(rows[index]["input_features"], direct)
        pixels = processor.video_processor(path)["pixel_values_videos"][0]
        torch.testing.assert_close(rows[index]["pixel_values_videos"], pixels)


def test_prepare_dataset_reads_the_path_column_alone(dataset):
    paths_only = dataset.select_columns(["path", "label"])
    prepared = prepare_dataset(paths_only, small_processor())
    assert prepared.column_names == ["path", "label", "input_features"]
    with pytest.raises(ValueError, match="Nothing to prepare"):
        prepare_dataset(paths_only, EmotionProcessor(modalities=["video"]))


def test_cache_frame_features_equals_encoder_on_pixels(dataset):
    processor = small_processor()
    torch.manual_seed(0)
    cached = cache_frame_features(dataset, "resnet18", processor=processor, batch_size=2)
    features = cached.with_format("torch", columns=["frame_features"])[:]["frame_features"]
    assert features.shape == (3, 4, 512)
    from hf_emotion.models.modeling_common import EmotionFrameEncoder

    torch.manual_seed(0)
    encoder = EmotionFrameEncoder("resnet18", freeze=True).eval()  # same seed: same random weights
    with torch.no_grad():
        expected = encoder(processor(videos=dataset["path"])["pixel_values_videos"])
    torch.testing.assert_close(features, expected, atol=1e-4, rtol=1e-4)
    encoder.train()
    cached_again = cache_frame_features(dataset.select([0]), encoder, processor=processor)
    assert encoder.training  # the caller's module mode is restored
    torch.testing.assert_close(
        cached_again.with_format("torch")[0]["frame_features"], features[0], atol=1e-4, rtol=1e-4
    )
