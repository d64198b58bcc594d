"""Push an hf_emotion model to the Hugging Face Hub with everything needed to run it without hf_emotion.

One upload holds: weights (`model.safetensors`), `config.json` with `auto_map` (model classes) and
`custom_pipelines` (the task ``"audio-visual-emotion-recognition"``), the code of the model, processor and pipeline
(``hf_emotion/models/*.py`` files the model needs), `processor_config.json`, and a model card (`README.md`). After
it, anyone can run::

    from transformers import pipeline
    classifier = pipeline(model="<repo_id>", trust_remote_code=True)

The Hub endpoint comes from `huggingface_hub` (the ``HF_ENDPOINT`` environment variable) unless `endpoint` is given.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard

logger = logging.getLogger(__name__)


def _load_model_dir(model_dir: Path):
    from transformers import AutoModelForAudioClassification

    import hf_emotion  # noqa: F401  (registers the model types with the auto classes)

    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"`{model_dir}` is not a saved model directory (no config.json); save the model with "
            "`model.save_pretrained(dir)` first."
        )
    return AutoModelForAudioClassification.from_pretrained(model_dir)


def stage_model(
    model_dir_or_model: Any, output_dir: str | os.PathLike, processor: Any = None, **card_kwargs
) -> Path:
    """Write the folder that :func:`push_to_hub` uploads (also useful to inspect it, or to copy by hand).

    Args:
        model_dir_or_model: a saved model directory or a `tucker_av` / `rmlstm` model instance.
        output_dir: where to write (created; existing files with the same names are replaced).
        processor (`EmotionProcessor`, *optional*): defaults to the processor attached to the model (the one saved
            in the model directory).
        card_kwargs: passed to :func:`hf_emotion.cards.create_model_card` (`eval_results`, `dataset_names`,
            `protocol`, `training_args`, `repo_id`...). A README.md already in the model directory is kept (with
            `repo_id` written into its usage snippet) unless card arguments other than `repo_id` are given; a
            re-rendered card without `eval_results` keeps the existing card's model-index.

    Returns:
        `Path` of `output_dir`.
    """
    from .cards import create_model_card, placeholder_repo_id

    source_dir = None
    if isinstance(model_dir_or_model, (str, os.PathLike)):
        source_dir = Path(model_dir_or_model)
        if not source_dir.is_dir():
            raise FileNotFoundError(f"Model directory `{source_dir}` does not exist.")
        model = _load_model_dir(source_dir)  # attaches the processor saved in the folder
    else:
        model = model_dir_or_model
    if getattr(model.config, "model_type", None) not in ("tucker_av", "rmlstm"):
        raise ValueError(
            f"Only hf_emotion models (`tucker_av`, `rmlstm`) can be pushed, got {type(model).__name__}."
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    attached = model.processor
    if processor is not None:
        model.processor = processor
    try:
        model.save_pretrained(output_dir)  # weights, config (auto_map, custom_pipelines), code, processor
    finally:
        model.processor = attached
    existing_path = source_dir / "README.md" if source_dir is not None else None
    existing = (
        ModelCard.load(existing_path) if existing_path is not None and existing_path.is_file() else None
    )
    repo_id = card_kwargs.get("repo_id")
    if existing is not None and not set(card_kwargs) - {"repo_id"}:
        text = existing.content
        if repo_id:  # the card training wrote has a placeholder where the Hub id goes
            text = text.replace(placeholder_repo_id(model.config.model_type), repo_id)
        (output_dir / "README.md").write_text(text, encoding="utf-8")
    else:
        card = create_model_card(model, **card_kwargs)
        if "eval_results" not in card_kwargs and existing is not None and existing.data.eval_results:
            card.data.eval_results = existing.data.eval_results  # keep the model-index training wrote
            card.data.model_name = card.data.model_name or existing.data.model_name
        card.save(output_dir / "README.md")
    if not (output_dir / "model.safetensors").is_file() and not list(output_dir.glob("model-*.safetensors")):
        raise RuntimeError(f"No safetensors weights were written to `{output_dir}`.")  # pragma: no cover
    return output_dir


def push_to_hub(
    model_dir_or_model: Any,
    repo_id: str,
    *,
    processor: Any = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload hf_emotion model",
    endpoint: str | None = None,
    **card_kwargs,
):
    """Upload a model with its code, processor, pipeline and card to `repo_id` (created when missing).

    Args:
        model_dir_or_model: a saved model directory or a model instance.
        repo_id (`str`): ``"user/name"`` on the Hub.
        processor, card_kwargs: see :func:`stage_model` (`repo_id` goes into the card's usage snippet).
        private (`bool`, *optional*, defaults to `False`): create the repository as private.
        token (`str`, *optional*): a write token (defaults to the logged-in token / ``HF_TOKEN``).
        commit_message (`str`, *optional*): the commit message.
        endpoint (`str`, *optional*): the Hub URL (defaults to ``HF_ENDPOINT`` or huggingface.co).

    Returns:
        `huggingface_hub.CommitInfo` of the upload (`.oid` is the commit, `.commit_url` its page).
    """
    from huggingface_hub import HfApi

    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"`repo_id` must look like 'user/name', got {repo_id!r}.")
    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="hf_emotion_push_") as staging:
        stage_model(model_dir_or_model, staging, processor=processor, repo_id=repo_id, **card_kwargs)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            repo_id=repo_id, folder_path=staging, commit_message=commit_message, repo_type="model"
        )
    logger.info("Pushed %s to %s (commit %s).", repo_id, api.endpoint, info.oid)
    return info


__all__ = ["push_to_hub", "stage_model"]
