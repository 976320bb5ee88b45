"""Audio reading and writing (xy_tokenizer.audio) on real files of many formats."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.synth import speech_like, truncate, write
from xy_tokenizer.io.audio import AUDIO_EXTENSIONS, audio_info, load_audio, resample, write_audio
from xy_tokenizer.codecs.xy.constants import INPUT_SAMPLE_RATE, SAMPLES_PER_TOKEN
from xy_tokenizer.errors import AudioError
from xy_tokenizer.io.fsutil import OutputExistsError


def sine(freq: float, seconds: float, rate: int) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def test_stereo_44k_flac_is_mixed_to_mono_and_resampled(tmp_path):
    left = sine(440, 1.0, 44100)
    path = write(tmp_path / "stereo.flac", np.stack([left, np.zeros_like(left)], axis=1), 44100)
    audio, info = load_audio(path, 16000, 1280)
    assert (info.sample_rate, info.channels, info.frames, info.format) == (44100, 2, 44100, "FLAC")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape[0] == INPUT_SAMPLE_RATE
    expected = 0.5 * sine(440, 1.0, INPUT_SAMPLE_RATE)       # mean of the sine and silence
    middle = slice(800, -800)                                  # away from the filter edges
    assert np.max(np.abs(audio[middle] - expected[middle])) < 2e-3


@pytest.mark.parametrize("subtype, tolerance", [("PCM_U8", 1 / 64), ("PCM_16", 1e-4), ("PCM_24", 1e-6),
                                                ("PCM_32", 1e-6), ("FLOAT", 0.0), ("DOUBLE", 1e-7)])
def test_any_sample_format_reads_as_float_in_range(tmp_path, subtype, tolerance):
    x = speech_like(0.5)
    path = write(tmp_path / f"{subtype}.wav", x, subtype=subtype)
    audio, info = load_audio(path, 16000, 1280)
    assert info.subtype == subtype
    assert np.max(np.abs(audio - x)) <= tolerance
    assert np.abs(audio).max() <= 1.0


@pytest.mark.parametrize("name, fmt, subtype", [("a.ogg", "OGG", "VORBIS"), ("a.opus", "OGG", "OPUS"),
                                                ("a.mp3", "MP3", "MPEG_LAYER_III"), ("a.aiff", "AIFF", "PCM_16"),
                                                ("a.caf", "CAF", "PCM_16")])
def test_compressed_and_other_containers_load(tmp_path, name, fmt, subtype):
    rate = 48000 if subtype == "OPUS" else 16000
    path = write(tmp_path / name, sine(300, 1.0, rate), rate, subtype=subtype, format=fmt)
    assert path.suffix in AUDIO_EXTENSIONS
    audio, info = load_audio(path, 16000, 1280)
    assert info.format == fmt
    assert abs(audio.shape[0] - INPUT_SAMPLE_RATE) <= 0.01 * INPUT_SAMPLE_RATE
    assert 0.2 < np.abs(audio).max() <= 1.0


def test_audio_info_does_not_decode(tmp_path):
    path = write(tmp_path / "a.wav", np.zeros((24000, 3), np.float32), 48000, subtype="PCM_24")
    info = audio_info(path)
    assert (info.path, info.sample_rate, info.channels, info.frames) == (path, 48000, 3, 24000)
    assert info.duration == pytest.approx(0.5) and info.subtype == "PCM_24"


def bad_file(tmp_path, kind):
    good = speech_like(1.0)
    if kind == "missing":
        return tmp_path / "missing.wav", "file not found"
    if kind == "folder":
        folder = tmp_path / "folder.wav"
        folder.mkdir()
        return folder, "is a folder"
    if kind == "empty":
        path = tmp_path / "empty.wav"
        path.write_bytes(b"")
        return path, "empty"
    if kind == "text":
        path = tmp_path / "notes.wav"
        path.write_text("these are my notes, not audio\n" * 20)
        return path, "not an audio file"
    if kind == "truncated_wav":
        return truncate(write(tmp_path / "cut.wav", good)), "truncated"
    if kind == "truncated_flac":
        return truncate(write(tmp_path / "cut.flac", good)), "corrupt or truncated"
    if kind == "truncated_mp3":
        return truncate(write(tmp_path / "cut.mp3", good)), "truncated"
    if kind == "header_only":
        path = write(tmp_path / "header.wav", good)
        path.write_bytes(path.read_bytes()[:44])
        return path, "truncated .*announces 32000 bytes of audio, only 0"
    if kind == "no_samples":
        return write(tmp_path / "zero.wav", np.zeros(0, np.float32)), "no audio samples"
    if kind == "nan":
        good[100] = np.nan
        return write(tmp_path / "nan.wav", good, subtype="FLOAT"), "NaN or infinite"
    if kind == "inf":
        good[5] = np.inf
        return write(tmp_path / "inf.wav", np.stack([good, good], 1), subtype="FLOAT"), "NaN or infinite"
    if kind == "too_short":
        return write(tmp_path / "short.wav", good[:800]), r"0\.05.* s long; at least 0\.08 s"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "folder", "empty", "text", "truncated_wav", "truncated_flac",
                                  "truncated_mp3", "header_only", "no_samples", "nan", "inf", "too_short"])
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, kind):
    path, reason = bad_file(tmp_path, kind)
    with pytest.raises(AudioError, match=reason) as caught:
        load_audio(path, 16000, 1280)
    assert str(caught.value).startswith(f"{path}: ")


def test_minimum_length_is_checked_after_resampling(tmp_path):
    # 1280 samples at 16 kHz = 0.08 s; 3528 samples at 44.1 kHz = exactly 0.08 s.
    audio, _ = load_audio(write(tmp_path / "ok.wav", sine(200, 0.08, 44100), 44100), 16000, 1280)
    assert audio.shape[0] == SAMPLES_PER_TOKEN
    with pytest.raises(AudioError, match="one token"):
        load_audio(write(tmp_path / "short.wav", sine(200, 0.07, 44100), 44100), 16000, 1280)


def test_resample_lengths_and_identity():
    x = sine(100, 1.0, 24000)
    assert resample(x, 24000, 16000).shape == (16000,)
    same = resample(x, 24000, 24000)
    assert same.dtype == np.float32 and np.array_equal(same, x)


def test_write_audio_pcm_clips_and_float_keeps_values(tmp_path):
    x = np.array([0.0, 0.5, 1.5, -2.0] * 100, np.float32)
    pcm = write_audio(tmp_path / "pcm.wav", x, 24000)
    data, rate = sf.read(pcm, dtype="float32")
    assert rate == 24000 and sf.info(pcm).subtype == "PCM_16"
    assert data[2] == pytest.approx(32767 / 32768) and data[3] == -1.0
    flt = write_audio(tmp_path / "float.wav", x, 16000, subtype="FLOAT")
    data, _ = sf.read(flt, dtype="float32")
    assert np.array_equal(data, x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["float.wav", "pcm.wav"]


def test_write_audio_refuses_bad_input_and_existing_files(tmp_path):
    target = tmp_path / "a.wav"
    with pytest.raises(AudioError, match="NaN"):
        write_audio(target, np.array([0.0, np.nan]), 16000)
    with pytest.raises(AudioError, match=r"shape \(n,\)"):
        write_audio(target, np.zeros((10, 2)), 16000)
    with pytest.raises(AudioError, match="PCM_16, PCM_24, FLOAT"):
        write_audio(target, np.zeros(10), 16000, subtype="ULAW")
    assert not target.exists()
    write_audio(target, np.zeros(10), 16000)
    with pytest.raises(OutputExistsError):
        write_audio(target, np.ones(10) * 0.5, 16000)
    assert np.array_equal(sf.read(target)[0], np.zeros(10))
    write_audio(target, np.ones(10) * 0.5, 16000, overwrite=True)
    assert sf.read(target)[0][0] == pytest.approx(0.5)
