"""EmotionVideoProcessor: sampling, resize/crop against Pillow, both normalisations, face cropping, bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from hf_emotion.models.video_processing_emotion import IMAGENET_MEAN, IMAGENET_STD, EmotionVideoProcessor


def index_coded_clip(count: int, size=(24, 32)) -> np.ndarray:
    clip = np.zeros((count, *size, 3), dtype=np.uint8)
    clip[..., 0] = np.arange(count, dtype=np.uint8)[:, None, None] * 5
    clip[..., 1] = 100
    return clip


def test_uniform_index_sampling_and_shape():
    processor = EmotionVideoProcessor(num_frames=5, image_size=16, normalization="imagenet")
    pixels = processor(index_coded_clip(50))["pixel_values_videos"]
    assert pixels.shape == (1, 5, 3, 16, 16) and pixels.dtype == torch.float32
    red = pixels[0, :, 0, 8, 8] * IMAGENET_STD[0] + IMAGENET_MEAN[0]  # back to [0, 1]
    expected = (np.array([5, 15, 25, 35, 45]) * 5) / 255.0  # centres of 5 bins over 50 frames
    np.testing.assert_allclose(red.numpy(), expected, atol=1e-5)


def test_imagenet_normalisation_by_hand():
    clip = np.full((2, 20, 20, 3), (30, 120, 240), dtype=np.uint8)
    pixels = EmotionVideoProcessor(num_frames=2, image_size=20)(clip)["pixel_values_videos"]
    expected = (np.array([30, 120, 240]) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(pixels[0, 0, :, 5, 5].numpy(), expected, atol=1e-5)


def test_minmax_normalisation_per_frame():
    rng = np.random.default_rng(0)
    clip = rng.integers(40, 200, size=(3, 20, 20, 3), dtype=np.uint8)
    pixels = EmotionVideoProcessor(num_frames=3, image_size=20, normalization="minmax")(clip)[
        "pixel_values_videos"
    ]
    frame = clip[1].astype(np.float64)
    expected = ((frame - frame.min()) / (frame.max() - frame.min())).transpose(2, 0, 1)  # eq. (1)
    np.testing.assert_allclose(pixels[0, 1].numpy(), expected, atol=1e-5)
    constant = EmotionVideoProcessor(num_frames=1, image_size=8, normalization="minmax")(
        np.full((1, 8, 8, 3), 9, np.uint8)
    )
    assert torch.all(constant["pixel_values_videos"] == 0)


def test_resize_and_centre_crop_match_pillow():
    rng = np.random.default_rng(1)
    smooth = np.kron(rng.integers(0, 255, size=(12, 18, 3)), np.ones((20, 20, 1))).astype(
        np.uint8
    )  # 240 x 360
    pixels = EmotionVideoProcessor(num_frames=1, image_size=120, normalization="minmax")
    ours = pixels.resize_and_crop(torch.from_numpy(smooth[None]))[0].numpy()  # (3, 120, 120), [0, 255]
    resized = np.asarray(Image.fromarray(smooth).resize((180, 120), Image.BILINEAR)).astype(np.float64)
    reference = resized[:, 30:150].transpose(2, 0, 1)
    assert np.abs(ours - reference).mean() < 2.0  # different antialias kernels, same image


def test_grayscale_channels_first_odd_sizes_pil_and_float_frames():
    processor = EmotionVideoProcessor(num_frames=2, image_size=8, normalization="minmax")
    gray = np.random.default_rng(2).integers(0, 255, size=(4, 13, 17), dtype=np.uint8)
    out = processor(gray)["pixel_values_videos"][0]
    assert out.shape == (2, 3, 8, 8)
    torch.testing.assert_close(out[:, 0], out[:, 2])
    channels_first = np.transpose(np.stack([gray] * 3, axis=-1), (0, 3, 1, 2))  # (T, 3, H, W)
    torch.testing.assert_close(processor(channels_first)["pixel_values_videos"][0], out)
    pil_frames = [Image.fromarray(frame) for frame in gray]  # a list of PIL images is one video
    torch.testing.assert_close(processor(pil_frames)["pixel_values_videos"][0], out)
    floats = np.stack([gray] * 3, axis=-1).astype(np.float32) / 255.0
    torch.testing.assert_close(processor(floats)["pixel_values_videos"][0], out, atol=1e-2, rtol=0)
    batch = processor([gray[..., None], gray[:2, ..., None]])["pixel_values_videos"]  # a batch of 4-D clips
    assert batch.shape == (2, 2, 3, 8, 8)


def test_face_crop_finds_the_face_and_falls_back_without_one():
    import matplotlib.cbook

    portrait = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    clip = np.stack([portrait] * 4)  # (4, 600, 512, 3)
    from hf_emotion.models.video_processing_emotion import detect_face_box

    top, left, bottom, right = detect_face_box(torch.from_numpy(clip), margin=0.0)
    # The face in this photo lies roughly in rows 90-350, columns 140-400 (by eye); the box must be inside.
    assert 60 <= top < bottom <= 380 and 120 <= left < right <= 420
    cropped = EmotionVideoProcessor(num_frames=2, image_size=32, crop_faces=True)(clip)["pixel_values_videos"]
    full = EmotionVideoProcessor(num_frames=2, image_size=32)(clip)["pixel_values_videos"]
    assert cropped.shape == full.shape and not torch.allclose(cropped, full)
    noise = np.random.default_rng(3).integers(0, 255, size=(3, 64, 80, 3), dtype=np.uint8)
    with_fallback = EmotionVideoProcessor(num_frames=3, image_size=32, crop_faces=True)(noise)
    torch.testing.assert_close(
        with_fallback["pixel_values_videos"],
        EmotionVideoProcessor(num_frames=3, image_size=32)(noise)["pixel_values_videos"],
    )


def test_save_and_reload(tmp_path):
    processor = EmotionVideoProcessor(num_frames=7, image_size=12, normalization="minmax", crop_faces=True)
    processor.save_pretrained(tmp_path)
    reloaded = EmotionVideoProcessor.from_pretrained(tmp_path)
    assert (reloaded.num_frames, reloaded.image_size, reloaded.normalization, reloaded.crop_faces) == (
        7,
        12,
        "minmax",
        True,
    )


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 3, 4, 5, 6, 7), dtype=np.uint8), "stack of frames"),
        (np.zeros((2, 8, 8, 4), dtype=np.uint8), "colour channels"),
        (np.zeros((0, 8, 8, 3), dtype=np.uint8), "empty"),
        ([], "empty"),
        ([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)], "different sizes"),
    ],
)
def test_bad_frames(bad, message):
    with pytest.raises(ValueError, match=message):
        EmotionVideoProcessor(num_frames=2, image_size=8)(bad)


def test_bad_configuration():
    with pytest.raises(ValueError, match="normalization"):
        EmotionVideoProcessor(normalization="zscore")
