"""`EmotionProcessor`: one object that turns a video file (or arrays) into the inputs of the hf_emotion models.

It combines :class:`EmotionFeatureExtractor` (audio → ``input_features``), :class:`EmotionVideoProcessor` (frames →
``pixel_values_videos``) and, optionally, a text featurizer (transcripts → ``text_features``, for `rmlstm`).

This file travels to the Hub (``register_for_auto_class``): module-level imports are limited to the standard
library, numpy, torch, transformers and siblings.

Text featurizer hook (duck typed, so any object works): it must be callable as ``featurizer(list_of_texts) ->
np.ndarray (batch, dim)``, have ``to_dict()`` returning JSON-serialisable data, and a classmethod
``from_dict(data)``. The processor's JSON stores ``{"featurizer_class", "featurizer_module", "config"}``; on load
the class is imported from the sibling module of that name (``hf_emotion.models.text_featurization`` in-process,
or the copy saved next to the processor for ``trust_remote_code=True`` loading).
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .feature_extraction_emotion import EmotionFeatureExtractor
from .video_processing_emotion import EmotionVideoProcessor

logger = logging.getLogger(__name__)

MODALITIES = ("audio", "video", "text")
_LOADING_FROM: contextvars.ContextVar[str | None] = contextvars.ContextVar("_LOADING_FROM", default=None)


def _featurizer_spec(featurizer: Any) -> dict[str, Any]:
    """The JSON form of a text featurizer: where its class lives and its own `to_dict()`."""
    cls = type(featurizer)
    return {
        "featurizer_class": cls.__name__,
        "featurizer_module": cls.__module__.rsplit(".", 1)[-1],
        "featurizer_import_path": cls.__module__,
        "config": featurizer.to_dict(),
    }


def _featurizer_from_spec(spec: dict[str, Any]) -> Any:
    """Rebuild a text featurizer from its JSON form (see the module docstring).

    The class is looked up, in order: in the sibling module named `featurizer_module` (in-process
    ``hf_emotion.models.text_featurization``); in an installed module `featurizer_import_path`; and, only when this
    file itself runs as trusted remote code, in the copy of that module saved beside the processor.
    """
    module_name, class_name = spec.get("featurizer_module"), spec.get("featurizer_class")
    if not (isinstance(module_name, str) and module_name.isidentifier() and isinstance(class_name, str)):
        raise ValueError(f"`text_featurizer` in the processor config is malformed: {spec!r}.")
    candidates = [f"{__package__}.{module_name}"]
    import_path = spec.get("featurizer_import_path")
    if isinstance(import_path, str) and not __name__.startswith("transformers_modules"):
        candidates.append(import_path)
    featurizer_class = None
    for candidate in candidates:
        try:
            featurizer_class = getattr(importlib.import_module(candidate), class_name)
            break
        except (ImportError, AttributeError):
            continue
    if featurizer_class is None:
        source = _LOADING_FROM.get()
        if not __name__.startswith("transformers_modules") or source is None:
            raise ValueError(
                f"The processor config names the text featurizer `{import_path or module_name}.{class_name}`, "
                "which cannot be imported here; install or import the package that defines it."
            )
        # This file runs as remote code the user already trusted: load the featurizer saved beside it.
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        featurizer_class = get_class_from_dynamic_module(f"{module_name}.{class_name}", source)
    return featurizer_class.from_dict(spec["config"])


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class EmotionProcessor(ProcessorMixin):
    r"""
    Audio-visual(-text) processor for the hf_emotion models.

    Args:
        feature_extractor (`EmotionFeatureExtractor`, *optional*): audio features; defaults to the paper's
            (`tucker_av`) log-Mel 128 × 256 over 3 s at 16 kHz.
        video_processor (`EmotionVideoProcessor`, *optional*): frames; defaults to 90 frames, 224 px, ImageNet.
        text_featurizer (*optional*): an object with ``__call__(texts) -> np.ndarray``, ``to_dict()`` and
            ``from_dict()`` (e.g. `TfidfTextFeaturizer`), or its saved dict form.
        modalities (`list[str]`, *optional*, defaults to `["audio", "video"]`, plus `"text"` when a featurizer is
            set): which inputs `__call__` produces from a video path.

    Example:

    ```python
    >>> from hf_emotion.models.processing_emotion import EmotionProcessor
    >>> processor = EmotionProcessor()
    >>> inputs = processor(videos="Actor_01/01-01-05-01-01-01-01.mp4")  # doctest: +SKIP
    >>> inputs["input_features"].shape, inputs["pixel_values_videos"].shape  # doctest: +SKIP
    (torch.Size([1, 128, 256]), torch.Size([1, 90, 3, 224, 224]))
    ```
    """

    def __init__(
        self,
        feature_extractor: EmotionFeatureExtractor | None = None,
        video_processor: EmotionVideoProcessor | None = None,
        text_featurizer: Any = None,
        modalities: list[str] | None = None,
    ):
        feature_extractor = feature_extractor if feature_extractor is not None else EmotionFeatureExtractor()
        video_processor = video_processor if video_processor is not None else EmotionVideoProcessor()
        if isinstance(text_featurizer, dict):
            text_featurizer = _featurizer_from_spec(text_featurizer)
        if text_featurizer is not None:
            missing = [m for m in ("__call__", "to_dict") if not hasattr(text_featurizer, m)]
            if missing or not hasattr(type(text_featurizer), "from_dict"):
                raise ValueError(
                    "`text_featurizer` must be callable on a list of texts and have `to_dict()` and a `from_dict()` "
                    f"classmethod; {type(text_featurizer).__name__} lacks {missing or ['from_dict']}."
                )
        self.text_featurizer = text_featurizer
        if modalities is None:
            modalities = ["audio", "video"] + (["text"] if text_featurizer is not None else [])
        modalities = _as_list(modalities)
        if (
            not modalities
            or any(m not in MODALITIES for m in modalities)
            or len(set(modalities)) != len(modalities)
        ):
            raise ValueError(
                f"`modalities` must be a non-empty subset of {list(MODALITIES)}, got {modalities}."
            )
        self.modalities = [m for m in MODALITIES if m in modalities]
        super().__init__(feature_extractor=feature_extractor, video_processor=video_processor)

    @classmethod
    def from_model_config(cls, config: Any, text_featurizer: Any = None, **overrides) -> EmotionProcessor:
        """A processor matching a model config, reading (when present) `audio_feature_type`, `num_mel_bins`,
        `num_audio_frames`, `num_mfcc`, `num_frames`, `image_size`, `video_normalization` and `modalities`.
        Keyword `overrides` go to the feature extractor or video processor that accepts them."""

        def read(name: str, default: Any) -> Any:
            value = getattr(config, name, None)
            return default if value is None else value

        audio_kwargs = {
            "feature_type": read("audio_feature_type", "log_mel"),
            "num_mel_bins": read("num_mel_bins", 128),
            "num_frames": read("num_audio_frames", 256),
            "num_mfcc": read("num_mfcc", 40),
        }
        video_kwargs = {
            "num_frames": read("num_frames", 90),
            "image_size": read("image_size", 224),
            "normalization": read("video_normalization", "imagenet"),
        }
        for key, value in overrides.items():
            target = (
                video_kwargs if key in EmotionVideoProcessor.valid_kwargs.__annotations__ else audio_kwargs
            )
            target[key] = value
        modalities = getattr(config, "modalities", None)
        if text_featurizer is None and modalities is not None and "text" in modalities:
            # Unfitted until `fit(texts=...)`: its vocabulary is learnt from the training transcripts.
            text_module = importlib.import_module(f"{__package__}.text_featurization")
            text_featurizer = text_module.TfidfTextFeaturizer(max_features=read("text_feature_dim", None))
        return cls(
            feature_extractor=EmotionFeatureExtractor(**audio_kwargs),
            video_processor=EmotionVideoProcessor(**video_kwargs),
            text_featurizer=text_featurizer,
            modalities=list(modalities) if modalities is not None else None,
        )

    def fit(self, texts: Any = None, audio: Any = None, sampling_rate: int | None = None) -> EmotionProcessor:
        """Learn from a training split what is learnt from data, in place: the text featurizer's vocabulary and
        IDF from `texts` (when "text" is a modality), and the audio normalisation statistics from `audio` clips
        (when given; see `EmotionFeatureExtractor.fit_normalization`). Returns `self`."""
        if texts is not None and "text" in self.modalities:
            if self.text_featurizer is None or not hasattr(self.text_featurizer, "fit"):
                raise ValueError(
                    "This processor has no fittable `text_featurizer`; build it with "
                    "`EmotionProcessor.from_model_config(config)` for a config whose modalities include 'text'."
                )
            self.text_featurizer.fit(list(texts))
        if audio is not None:
            self.feature_extractor.fit_normalization(audio, sampling_rate=sampling_rate)
        return self

    # Serialisation ---------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        featurizer = self.__dict__.pop("text_featurizer", None)
        try:
            output = super().to_dict()
        finally:
            self.text_featurizer = featurizer
        output["text_featurizer"] = _featurizer_spec(featurizer) if featurizer is not None else None
        return output

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        files = super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        if self._auto_class is not None and self.text_featurizer is not None:
            # Ship the featurizer's code beside the processor's, so `trust_remote_code=True` loading finds it.
            from transformers.dynamic_module_utils import get_relative_import_files

            module_file = getattr(sys.modules.get(type(self.text_featurizer).__module__), "__file__", None)
            if module_file is not None:
                for needed in [module_file, *get_relative_import_files(module_file)]:
                    destination = Path(save_directory) / Path(needed).name
                    if not destination.exists():
                        shutil.copyfile(needed, destination)
        return files

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        # Our own sub-processor classes, not the auto classes: loading needs no registration or remote code.
        kwargs.pop("trust_remote_code", None)
        return [
            EmotionFeatureExtractor.from_pretrained(pretrained_model_name_or_path, **kwargs),
            EmotionVideoProcessor.from_pretrained(pretrained_model_name_or_path, **kwargs),
        ]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> EmotionProcessor:
        token = _LOADING_FROM.set(os.fspath(pretrained_model_name_or_path))
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        finally:
            _LOADING_FROM.reset(token)

    # Processing ------------------------------------------------------------------------------------------------

    def __call__(
        self,
        videos: Any = None,
        audio: Any = None,
        sampling_rate: int | None = None,
        text: str | list[str] | None = None,
        return_tensors: str | None = "pt",
        training: bool = False,
        generator: Any = None,
        **kwargs,
    ) -> BatchFeature:
        """Turn clips into model inputs.

        Args:
            videos: a path to a video file (its sound track feeds the audio features when `audio` is not given),
                a list of paths, frame arrays (T, H, W, 3) / lists of them, or torchcodec `VideoDecoder`s.
            audio: waveforms (1-D arrays, a list of them, paths or `AudioDecoder`s), required with frame arrays
                when the "audio" modality is on.
            sampling_rate (`int`, *optional*): the rate of `audio` arrays.
            text (`str` or `list[str]`, *optional*): transcripts, featurised by `text_featurizer`.
            return_tensors (`str`, *optional*, defaults to `"pt"`): `"pt"`, `"np"` or `None`.
            training (`bool`, *optional*, defaults to `False`): random audio crop instead of centre crop.
            generator (`torch.Generator`, *optional*): seeds the random crop.

        Returns:
            `BatchFeature` with ``input_features`` (batch, mels or mfcc, frames), ``pixel_values_videos`` (batch,
            frames, 3, size, size) and ``text_features`` (batch, dim), for the enabled modalities given.
        """
        if kwargs:
            logger.debug("Ignoring unused processor arguments: %s", sorted(kwargs))
        if videos is None and audio is None and text is None:
            raise ValueError("Give at least one of `videos`, `audio` or `text`.")
        data: dict[str, Any] = {}
        video_paths = None
        if videos is not None:
            single = self.video_processor._is_single_video(videos)
            batch = [videos] if single else list(videos)
            if all(isinstance(v, (str, os.PathLike)) for v in batch):
                video_paths = batch
            if "video" in self.modalities:
                data.update(self.video_processor(batch, return_tensors=None))
        if "audio" in self.modalities:
            if audio is None and video_paths is not None:
                audio = video_paths  # the sound track of each video file
            if audio is not None:
                features = self.feature_extractor(
                    audio,
                    sampling_rate=sampling_rate,
                    training=training,
                    return_tensors=None,
                    generator=generator,
                )
                data.update(features)
            elif videos is not None:
                raise ValueError(
                    "The 'audio' modality is on but `videos` are arrays without sound: pass `audio=` (and "
                    "`sampling_rate=`), give video file paths, or build the processor with `modalities=['video']`."
                )
        if text is not None:
            if self.text_featurizer is None:
                raise ValueError(
                    "`text` was given but this processor has no `text_featurizer`; set one first."
                )
            data["text_features"] = np.asarray(self.text_featurizer(_as_list(text)), dtype=np.float32)
        if not data:
            raise ValueError(
                f"Nothing to compute: the inputs given do not match the enabled modalities {self.modalities}."
            )
        sizes = {name: len(value) for name, value in data.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(
                f"The inputs hold different numbers of clips: {sizes}; give one of each per clip."
            )
        return BatchFeature(data, tensor_type=return_tensors)

    @property
    def model_input_names(self) -> list[str]:
        names = {"audio": "input_features", "video": "pixel_values_videos", "text": "text_features"}
        return [names[m] for m in self.modalities]


EmotionProcessor.register_for_auto_class("AutoProcessor")


def register_processors(*config_classes: type) -> None:
    """Register the processors with the transformers auto classes for in-process use, e.g.
    ``register_processors(TuckerAVConfig, RMLSTMConfig)``, so ``AutoProcessor.from_pretrained(dir)``,
    ``AutoFeatureExtractor`` and ``AutoVideoProcessor`` resolve our classes without ``trust_remote_code``."""
    from transformers import AutoFeatureExtractor, AutoProcessor, AutoVideoProcessor

    if not config_classes:
        raise ValueError(
            "Give the model config classes to register the processors for, e.g. `TuckerAVConfig`."
        )
    for config_class in config_classes:
        AutoFeatureExtractor.register(config_class, EmotionFeatureExtractor, exist_ok=True)
        AutoVideoProcessor.register(config_class, EmotionVideoProcessor, exist_ok=True)
        AutoProcessor.register(config_class, EmotionProcessor, exist_ok=True)
