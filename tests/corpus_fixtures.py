"""Tiny corpus folders in each corpus's real layout and real file formats, generated on the fly.

- RAVDESS: ``Actor_XX/MM-VV-EE-II-SS-RR-AA.mp4``, 1280×720 H.264 + AAC 48 kHz, 0.5 s (15 frames); an
  audio-only 48 kHz WAV; a video-only MP4 without audio; a song clip; two files with bad names.
- CREMA-D: ``AudioWAV/*.wav`` 16 kHz mono + ``VideoFlash/*.flv`` (FLV1 video 480×360 + AAC), a WAV without
  video, a bad sentence code and ``VideoDemographics.csv``.
- SAVEE: ``AudioData/<spk>/<code><nn>.wav`` 44.1 kHz + ``AudioVisualClip/<spk>/<code><nn>.avi`` (MPEG-4 part 2
  in AVI, like the DivX/XviD originals), one bad code.
- CK+: 640×490 grayscale (one RGB) PNG sequences + ``_emotion.txt`` files (``   3.0000000e+00``), one
  unlabeled sequence.
- IEMOCAP: two sessions with EmoEvaluation files (header, blank lines, per-annotator lines), transcriptions,
  16 kHz WAVs, and DivX-style dialog AVIs whose frame ``i`` is filled with grey level ``2 * i`` so cuts can be
  checked against the time stamps.

WAV files are written with the standard library's ``wave`` module; video with PyAV.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from PIL import Image

from hf_emotion.data.media import MediaWriter


def write_wav(path: Path, seconds: float, rate: int, frequency: float = 440.0, channels: int = 1) -> Path:
    """A 16-bit PCM sine tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * frequency * t) * 32767).astype(np.int16)
    data = np.repeat(tone[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(data.tobytes())
    return path


def write_video(
    path: Path,
    n_frames: int,
    width: int,
    height: int,
    fps: float = 29.97,
    sample_rate: int | None = None,
    seconds: float | None = None,
    frame_value=None,
    **codecs,
) -> Path:
    """A clip whose frame ``i`` is the grey level ``frame_value(i)`` (a gradient when not given)."""
    gradient = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None].repeat(height, 0).repeat(3, 2)
    with MediaWriter(path, fps, width, height, sample_rate=sample_rate, **codecs) as writer:
        for i in range(n_frames):
            frame = gradient if frame_value is None else np.full((height, width, 3), frame_value(i), np.uint8)
            writer.add_frame(frame)
        if sample_rate is not None:
            t = np.arange(int((seconds or n_frames / fps) * sample_rate)) / sample_rate
            writer.add_audio(0.3 * np.sin(2 * np.pi * 440 * t))
    return path


def make_ravdess(root: Path) -> Path:
    fast = {"video_options": {"preset": "ultrafast"}}
    for name in ("01-01-01-01-01-01-01", "01-01-05-02-02-01-01"):
        write_video(root / "Actor_01" / f"{name}.mp4", 15, 1280, 720, sample_rate=48000, seconds=0.5, **fast)
    write_video(
        root / "Actor_02" / "01-01-03-01-01-02-02.mp4", 15, 1280, 720, sample_rate=48000, seconds=0.5, **fast
    )
    write_video(
        root / "Actor_02" / "01-02-04-01-01-01-02.mp4", 15, 1280, 720, sample_rate=48000, seconds=0.5, **fast
    )
    write_video(root / "Actor_02" / "02-01-06-01-01-01-02.mp4", 15, 1280, 720, **fast)  # video-only: no audio
    write_wav(root / "Actor_02" / "03-01-08-02-02-01-02.wav", 0.5, 48000)
    (root / "Actor_01" / "notes-01.mp4").write_bytes(b"not a RAVDESS clip")
    (root / "Actor_01" / "01-01-09-01-01-01-01.mp4").write_bytes(b"emotion 09 does not exist")
    return root


CREMA_D_CLIPS = ("1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_TIE_SAD_LO", "1091_WSI_NEU_MD")


def make_crema_d(root: Path) -> Path:
    for stem in CREMA_D_CLIPS:
        write_wav(root / "AudioWAV" / f"{stem}.wav", 0.4, 16000)
        write_video(
            root / "VideoFlash" / f"{stem}.flv", 6, 480, 360, fps=30, sample_rate=44100, video_codec="flv"
        )
    write_wav(root / "AudioWAV" / "1002_MTI_FEA_XX.wav", 0.4, 16000)  # no video: skipped in audio-visual mode
    write_wav(root / "AudioWAV" / "1002_XYZ_ANG_XX.wav", 0.4, 16000)  # unknown sentence code
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n"
    )
    return root


SAVEE_CLIPS = (("DC", "a01"), ("DC", "sa02"), ("JE", "su01"), ("KL", "n03"))


def make_savee(root: Path) -> Path:
    for speaker, stem in SAVEE_CLIPS:
        write_wav(root / "AudioData" / speaker / f"{stem}.wav", 0.3, 44100)
        write_video(
            root / "AudioVisualClip" / speaker / f"{stem}.avi",
            6,
            320,
            256,
            fps=60,
            sample_rate=44100,
            video_codec="mpeg4",
            audio_codec="pcm_s16le",
        )
    write_wav(root / "AudioData" / "JE" / "x01.wav", 0.3, 44100)  # not a SAVEE emotion code
    return root


def make_ckplus(root: Path) -> Path:
    sequences = {("S005", "001"): (3, 3, "L"), ("S010", "002"): (2, 7, "L"), ("S010", "003"): (2, None, "L")}
    sequences[("S011", "001")] = (4, 5, "RGB")
    for (subject, number), (n_frames, label, mode) in sequences.items():
        folder = root / "cohn-kanade-images" / subject / number
        folder.mkdir(parents=True)
        for i in range(1, n_frames + 1):
            Image.new(mode, (640, 490), color=20 * i if mode == "L" else (20 * i, 0, 0)).save(
                folder / f"{subject}_{number}_{i:08d}.png"
            )
        if label is not None:
            labels = root / "Emotion" / subject / number
            labels.mkdir(parents=True)
            (labels / f"{subject}_{number}_{n_frames:08d}_emotion.txt").write_text(f"   {label:.7e}\n")
    return root


# dialog -> [(utterance, start, end, label, transcript, has wav)]
IEMOCAP_DIALOGS = {
    (1, "Ses01F_impro01"): [
        ("Ses01F_impro01_F000", 0.5, 1.5, "neu", "Excuse me.", True),
        ("Ses01F_impro01_M000", 1.8, 3.2, "exc", "Do you have your forms?", True),
        ("Ses01F_impro01_F001", 3.3, 3.9, "xxx", "Yeah.", True),
    ],
    (2, "Ses02M_script01_1"): [
        ("Ses02M_script01_1_F000", 0.2, 1.0, "ang", "What?", True),
        ("Ses02M_script01_1_M001", 1.1, 2.0, "sad", "I'm sorry.", True),
        ("Ses02M_script01_1_F002", 2.1, 2.8, "hap", "Great.", False),
    ],
}
IEMOCAP_FPS = 30


def make_iemocap(root: Path) -> Path:
    for (session, dialog), utterances in IEMOCAP_DIALOGS.items():
        base = root / f"Session{session}"
        evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        transcript = []
        for utterance, start, end, label, text, has_wav in utterances:
            evaluation += [
                f"[{start:.4f} - {end:.4f}]\t{utterance}\t{label}\t[2.5000, 3.0000, 3.5000]",
                "C-E2:\tNeutral;\t()",
                "C-E4:\tNeutral;\t()",
                "A-E3:\tval 3; act 2; dom  2;\t()",
                "",
            ]
            transcript.append(f"{utterance} [{start:08.4f}-{end:08.4f}]: {text}")
            if has_wav:
                write_wav(base / "sentences" / "wav" / dialog / f"{utterance}.wav", end - start, 16000)
        transcript.append("M: [BREATHING]")  # a non-utterance line, as in the real files
        folder = base / "dialog"
        (folder / "EmoEvaluation").mkdir(parents=True)
        (folder / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(evaluation) + "\n")
        (folder / "transcriptions").mkdir(parents=True)
        (folder / "transcriptions" / f"{dialog}.txt").write_text("\n".join(transcript) + "\n")
        write_video(
            folder / "avi" / "DivX" / f"{dialog}.avi",
            4 * IEMOCAP_FPS,
            320,
            240,
            fps=IEMOCAP_FPS,
            frame_value=lambda i: 2 * i,
            video_codec="mpeg4",
        )
    return root
