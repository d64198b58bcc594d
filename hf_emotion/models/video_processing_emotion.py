"""Video processor for the hf_emotion models: N frames sampled uniformly over a clip, resized, centre-cropped and
normalised (ImageNet mean/std for ResNet-18, or per-frame min-max for the RMLSTM paper's eq. 1), with optional
face cropping by OpenCV's bundled Haar cascade.

This file travels to the Hub (``register_for_auto_class``): module-level imports are limited to the standard
library, numpy, torch, transformers and siblings; OpenCV is imported only when ``crop_faces=True``.
"""

from __future__ import annotations

import logging
import os
from typing import Any, TypedDict

import numpy as np
import torch
from transformers.image_processing_utils import BatchFeature
from transformers.video_processing_utils import VideoProcessorMixin

from .decoding import decode_window, is_decoder, resize_short_side, sample_decoder_frames

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZATIONS = ("imagenet", "minmax")


class EmotionVideoProcessorKwargs(TypedDict, total=False):
    num_frames: int
    image_size: int
    normalization: str
    image_mean: list[float]
    image_std: list[float]
    crop_faces: bool
    face_detection_frames: int
    face_margin: float
    clip_seconds: float


def uniform_indices(num_available: int, num_frames: int) -> np.ndarray:
    """Indices of the frames at the centres of `num_frames` equal bins over `num_available` frames."""
    if num_available < 1:
        raise ValueError("The video has no frames.")
    return np.minimum(
        ((np.arange(num_frames) + 0.5) * num_available / num_frames).astype(np.int64), num_available - 1
    )


def _frames_to_uint8(frames: Any, name: str) -> torch.Tensor:
    """Any frame stack (T,H,W,3) / (T,H,W) / (T,H,W,1) / (T,3,H,W) / list of PIL images → (T,H,W,3) uint8 tensor."""
    if isinstance(frames, (list, tuple)):
        if len(frames) == 0:
            raise ValueError(f"`{name}` is an empty list of frames.")
        arrays = [np.asarray(f.convert("RGB")) if hasattr(f, "convert") else np.asarray(f) for f in frames]
        if len({a.shape for a in arrays}) > 1:
            raise ValueError(
                f"`{name}` holds frames of different sizes: {sorted({a.shape for a in arrays})}."
            )
        frames = np.stack(arrays)
    array = frames if isinstance(frames, torch.Tensor) else torch.as_tensor(np.asarray(frames))
    if array.dim() == 3:  # (T, H, W) grayscale
        array = array.unsqueeze(-1)
    if array.dim() != 4:
        raise ValueError(
            f"`{name}` must be a stack of frames (frames, height, width, 3), got shape {tuple(array.shape)}."
        )
    if array.shape[-1] not in (1, 3) and array.shape[1] in (1, 3):
        array = array.permute(0, 2, 3, 1)  # (T, C, H, W) -> (T, H, W, C)
    if array.shape[-1] == 1:
        array = array.expand(-1, -1, -1, 3)  # grayscale -> three identical channels
    if array.shape[-1] != 3:
        raise ValueError(f"`{name}` must have 1 or 3 colour channels, got shape {tuple(array.shape)}.")
    if array.shape[0] == 0 or array.shape[1] == 0 or array.shape[2] == 0:
        raise ValueError(f"`{name}` has an empty dimension: shape {tuple(array.shape)}.")
    if array.dtype != torch.uint8:
        array = array.float()
        if array.max() <= 1.0:  # floats in [0, 1]
            array = array * 255.0
        array = array.round().clamp(0, 255).to(torch.uint8)
    return array


def detect_face_box(
    frames: torch.Tensor, num_probe_frames: int = 5, margin: float = 0.4
) -> tuple[int, int, int, int] | None:
    """One square face box (top, left, bottom, right) for a whole clip, or `None` when no face is found.

    Runs OpenCV's frontal-face Haar cascade on `num_probe_frames` evenly spaced frames (downscaled to ≤ 320 px for
    speed), keeps the largest face of each, takes the median box (stable over the clip), enlarges it by `margin`
    on each side and makes it square, clamped to the frame.
    """
    try:
        import cv2
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("`crop_faces=True` needs OpenCV: `pip install opencv-python-headless`.") from error
    cascade = _haar_cascade(cv2)
    num, height, width = frames.shape[0], frames.shape[1], frames.shape[2]
    scale = min(1.0, 320.0 / max(height, width))
    boxes = []
    for index in uniform_indices(num, min(num_probe_frames, num)):
        gray = cv2.cvtColor(frames[index].numpy(), cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(
                gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
        min_side = max(12, int(0.1 * min(gray.shape)))
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
        if len(faces):
            x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
            boxes.append((x / scale, y / scale, w / scale, h / scale))
    if not boxes:
        return None
    x, y, w, h = np.median(np.array(boxes, dtype=np.float64), axis=0)
    centre_x, centre_y = x + w / 2, y + h / 2
    side = min(max(w, h) * (1 + 2 * margin), height, width)
    top = int(round(min(max(centre_y - side / 2, 0), height - side)))
    left = int(round(min(max(centre_x - side / 2, 0), width - side)))
    side = int(round(side))
    return top, left, top + side, left + side


_CASCADE = None


def _haar_cascade(cv2):
    global _CASCADE
    if _CASCADE is None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise ImportError(
                f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 moved them out of the main package); "
                "`crop_faces=True` needs `pip install 'opencv-python-headless>=4.9,<5'`."
            )
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        _CASCADE = cv2.CascadeClassifier(path)
        if _CASCADE.empty():
            raise RuntimeError(f"OpenCV could not load its bundled face detector from {path}.")
    return _CASCADE


class EmotionVideoProcessor(VideoProcessorMixin):
    r"""
    Turns a video (file path, frame array, list of PIL images or torchcodec `VideoDecoder`) into a fixed-size frame
    tensor: sample `num_frames` frames uniformly in time, optionally crop to the face, resize the shorter side to
    `image_size` and centre-crop a square, then normalise.

    Args:
        num_frames (`int`, *optional*, defaults to 90): frames per clip, at the centres of `num_frames` equal time
            bins (paths and decoders are sampled by timestamp, arrays by index); short clips repeat frames.
        image_size (`int`, *optional*, defaults to 224): output height and width.
        normalization (`str`, *optional*, defaults to `"imagenet"`): `"imagenet"` — scale to [0, 1] then
            ``(x - image_mean) / image_std`` (for ImageNet backbones such as ResNet-18); `"minmax"` — per-frame
            ``(x - min) / (max - min)`` to [0, 1] over all pixels and channels (RMLSTM paper, eq. 1).
        image_mean (`list[float]`, *optional*, defaults to the ImageNet mean): used with `"imagenet"`.
        image_std (`list[float]`, *optional*, defaults to the ImageNet std): used with `"imagenet"`.
        crop_faces (`bool`, *optional*, defaults to `False`): crop every frame to one face box per clip found by
            OpenCV's bundled Haar cascade (offline); falls back to the full frame when no face is found.
        face_detection_frames (`int`, *optional*, defaults to 5): frames probed by the face detector.
        face_margin (`float`, *optional*, defaults to 0.4): margin added on each side of the face box, as a
            fraction of its size.
        clip_seconds (`float`, *optional*, defaults to 3.0): a video file longer than this is sampled over its
            centre `clip_seconds` only — the span the audio feature extractor (same setting, same default) takes
            its sound from, so audio and frames always cover the same span. `None` samples the whole file. For a
            prediction over all of a long file, use the pipeline's ``chunk_length_s`` (a timeline).

    Video files are decoded by `decode_window`, shrinking frames chunk by chunk to a shorter side of
    `decode_short_side` (`image_size`, or 3 × `image_size` with `crop_faces` so that a face a third of the frame
    high still gets `image_size` pixels), so a 4K file costs memory in proportion to the output, not the source.

    Output: ``pixel_values_videos`` of shape (batch, num_frames, 3, image_size, image_size), float32.

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_emotion.models.video_processing_emotion import EmotionVideoProcessor
    >>> processor = EmotionVideoProcessor(num_frames=8, image_size=32)
    >>> processor(np.zeros((20, 48, 64, 3), dtype=np.uint8))["pixel_values_videos"].shape
    torch.Size([1, 8, 3, 32, 32])
    ```
    """

    model_input_names = ["pixel_values_videos"]
    valid_kwargs = EmotionVideoProcessorKwargs

    def __init__(
        self,
        num_frames: int = 90,
        image_size: int = 224,
        normalization: str = "imagenet",
        image_mean: list[float] | None = None,
        image_std: list[float] | None = None,
        crop_faces: bool = False,
        face_detection_frames: int = 5,
        face_margin: float = 0.4,
        clip_seconds: float | None = 3.0,
        **kwargs,
    ):
        kwargs.pop("video_processor_type", None)
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"`normalization` must be one of {NORMALIZATIONS}, got {normalization!r}.")
        if num_frames < 1 or image_size < 1:
            raise ValueError(
                f"`num_frames` and `image_size` must be >= 1, got {num_frames} and {image_size}."
            )
        self.num_frames = int(num_frames)
        self.image_size = int(image_size)
        self.normalization = normalization
        self.image_mean = list(image_mean) if image_mean is not None else list(IMAGENET_MEAN)
        self.image_std = list(image_std) if image_std is not None else list(IMAGENET_STD)
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            raise ValueError("`image_mean` and `image_std` need 3 values each (RGB), with positive std.")
        self.crop_faces = bool(crop_faces)
        self.face_detection_frames = int(face_detection_frames)
        self.face_margin = float(face_margin)
        if clip_seconds is not None and not clip_seconds > 0:
            raise ValueError(
                f"`clip_seconds` must be positive (or None for the whole file), got {clip_seconds}."
            )
        self.clip_seconds = None if clip_seconds is None else float(clip_seconds)

    @property
    def decode_short_side(self) -> int:
        """The shorter side frames are shrunk to while decoding: `image_size`, or 3 × it for face cropping."""
        return self.image_size * (3 if self.crop_faces else 1)

    # Inputs ----------------------------------------------------------------------------------------------------

    def _is_single_video(self, videos: Any) -> bool:
        if isinstance(videos, (str, os.PathLike)) or is_decoder(videos, "video"):
            return True
        if isinstance(videos, (np.ndarray, torch.Tensor)):
            return videos.ndim in (3, 4)  # (T, H, W[, C]); a 5-D array is a batch
        if isinstance(videos, (list, tuple)) and videos:
            first = videos[0]
            return hasattr(first, "convert") or (
                isinstance(first, (np.ndarray, torch.Tensor)) and first.ndim in (2, 3)
            )
        return False

    def load_clip(self, video: Any, name: str = "videos") -> torch.Tensor:
        """One video in any accepted form → (num_frames, height, width, 3) uint8, sampled uniformly in time."""
        if isinstance(video, (str, os.PathLike)):
            window = decode_window(
                video,
                num_frames=self.num_frames,
                short_side=self.decode_short_side,
                max_seconds=self.clip_seconds,
                need_audio=False,
            )
            return torch.from_numpy(window.frames)
        if is_decoder(video, "video"):
            frames = sample_decoder_frames(video, self.num_frames, short_side=self.decode_short_side)
            return torch.from_numpy(frames)
        frames = _frames_to_uint8(video, name)
        return frames[torch.from_numpy(uniform_indices(frames.shape[0], self.num_frames))]

    # Frame operations ------------------------------------------------------------------------------------------

    def resize_and_crop(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, H, W, 3) uint8 → (T, 3, image_size, image_size) float in [0, 255]: shorter side, then centre crop.

        Resizing runs on uint8 channels-last tensors (bilinear with antialiasing), torch's vectorised fast path:
        about 10x cheaper than in float and than FFmpeg's scaler for 720p → 224 px.
        """
        clip = resize_short_side(frames, self.image_size).permute(0, 3, 1, 2)  # (T, 3, H', W')
        new_h, new_w = clip.shape[2], clip.shape[3]
        top, left = (new_h - self.image_size) // 2, (new_w - self.image_size) // 2
        return clip[:, :, top : top + self.image_size, left : left + self.image_size].float()

    def normalize_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, S, S) float in [0, 255] → normalised float32."""
        if self.normalization == "minmax":
            low = frames.amin(dim=(1, 2, 3), keepdim=True)
            high = frames.amax(dim=(1, 2, 3), keepdim=True)
            return frames.sub(low).div_((high - low).clamp(min=1e-6))  # a constant frame maps to 0
        mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std).view(1, 3, 1, 1)
        return frames.mul(1.0 / (255.0 * std)).sub_(mean / std)  # (x / 255 - mean) / std in two passes

    def process_clip(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, H, W, 3) uint8 frames of one clip → (T, 3, image_size, image_size) normalised float32."""
        if self.crop_faces:
            box = detect_face_box(frames, self.face_detection_frames, self.face_margin)
            if box is None:
                logger.debug("No face found; using the full frame.")
            else:
                top, left, bottom, right = box
                frames = frames[:, top:bottom, left:right]
        return self.normalize_frames(self.resize_and_crop(frames)).float()

    def __call__(self, videos: Any, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        return self.preprocess(videos, return_tensors=return_tensors, **kwargs)

    def preprocess(self, videos: Any, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        """Process one video or a batch.

        Args:
            videos: a path, a frame array (T, H, W, 3) (also (T, H, W) grayscale or (T, 3, H, W)), a list of PIL
                images or of (H, W[, 3]) arrays (one video), a torchcodec `VideoDecoder`, or a list of paths,
                decoders or 4-D arrays / a 5-D array (a batch; give grayscale clips in a batch as (T, H, W, 1)).
            return_tensors (`str`, *optional*, defaults to `"pt"`): `"pt"`, `"np"` or `None` (numpy).

        Returns:
            `BatchFeature` with ``pixel_values_videos`` (batch, num_frames, 3, image_size, image_size).
        """
        if kwargs:
            logger.debug("Ignoring unused video-processor arguments: %s", sorted(kwargs))
        if videos is None or (isinstance(videos, (list, tuple)) and len(videos) == 0):
            raise ValueError("`videos` is empty; give a video path, a frame array, or a list of them.")
        batch = [videos] if self._is_single_video(videos) else list(videos)
        clips = [self.process_clip(self.load_clip(video, f"videos[{i}]")) for i, video in enumerate(batch)]
        pixel_values = torch.stack(clips)  # (batch, num_frames, 3, image_size, image_size)
        return BatchFeature({"pixel_values_videos": pixel_values.numpy()}, tensor_type=return_tensors)


EmotionVideoProcessor.register_for_auto_class("AutoVideoProcessor")
