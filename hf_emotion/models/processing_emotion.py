"""`EmotionProcessor`: one object that turns a video file (or arrays) into the inputs of the hf_emotion models.

It combines :class:`EmotionFeatureExtractor` (audio → ``input_features``), :class:`EmotionVideoProcessor` (frames →
``pixel_values_videos``) and, optionally, a text featurizer (transcripts → ``text_features``, for `rmlstm`).

This file travels to the Hub (``register_for_auto_class``): module-level imports are limited to the standard
library, numpy, torch, transformers and siblings.

Text featurizers come from a fixed registry, :data:`TEXT_FEATURIZERS` (class name → class; `TfidfTextFeaturizer`
is registered). The processor's JSON stores ``{"featurizer_class": name, "config": featurizer.to_dict()}`` and
loading looks the name up in the registry only: nothing in a saved folder decides which code is imported. A custom
featurizer (callable as ``featurizer(list_of_texts) -> np.ndarray (batch, dim)``, with ``to_dict()`` and a
classmethod ``from_dict(data)``; ``fit(texts)`` and ``is_fitted`` if it learns from data) is registered with :func:`register_text_featurizer` before loading.

**The processor is a run's one fitted artifact.** Build it once from the model config
(:meth:`EmotionProcessor.from_model_config`), fit it on the training split (:meth:`EmotionProcessor.fit`: TF-IDF
vocabulary and IDF, and per-bin audio normalisation statistics when ``do_normalize`` is on), use it for every
feature, attach it to the model (``model.processor = processor``) and it is saved with the weights.
"""

from __future__ import annotations

import logging
import os
import types
from typing import Any

import numpy as np
import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .decoding import DecodedWindow, decode_window
from .feature_extraction_emotion import EmotionFeatureExtractor
from .modeling_common import MODALITIES, MODEL_INPUT_NAMES, check_modalities
from .text_featurization import TfidfTextFeaturizer
from .video_processing_emotion import EmotionVideoProcessor

logger = logging.getLogger(__name__)

TEXT_FEATURIZERS: dict[str, type] = {"TfidfTextFeaturizer": TfidfTextFeaturizer}
"""The text featurizer classes a saved processor may name (see :func:`register_text_featurizer`)."""

# `transformers.Trainer` aligns special tokens with `processing_class.tokenizer` before training; this processor
# has no tokenizer and so no special tokens to align.
_NO_SPECIAL_TOKENS = types.SimpleNamespace(bos_token_id=None, eos_token_id=None, pad_token_id=None)


def register_text_featurizer(featurizer_class: type) -> type:
    """Allow processors to save and load `featurizer_class` (usable as a class decorator)."""
    missing = [m for m in ("__call__", "to_dict", "from_dict") if not hasattr(featurizer_class, m)]
    if missing:
        raise ValueError(f"A text featurizer class needs {missing}; {featurizer_class.__name__} lacks them.")
    TEXT_FEATURIZERS[featurizer_class.__name__] = featurizer_class
    return featurizer_class


def _featurizer_spec(featurizer: Any) -> dict[str, Any]:
    """The JSON form of a text featurizer: its registered class name and its own `to_dict()`."""
    name = type(featurizer).__name__
    if TEXT_FEATURIZERS.get(name) is not type(featurizer):
        raise ValueError(
            f"The text featurizer class {name} is not registered; call "
            "`hf_emotion.models.processing_emotion.register_text_featurizer` with it before saving."
        )
    return {"featurizer_class": name, "config": featurizer.to_dict()}


def _featurizer_from_spec(spec: dict[str, Any]) -> Any:
    """Rebuild a text featurizer from its JSON form, looking its class up in :data:`TEXT_FEATURIZERS` only."""
    name = spec.get("featurizer_class") if isinstance(spec, dict) else None
    if not isinstance(name, str) or not isinstance(spec.get("config"), dict):
        raise ValueError(f"`text_featurizer` in the processor config is malformed: {spec!r}.")
    if name not in TEXT_FEATURIZERS:
        raise ValueError(
            f"The processor config names the text featurizer `{name}`, which is not a registered class "
            f"({sorted(TEXT_FEATURIZERS)}). Classes named in a saved file are never imported: register yours with "
            "`register_text_featurizer` (or load with `trust_remote_code=True` from code that registers it) first."
        )
    return TEXT_FEATURIZERS[name].from_dict(spec["config"])


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class EmotionProcessor(ProcessorMixin):
    r"""
    Audio-visual(-text) processor for the hf_emotion models.

    Args:
        feature_extractor (`EmotionFeatureExtractor`, *optional*): audio features; defaults to the paper's
            (`tucker_av`) log-Mel 128 × 256 over 3 s at 16 kHz.
        video_processor (`EmotionVideoProcessor`, *optional*): frames; defaults to 90 frames, 224 px, ImageNet.
        text_featurizer (*optional*): a registered featurizer (e.g. `TfidfTextFeaturizer`, fitted or not; see
            :func:`register_text_featurizer`), or its saved dict form.
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
        if text_featurizer is not None and TEXT_FEATURIZERS.get(type(text_featurizer).__name__) is not type(
            text_featurizer
        ):
            raise ValueError(
                f"`text_featurizer` must be a registered featurizer ({sorted(TEXT_FEATURIZERS)}), got "
                f"{type(text_featurizer).__name__}; register its class with `register_text_featurizer` first."
            )
        self.text_featurizer = text_featurizer
        if modalities is None:
            modalities = ["audio", "video"] + (["text"] if text_featurizer is not None else [])
        self.modalities = list(check_modalities(_as_list(modalities), MODALITIES))
        if video_processor.clip_seconds not in (None, feature_extractor.clip_seconds):
            logger.info("Sampling frames over the audio's %s s clip span.", feature_extractor.clip_seconds)
            video_processor.clip_seconds = feature_extractor.clip_seconds  # audio and frames: the same span
        super().__init__(feature_extractor=feature_extractor, video_processor=video_processor)

    def decode(self, source: Any, start_s: float | None = None, end_s: float | None = None) -> DecodedWindow:
        """Audio and frames of one window of a media file (a path or an open `MediaReader`), for this processor's
        modalities and settings: `decode_window` over the centre `clip_seconds` of the window (default: the whole
        file). `__call__` with video paths and the pipeline's timeline both decode through this."""
        return decode_window(
            source,
            start_s,
            end_s,
            sampling_rate=self.feature_extractor.sampling_rate,
            num_frames=self.video_processor.num_frames,
            short_side=self.video_processor.decode_short_side,
            max_seconds=self.feature_extractor.clip_seconds,
            need_audio="audio" in self.modalities,
            need_video="video" in self.modalities,
        )

    @classmethod
    def from_model_config(cls, config: Any, text_featurizer: Any = None, **overrides) -> EmotionProcessor:
        """The one place a processor is built from a model config, reading (when present) `audio_feature_type`,
        `num_mel_bins`, `num_audio_frames`, `num_mfcc`, `num_frames`, `image_size`, `video_normalization`,
        `modalities`, `text_feature_dim` and `normalize_audio` (the feature extractor's `do_normalize`: per-bin
        statistics to fit on the training split). With `"text"` in the modalities and no `text_featurizer`, an
        unfitted ``TfidfTextFeaturizer(max_features=config.text_feature_dim)`` is set: fit it with :meth:`fit`. Keyword
        `overrides` go to the feature extractor (e.g. ``do_normalize=True``) or the video processor (e.g.
        ``crop_faces=True``), whichever accepts them."""

        def read(name: str, default: Any) -> Any:
            value = getattr(config, name, None)
            return default if value is None else value

        modalities = getattr(config, "modalities", None)
        audio_kwargs = {
            "feature_type": read("audio_feature_type", "log_mel"),
            "num_mel_bins": read("num_mel_bins", 128),
            "num_frames": read("num_audio_frames", 256),
            "num_mfcc": read("num_mfcc", 40),
            # Statistics fitted on the training split (`fit`); only when the model reads audio at all.
            "do_normalize": bool(read("normalize_audio", False)) and "audio" in (modalities or ("audio",)),
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
        if text_featurizer is None and "text" in (modalities or ()):
            text_featurizer = TfidfTextFeaturizer(max_features=getattr(config, "text_feature_dim", None))
        return cls(
            feature_extractor=EmotionFeatureExtractor(**audio_kwargs),
            video_processor=EmotionVideoProcessor(**video_kwargs),
            text_featurizer=text_featurizer,
            modalities=list(modalities) if modalities is not None else None,
        )

    # Serialisation ---------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        featurizer = self.__dict__.pop("text_featurizer", None)
        try:
            output = super().to_dict()
        finally:
            self.text_featurizer = featurizer
        fitted = featurizer is not None and getattr(featurizer, "is_fitted", True)
        if featurizer is not None and not fitted:
            logger.warning(
                "The processor's text featurizer is not fitted and is not saved; call `fit(texts=...)`."
            )
        output["text_featurizer"] = _featurizer_spec(featurizer) if fitted else None
        return output

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        # Our own sub-processor classes, not the auto classes: loading needs no registration or remote code.
        kwargs.pop("trust_remote_code", None)
        return [
            EmotionFeatureExtractor.from_pretrained(pretrained_model_name_or_path, **kwargs),
            EmotionVideoProcessor.from_pretrained(pretrained_model_name_or_path, **kwargs),
        ]

    @property
    def tokenizer(self) -> Any:
        """No tokenizer (text goes through `text_featurizer`): an object whose special-token ids are all `None`,
        which is what `transformers.Trainer` reads from a processor before training."""
        return _NO_SPECIAL_TOKENS

    # Fitting ---------------------------------------------------------------------------------------------------

    def fit(self, texts: Any = None, audio: Any = None, sampling_rate: int | None = None) -> EmotionProcessor:
        """Learn what is learnt from data, on the training split only; returns `self`.

        Args:
            texts (iterable of `str`, *optional*): training transcripts. With `"text"` in `modalities`, a
                `TfidfTextFeaturizer` is fitted on them (vocabulary and IDF) when the processor has none yet, or
                the given unfitted featurizer is fitted. Required for a text processor without a fitted featurizer.
            audio (iterable, *optional*): the training clips, one item per clip in any form the feature extractor
                takes (arrays at `sampling_rate`, paths, ``{"array", "sampling_rate"}`` dicts). When the feature
                extractor has ``do_normalize=True``, its per-bin mean/std are fitted on them (for features already
                computed without normalisation use ``processor.feature_extractor.fit_normalization_from_features``).
            sampling_rate (`int`, *optional*): the rate of array clips.
        """
        featurizer = self.text_featurizer
        if "text" in self.modalities and not getattr(featurizer, "is_fitted", featurizer is not None):
            if texts is None:
                raise ValueError(
                    "This processor uses text: pass the training transcripts, `fit(texts=...)`, to fit its TF-IDF."
                )
            self.text_featurizer = (featurizer if featurizer is not None else TfidfTextFeaturizer()).fit(
                texts
            )
        elif texts is not None and "text" not in self.modalities:
            logger.info("Ignoring `texts`: the processor's modalities %s have no text.", self.modalities)
        if getattr(self.feature_extractor, "do_normalize", False) and audio is None:
            if self.feature_extractor.normalization_mean is None:  # not fitted from features already
                raise ValueError(
                    "The feature extractor normalises (`do_normalize=True`): pass the training clips, "
                    "`fit(audio=...)`, to fit its statistics."
                )
        elif getattr(self.feature_extractor, "do_normalize", False):
            self.feature_extractor.fit_normalization(audio, sampling_rate=sampling_rate)
        return self

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
                if audio is None:  # each file opened once: its sound and frames from the same window
                    windows = [self.decode(path) for path in video_paths]
                    for window in windows:
                        if window.missing:
                            raise ValueError(window.missing_message())
                    batch = [window.frames for window in windows]
                    if "audio" in self.modalities:
                        audio = [window.waveform for window in windows]
                        sampling_rate = self.feature_extractor.sampling_rate
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

    def missing_stream(self, modality: str, seconds: float | None = None) -> np.ndarray:
        """What stands in for a stream a clip lacks: for ``"audio"``, silence (`seconds` of zeros at the feature
        extractor's rate, default its `clip_seconds`); for ``"video"``, black frames (num_frames, size, size, 3)
        uint8. The pipeline feeds these for a window with a missing stream, and training's modality dropout puts
        their features (`missing_inputs`) in a dropped modality, so a model learns what it will be given."""
        if modality == "audio":
            extractor = self.feature_extractor
            samples = max(1, round((seconds or extractor.clip_seconds) * extractor.sampling_rate))
            return np.zeros(samples, dtype=np.float32)
        if modality == "video":
            size = self.video_processor.image_size
            return np.zeros((self.video_processor.num_frames, size, size, 3), dtype=np.uint8)
        raise ValueError(f"`modality` must be 'audio' or 'video', got {modality!r}.")

    def missing_inputs(self) -> dict[str, torch.Tensor]:
        """One clip's model inputs, keyed by input name and without the batch dimension, for each of the
        processor's audio and video modalities when that stream is missing: the features of `missing_stream`
        (with any fitted normalisation)."""
        inputs = {}
        if "audio" in self.modalities:
            audio = self.missing_stream("audio")
            features = self.feature_extractor(audio, sampling_rate=self.feature_extractor.sampling_rate)
            inputs[MODEL_INPUT_NAMES["audio"]] = torch.as_tensor(features["input_features"][0])
        if "video" in self.modalities:
            frames = self.video_processor([self.missing_stream("video")], return_tensors="pt")
            inputs[MODEL_INPUT_NAMES["video"]] = frames[MODEL_INPUT_NAMES["video"]][0]
        return inputs

    @property
    def model_input_names(self) -> list[str]:
        return [MODEL_INPUT_NAMES[m] for m in self.modalities]


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
