"""The robustness evaluation decodes each clip through the processor's windowed decoder: a file longer than
`clip_seconds` is corrupted on the same centre window the model is judged on, not on the whole file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from hf_emotion import TuckerAVConfig
from hf_emotion.models.decoding import centre_span, load_audio, load_video_frames
from hf_emotion.models.processing_emotion import EmotionProcessor
from hf_emotion.training.robustness import decode_clips

sys.path.insert(0, str(Path(__file__).parent))
from media_fixtures import write_video  # noqa: E402


def test_decode_clips_gives_the_centre_window_the_model_sees(tmp_path):
    path = write_video(tmp_path / "long.mp4", seconds=5.0, fps=10, audio_hz=440.0)
    config = TuckerAVConfig(frame_encoder=None, num_frames=6, image_size=32, modalities=["audio"])
    processor = EmotionProcessor.from_model_config(config)  # audio only: frames are still decoded
    ((waveform, frames),) = decode_clips([str(path)], processor)
    rate = processor.feature_extractor.sampling_rate
    assert waveform.shape == (3 * rate,)  # the centre 3 s, not the 5 s file
    whole = load_audio(str(path), rate)
    first, last = centre_span(whole.shape[0], rate, 3.0)
    np.testing.assert_allclose(
        waveform[rate // 10 : -rate // 10], whole[first:last][rate // 10 : -rate // 10], atol=2e-3
    )
    # Frames: 6 from the centre window (the pattern changes every frame), not spread over the whole file.
    assert frames.shape[0] == 6 and frames.shape[1] == processor.video_processor.decode_short_side
    spread = load_video_frames(str(path), 6, short_side=processor.video_processor.decode_short_side)
    assert not np.array_equal(frames, spread)
    both = EmotionProcessor.from_model_config(TuckerAVConfig(frame_encoder=None, num_frames=6, image_size=32))
    window = both.decode(str(path))  # what the audio-visual model reads from this file
    np.testing.assert_array_equal(frames, window.frames)


def test_decode_clips_names_a_clip_without_sound(tmp_path):
    path = write_video(tmp_path / "silent.mp4", seconds=1.0, audio_hz=None)
    processor = EmotionProcessor.from_model_config(
        TuckerAVConfig(frame_encoder=None, num_frames=4, image_size=32)
    )
    with pytest.raises(ValueError, match="silent.mp4.*no audio"):
        decode_clips([str(path)], processor)
