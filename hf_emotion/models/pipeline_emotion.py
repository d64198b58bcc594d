"""`AudioVisualEmotionPipeline`: emotion recognition on a video file, on arrays, or as a timeline over a long video.

Task name: ``"audio-visual-emotion-recognition"``. Every saved model folder names this pipeline in its config's
``custom_pipelines``, so ``pipeline(model=dir_or_hub_id, trust_remote_code=True)`` runs it without hf_emotion; in a
process that imports hf_emotion, ``pipeline(TASK, model=dir, pipeline_class=AudioVisualEmotionPipeline)`` runs the
installed code instead. Serves both model types (`tucker_av`: audio + video; `rmlstm`: any subset of audio,
video and text), reading the modalities from the model config.

This file travels to the Hub (``pipeline.save_pretrained`` / ``push_to_hub`` write a ``custom_pipelines`` entry
into config.json and copy this file and its siblings), so it imports only the standard library, numpy, torch,
transformers and siblings; torchcodec is imported lazily (in `decoding`) to decode windows.

Example:

```python
>>> from transformers import pipeline
>>> classifier = pipeline(model="path/to/model", trust_remote_code=True)  # doctest: +SKIP
>>> classifier("Actor_01/01-01-05-01-01-01-01.mp4", top_k=2)  # doctest: +SKIP
[{'label': 'angry', 'score': 0.81}, {'label': 'fearful', 'score': 0.07}]
>>> classifier("interview.mp4", chunk_length_s=3.0)  # doctest: +SKIP
[{'start': 0.0, 'end': 3.0, 'label': 'neutral', 'score': 0.6, 'predictions': [...]}, ...]
```

The processor is the model's own: the one passed, else the one attached to the model (``model.processor``, set
by `from_pretrained` and training), else the one saved where the model came from; only a model built in memory
falls back to the config's default processor, with a warning.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
from typing import Any

import torch
from transformers.pipelines.base import ChunkPipeline

from .acceleration import inference_context, inference_plan, prepare_for_inference
from .decoding import DecodedWindow, MediaReader, check_media_path
from .modeling_common import (
    FRAME_FEATURES_NAME,
    MODEL_INPUT_NAMES,
    PIPELINE_TASK,
    _load_saved_processor,
    check_processor_matches_config,
)
from .processing_emotion import EmotionProcessor

logger = logging.getLogger(__name__)

TASK = PIPELINE_TASK
_MODEL_INPUTS = (*MODEL_INPUT_NAMES.values(), FRAME_FEATURES_NAME)
_DICT_KEYS = ("audio", "sampling_rate", "frames", "video", "transcript")


def segment_bounds(
    duration_s: float, chunk_length_s: float, stride_length_s: float
) -> list[tuple[float, float]]:
    """Windows of `chunk_length_s` starting every `stride_length_s` seconds that cover [0, duration_s].

    The last window is moved back to end at `duration_s` when the regular grid would leave a tail uncovered, so
    every window is full length (unless the whole clip is shorter than one window).
    """
    if chunk_length_s <= 0 or stride_length_s <= 0:
        raise ValueError(
            f"`chunk_length_s` and `stride_length_s` must be positive, got {chunk_length_s} and {stride_length_s}."
        )
    if duration_s <= chunk_length_s:
        return [(0.0, float(duration_s))]
    count = int(math.floor((duration_s - chunk_length_s) / stride_length_s + 1e-9)) + 1
    bounds = [(i * stride_length_s, i * stride_length_s + chunk_length_s) for i in range(count)]
    if bounds[-1][1] < duration_s - 1e-3:
        bounds.append((duration_s - chunk_length_s, float(duration_s)))
    return [(round(start, 6), round(end, 6)) for start, end in bounds]


class AudioVisualEmotionPipeline(ChunkPipeline):
    r"""
    Emotion recognition from video files or arrays with an hf_emotion model.

    Inputs (one, or a list of them, batched with `batch_size`):
        - a path to a local video file: frames and sound track are decoded (FFmpeg via torchcodec);
        - a dict ``{"audio": np.ndarray, "sampling_rate": int, "frames": np.ndarray (T, H, W, 3),
          "transcript": str}``; keys for modalities the model does not use may be left out. `audio` is one clip:
          ``(samples,)``, or a 2-D ``(channels, samples)`` / ``(samples, channels)`` array (soundfile's stereo
          layout; the channel axis is the one with ≤ 8 entries while the other holds ≥ 0.1 s), down-mixed by the
          channel mean exactly as a file's sound track is; give several clips as a list of dicts, never as one
          2-D array. Audio at another rate than the processor's (16 kHz) is **resampled** (band-limited,
          torchaudio); `sampling_rate` is required with `audio`. ``{"video": path, "transcript": ...}`` is a path
          with a per-item transcript.

    A file is opened once: its audio and frames are decoded from the **same time window** (`decode_window`, via
    the processor's `decode`), for the whole clip and for each timeline window alike. A file longer than the
    processor's `clip_seconds` (3 s) is judged on its centre `clip_seconds` — audio and frames both — and the
    pipeline logs a warning saying so; pass `chunk_length_s` for a timeline over all of it.

    Construction arguments (besides transformers' `model`, `processor`, `device`, `batch_size`):
        optimize (`bool`, defaults to `True`): run the fastest inference path this device has (see
            `acceleration.py`): the frame encoder in bf16 where the device has bf16 arithmetic (float32 elsewhere),
            channels-last, on an inference copy with BatchNorm folded into its convolutions and the frames in
            cache-sized chunks; the audio CNN on a folded channels-last copy. Logits within `BF16_LOGIT_TOLERANCE`
            (0.05) of float32. The copies are refreshed from the model's weights at every call and the model itself
            is never changed; a model in training mode runs as it is (BatchNorm on batch statistics). `False` runs
            the model exactly as loaded. The attribute `inference_path` says what ran last.
        dtype (`str` or `torch.dtype`, *optional*): the frame encoder's compute dtype (`"float32"`, `"bfloat16"`,
            `"float16"`) instead of the detected one (`"auto"`).

    Call arguments:
        top_k (`int`, *optional*): how many labels to return, highest score first (default: all).
        transcript (`str`, *optional*): the transcript, for models whose modalities include `"text"`.
        chunk_length_s (`float`, *optional*): split a video file into windows of this length and return a
            timeline, one prediction per window. Windows are decoded one at a time from the file opened once
            (frames and audio of that window only), so memory is bounded by the window, not the video. A window
            longer than `clip_seconds` is judged on its centre `clip_seconds`.
        stride_length_s (`float`, *optional*): the step between window starts (defaults to `chunk_length_s`: no
            overlap; smaller values give overlapping windows).

    Returns:
        ``[{"label", "score"}, ...]`` sorted by score; with `chunk_length_s`, ``[{"start", "end", "label", "score",
        "predictions": [{"label", "score"}, ...]}, ...]`` in time order (seconds).

    Timeline windows with a missing stream (a sound track that starts late or ends early, a video with fewer
    frames than the audio, a 1-frame video): the window is judged on what it holds, the missing modality replaced
    by silence (audio) or black frames (video), and its entry carries ``"missing": ["audio"]`` (or ``["video"]``).
    When every modality the model uses is missing from a window, its entry has ``"label": None, "score": None,
    "predictions": []`` and the ``"missing"`` list. Whole-clip predictions never substitute: a file whose used
    stream holds no data is an error.

    Errors (`FileNotFoundError` / `ValueError`, naming the input): a missing path, a URL (no network), a file that
    is not media or is corrupt/truncated, a video without a sound track for a model that uses audio (video-only
    models, ``modalities=["video"]``, run on it), a dict missing what the model needs, a transcript missing for a
    text model.
    """

    _load_processor = None
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_tokenizer = False

    def __init__(self, model, processor: Any = None, optimize: bool = True, **kwargs):
        dtype = kwargs.pop("dtype", None)  # the frame encoder's compute dtype here ("auto": detected)
        super().__init__(model=model, processor=processor, **kwargs)
        if self.processor is None:
            self.processor = self._model_processor()
        check_processor_matches_config(self.processor, self.model.config, "this pipeline's processor")
        # The base class batches with `feature_extractor.padding_value`; all our features have fixed sizes.
        self.feature_extractor = self.processor.feature_extractor
        self.tokenizer = None  # text goes through the processor's featurizer; nothing to pad
        config = self.model.config
        self.modalities = list(getattr(config, "modalities", None) or self.processor.modalities)
        self._forward_names = set(inspect.signature(self.model.forward).parameters) & set(_MODEL_INPUTS)
        # the fastest inference path this device has (acceleration.py); `inference_path` says which runs
        self._plan = inference_plan(self.device, None if dtype == "auto" else dtype) if optimize else None
        self.inference_path = (
            prepare_for_inference(self.model, self._plan)
            if self._plan
            else f"{self.device.type}: as loaded ({self.model.dtype})"
        )
        logger.info("Inference path: %s", self.inference_path)

    def _model_processor(self) -> EmotionProcessor:
        """The model's own processor: the one attached to it (`from_pretrained` and training attach it), else the
        one saved where it came from (`name_or_path`: folder or hub id), else — only for a model built in memory,
        never for one that came from a folder or the Hub — the config's default, with a warning."""
        attached = getattr(self.model, "processor", None)
        if attached is not None:
            return attached
        source = getattr(self.model, "name_or_path", None)
        if source:
            try:
                saved = _load_saved_processor(source, {})
            except OSError as error:
                raise ValueError(
                    f"The model came from `{source}` but its processor could not be loaded ({error}); pass "
                    "`processor=` explicitly."
                ) from error
            if saved is not None:
                logger.info("Loaded the processor saved with %s.", source)
                return saved
            if os.path.isdir(source):
                raise ValueError(
                    f"The model folder `{source}` has no processor_config.json: save the model with its processor "
                    "(`model.processor = processor; model.save_pretrained(dir)`) or pass `processor=`."
                )
        logger.warning(
            "This model has no processor attached or saved; using the default one built from its config (no "
            "fitted TF-IDF, no normalisation statistics). Pass `processor=` or attach `model.processor`."
        )
        return EmotionProcessor.from_model_config(self.model.config)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Save the model's self-contained folder (see `EmotionPreTrainedModel.save_pretrained`) with this
        pipeline's processor — everything ``pipeline(model=dir, trust_remote_code=True)`` needs."""
        attached = getattr(self.model, "processor", None)
        self.model.processor = self.processor
        try:
            self.model.save_pretrained(save_directory, **kwargs)
        finally:
            self.model.processor = attached

    # Parameters ------------------------------------------------------------------------------------------------

    def _sanitize_parameters(
        self, top_k=None, transcript=None, chunk_length_s=None, stride_length_s=None, **kwargs
    ):
        if kwargs:
            raise ValueError(
                f"Unknown pipeline argument(s) {sorted(kwargs)}; accepted: top_k, transcript, chunk_length_s, "
                "stride_length_s, batch_size."
            )
        preprocess: dict[str, Any] = {}
        postprocess: dict[str, Any] = {}
        if transcript is not None:
            preprocess["transcript"] = transcript
        if chunk_length_s is not None:
            preprocess["chunk_length_s"] = float(chunk_length_s)
        if stride_length_s is not None:
            preprocess["stride_length_s"] = float(stride_length_s)
        if top_k is not None:
            if int(top_k) < 1:
                raise ValueError(f"`top_k` must be >= 1, got {top_k}.")
            postprocess["top_k"] = int(top_k)
        return preprocess, {}, postprocess

    # Preprocessing ---------------------------------------------------------------------------------------------

    def _features(self, **processor_inputs) -> dict[str, torch.Tensor]:
        features = self.processor(return_tensors="pt", **processor_inputs)
        return {name: value for name, value in features.items() if name in self._forward_names}

    def _transcript(self, transcript: Any, name: str) -> str | None:
        if "text" not in self.modalities:
            if transcript is not None:
                logger.debug("Ignoring the transcript of %s: the model does not use text.", name)
            return None
        if not isinstance(transcript, str):
            raise ValueError(
                f"This model uses text (modalities {self.modalities}): pass the transcript of {name} with "
                "`transcript=...` or a dict input {'video': path, 'transcript': ...}."
            )
        return transcript

    def _check_streams(self, path: str) -> MediaReader:
        """Open `path` once and check the streams the model uses exist; the reader decodes every window."""
        reader = MediaReader(path)
        if "audio" in self.modalities and not reader.info["has_audio"]:
            raise ValueError(
                f"`{path}` has no audio stream, but this model uses audio (modalities {self.modalities}). Give a "
                "video with sound, or use a video-only model (`modalities=['video']`)."
            )
        if "video" in self.modalities and not reader.info["has_video"]:
            raise ValueError(
                f"`{path}` has no video stream, but this model uses video (modalities {self.modalities})."
            )
        return reader

    def _from_dict(self, inputs: dict, transcript: Any) -> dict[str, torch.Tensor]:
        unknown = sorted(set(inputs) - set(_DICT_KEYS))
        if unknown:
            raise ValueError(f"Unknown input key(s) {unknown}; accepted keys: {list(_DICT_KEYS)}.")
        text = self._transcript(inputs.get("transcript", transcript), "this input")
        if "video" in inputs:
            reader = self._check_streams(check_media_path(inputs["video"]))
            return self._window_features(self._whole_clip(reader), text)
        audio, frames = inputs.get("audio"), inputs.get("frames")
        if "audio" in self.modalities and audio is None:
            raise ValueError(
                f"This model uses audio (modalities {self.modalities}): the dict input needs 'audio' (one clip: "
                "(samples,), (channels, samples) or (samples, channels)) and 'sampling_rate'."
            )
        if "video" in self.modalities and frames is None:
            raise ValueError(
                f"This model uses video (modalities {self.modalities}): the dict input needs 'frames' "
                "(frames, height, width, 3)."
            )
        sampling_rate = inputs.get("sampling_rate")
        if "audio" in self.modalities and sampling_rate is None:
            raise ValueError(
                "The dict input has 'audio' but no 'sampling_rate'; give the rate of the waveform in Hz (it is "
                f"resampled to {self.processor.feature_extractor.sampling_rate} Hz when it differs)."
            )
        return self._features(
            videos=frames if "video" in self.modalities else None,
            audio=audio if "audio" in self.modalities else None,
            sampling_rate=sampling_rate,
            text=text,
        )

    def _whole_clip(self, reader: MediaReader) -> DecodedWindow:
        window = self.processor.decode(reader)
        duration, clip = reader.info["duration_s"], self.processor.feature_extractor.clip_seconds
        if duration is not None and duration > clip + 0.05:
            logger.warning(
                "`%s` lasts %.1f s: the prediction uses its centre %.1f s (%.2f-%.2f s, audio and frames). Pass "
                "`chunk_length_s=%.1f` for a timeline over the whole file.",
                reader.path,
                duration,
                clip,
                window.start_s,
                window.end_s,
                clip,
            )
        if window.missing:
            raise ValueError(window.missing_message())
        return window

    def _window_features(self, window: DecodedWindow, text: str | None) -> dict[str, Any]:
        """Model inputs of one decoded window; a missing modality is replaced by silence or black frames."""
        waveform, frames = window.waveform, window.frames
        if "audio" in window.missing:
            waveform = self.processor.missing_stream("audio", window.end_s - window.start_s)
        if "video" in window.missing:
            frames = self.processor.missing_stream("video")
        features = self._features(
            videos=frames, audio=waveform, sampling_rate=window.sampling_rate, text=text
        )
        return {**features, "missing": list(window.missing)}

    def _segments(self, reader: MediaReader, text: str | None, chunk_length_s: float, stride_length_s: float):
        """Yield the model inputs of one window at a time (only that window is decoded, from the open file)."""
        duration = reader.info["duration_s"]
        if not duration:
            raise ValueError(
                f"`{reader.path}` reports no duration; it may be truncated. Re-encode it to use chunking."
            )
        clip = self.processor.feature_extractor.clip_seconds
        if chunk_length_s > clip + 1e-6:
            logger.info(
                "Each %.1f s window is judged on its centre %.1f s (`clip_seconds`).", chunk_length_s, clip
            )
        for start, end in segment_bounds(duration, chunk_length_s, stride_length_s):
            window = self.processor.decode(reader, start, end)
            if window.missing:
                logger.info(
                    "`%s` [%.2f, %.2f] s has no %s.", reader.path, start, end, " or ".join(window.missing)
                )
            yield {**self._window_features(window, text), "start": start, "end": end}

    def preprocess(self, inputs: Any, transcript=None, chunk_length_s=None, stride_length_s=None):
        if isinstance(inputs, dict):
            if chunk_length_s is not None:
                raise ValueError("`chunk_length_s` works on video files only; pass a path to get a timeline.")
            yield {**self._from_dict(inputs, transcript), "start": None, "end": None, "is_last": True}
            return
        if not isinstance(inputs, (str, os.PathLike)):
            raise ValueError(
                "Expected a path to a video file or a dict of arrays {'audio', 'sampling_rate', 'frames'}, got "
                f"{type(inputs).__name__}."
            )
        path = check_media_path(inputs)
        text = self._transcript(transcript, f"`{path}`")
        reader = self._check_streams(path)
        if chunk_length_s is None:
            features = self._window_features(self._whole_clip(reader), text)
            yield {**features, "start": None, "end": None, "is_last": True}
            return
        stride = stride_length_s if stride_length_s is not None else chunk_length_s
        segments = self._segments(reader, text, chunk_length_s, stride)
        current = next(segments)
        for following in segments:
            yield {**current, "is_last": False}
            current = following
        yield {**current, "is_last": True}

    # Model and outputs -----------------------------------------------------------------------------------------

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        extra = {key: model_inputs.pop(key) for key in ("is_last", "start", "end")}
        extra["missing"] = model_inputs.pop("missing", [])
        dtype = self.model.dtype
        inputs = {
            key: value.to(dtype) if value.is_floating_point() else value
            for key, value in model_inputs.items()
        }
        with inference_context(self.model, self._plan) as path:
            logits = self.model(**inputs).logits  # (batch, num_labels)
        self.inference_path = path
        return {"logits": logits, **extra}

    def _ranked(self, logits: torch.Tensor, top_k: int | None) -> list[dict[str, Any]]:
        probabilities = logits.float().softmax(dim=-1)[0]  # (num_labels,)
        top_k = min(top_k or probabilities.numel(), probabilities.numel())
        scores, indices = probabilities.topk(top_k)
        id2label = self.model.config.id2label
        return [
            {"label": id2label[int(i)], "score": float(s)} for s, i in zip(scores.tolist(), indices.tolist())
        ]

    def postprocess(self, model_outputs: list[dict[str, Any]], top_k: int | None = None):
        if len(model_outputs) == 1 and model_outputs[0]["start"] is None:
            return self._ranked(model_outputs[0]["logits"], top_k)
        timeline = []
        for output in model_outputs:
            missing = list(output.get("missing") or [])
            if set(self.modalities) - {"text"} <= set(missing):
                ranked = [{"label": None, "score": None}]  # nothing the model uses is in this window
            else:
                ranked = self._ranked(output["logits"], top_k)
            entry = {
                "start": float(output["start"]),
                "end": float(output["end"]),
                "label": ranked[0]["label"],
                "score": ranked[0]["score"],
                "predictions": ranked if ranked[0]["label"] is not None else [],
            }
            timeline.append({**entry, "missing": missing} if missing else entry)
        return timeline


def register_pipeline() -> None:
    """Register the task ``"audio-visual-emotion-recognition"`` with transformers' pipeline registry."""
    from transformers import AutoModelForAudioClassification
    from transformers.pipelines import PIPELINE_REGISTRY

    if PIPELINE_REGISTRY.supported_tasks.get(TASK, {}).get("impl") is AudioVisualEmotionPipeline:
        return  # already registered (avoids transformers' "overwriting" warning)
    PIPELINE_REGISTRY.register_pipeline(
        TASK,
        pipeline_class=AudioVisualEmotionPipeline,
        pt_model=AutoModelForAudioClassification,
        default=None,
        type="multimodal",
    )


__all__ = ["AudioVisualEmotionPipeline", "register_pipeline", "segment_bounds", "TASK"]
