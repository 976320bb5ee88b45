"""Audio in and out: any file libsndfile reads -> mono float32 at 16 kHz; WAV writing.

Reading mixes every channel to mono (mean), converts any sample format to float32, resamples
with soxr and checks what the codec needs (finite samples, at least one token long). Every
failure is an :class:`AudioError` whose message starts with the file's path.
"""
from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from xy_tokenizer.errors import AudioError
from xy_tokenizer.io.fsutil import atomic_write, writing

#: File extensions (lower case, with dot) of the formats libsndfile reads; folder scans use it.
AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc",
    ".au", ".snd", ".caf", ".w64", ".rf64", ".wavex",
})
#: Sample formats :func:`write_audio` writes.
WRITE_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
#: soxr quality used by :func:`resample` (``"HQ"``: 20-bit precision, enough for 16-bit sources).
RESAMPLE_QUALITY = "HQ"


@dataclass(frozen=True)
class AudioInfo:
    """Facts about a source audio file (before any conversion)."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    duration: float      # seconds
    format: str          # libsndfile major format, e.g. "WAV", "FLAC"
    subtype: str         # sample format, e.g. "PCM_16", "FLOAT"


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not is_regular_file(path):
        raise AudioError(f"{path}: not a regular file (a pipe, device or socket); only audio files are read")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise AudioError(f"{path}: cannot be opened ({exc.strerror or exc})") from exc
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes)")


def is_regular_file(path: Path) -> bool:
    """Whether ``path`` is (or links to) a regular file: opening a FIFO named ``.wav`` would block."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _libsndfile_error(path: Path, exc: Exception) -> AudioError:
    reason = (getattr(exc, "error_string", None) or str(exc)).strip().rstrip(".")
    if "not recognised" in reason.lower():
        return AudioError(f"{path}: not an audio file that libsndfile can read ({reason})")
    return AudioError(f"{path}: cannot decode the audio; the file is corrupt or truncated ({reason})")


def _declared_wav_data_bytes(path: Path) -> tuple[int, int] | None:
    """(offset, size) of a RIFF/WAVE file's ``data`` chunk as its header declares, else None.

    libsndfile quietly shortens a WAV whose data chunk runs past the end of the file; this
    lets :func:`load_audio` report such a file as truncated instead.
    """
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                return handle.tell(), size
            handle.seek(size + (size & 1), 1)


def _check_not_truncated(path: Path, declared_frames: int, frames_read: int) -> None:
    declared = _declared_wav_data_bytes(path)
    # 0 and 0xFFFFFFFF are what streaming writers put when the length was unknown.
    if declared is not None and declared[1] not in (0, 0xFFFFFFFF):
        offset, size = declared
        available = path.stat().st_size - offset
        if size > available:
            raise AudioError(
                f"{path}: the file is truncated (its header announces {size} bytes of audio, "
                f"only {available} are present)"
            )
    if frames_read < declared_frames:
        raise AudioError(
            f"{path}: the file is truncated (its header announces {declared_frames} frames, "
            f"only {frames_read} could be decoded)"
        )


def audio_info(path: Path) -> AudioInfo:
    """Describe an audio file without decoding it. Raises :class:`AudioError`."""
    path = Path(path)
    _check_readable(path)
    try:
        with sf.SoundFile(str(path)) as handle:
            return _describe(path, handle)
    except (sf.SoundFileError, RuntimeError) as exc:
        raise _libsndfile_error(path, exc) from exc


def _describe(path: Path, handle: sf.SoundFile) -> AudioInfo:
    rate, frames = int(handle.samplerate), int(handle.frames)
    return AudioInfo(path=path, sample_rate=rate, channels=int(handle.channels), frames=frames,
                     duration=frames / rate if rate else 0.0, format=str(handle.format),
                     subtype=str(handle.subtype))


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a 1-D signal ``x: (n,)`` with soxr; returns float32 ``(round(n*to/from),)``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if from_rate == to_rate:
        return x
    return np.ascontiguousarray(soxr.resample(x, from_rate, to_rate, quality=RESAMPLE_QUALITY),
                                dtype=np.float32)


def load_audio(path: Path, target_rate: int, min_samples: int = 1) -> tuple[np.ndarray, AudioInfo]:
    """Read an audio file as mono float32 at ``target_rate``.

    Returns ``(audio: (n,) float32, info)`` where ``info`` describes the source file. Channels
    are averaged; PCM sources give values in [-1, 1] (float sources are not clipped). Raises
    :class:`AudioError` naming the file when it is missing, empty, not audio, corrupt or
    truncated, holds NaN/Inf samples, or is shorter than ``min_samples`` after resampling.
    """
    path = Path(path)
    _check_readable(path)
    try:
        with sf.SoundFile(str(path)) as handle:  # one open for the facts and the samples
            info = _describe(path, handle)
            data = handle.read(dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as exc:
        raise _libsndfile_error(path, exc) from exc
    rate = info.sample_rate
    _check_not_truncated(path, info.frames, data.shape[0])
    if data.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio samples")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        raise AudioError(f"{path}: contains NaN or infinite samples; the file is damaged")
    audio = resample(mono, int(rate), target_rate)
    if audio.shape[0] < min_samples:
        raise AudioError(
            f"{path}: is {info.duration:.3f} s long; at least {min_samples / target_rate:g} s "
            f"({min_samples} samples at {target_rate} Hz) is needed for one token"
        )
    return audio, info


#: Samples clipped and written per block (bounded extra memory instead of a clipped copy of it all).
WRITE_BLOCK_SAMPLES = 1 << 20
#: Bytes per sample of each :data:`WRITE_SUBTYPES` entry.
SUBTYPE_BYTES = {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}
#: A RIFF WAV counts its size in 32 bits; past this many bytes of samples (leaving room for the
#: header) the file is written as RF64, which libsndfile and most tools read.
WAV_MAX_DATA_BYTES = (1 << 32) - 1 - (1 << 16)


def wav_format_for(frames: int, subtype: str, channels: int = 1) -> str:
    """libsndfile major format for a WAV of ``frames`` frames: ``"WAV"``, or ``"RF64"`` when the
    samples would not fit the 4 GB a RIFF header can count."""
    data_bytes = int(frames) * int(channels) * SUBTYPE_BYTES[subtype]
    return "RF64" if data_bytes > WAV_MAX_DATA_BYTES else "WAV"


def _check_subtype(path: Path, subtype: str) -> None:
    if subtype not in WRITE_SUBTYPES:
        raise AudioError(f"{path}: cannot write sample format {subtype!r}; use one of {', '.join(WRITE_SUBTYPES)}")


class WavWriter:
    """A mono WAV (or RF64) file written block by block: ``with WavWriter(tmp, ...) as w: w.write(block)``.

    ``frames`` is the length it will have (it picks WAV or RF64, :func:`wav_format_for`);
    ``final`` the name used in messages. PCM blocks are clipped to [-1, 1] one
    :data:`WRITE_BLOCK_SAMPLES` piece at a time, so memory stays bounded whatever the length.
    """

    def __init__(self, path: Path, sample_rate: int, frames: int, *, subtype: str = "PCM_16",
                 final: Path | None = None) -> None:
        self.path, self.final = Path(path), Path(final or path)
        _check_subtype(self.final, subtype)
        self.subtype = subtype
        self.written = 0
        self._handle = sf.SoundFile(str(self.path), "w", samplerate=int(sample_rate), channels=1,
                                    subtype=subtype, format=wav_format_for(frames, subtype))

    def write(self, audio: np.ndarray) -> None:
        """Append ``audio: (n,)`` float samples. Raises :class:`AudioError` for non-finite or non-1-D audio."""
        audio = np.asarray(audio)
        if audio.ndim != 1:
            raise AudioError(f"{self.final}: expected mono audio of shape (n,), got {audio.shape}")
        for start in range(0, audio.shape[0], WRITE_BLOCK_SAMPLES):
            block = np.asarray(audio[start:start + WRITE_BLOCK_SAMPLES], dtype=np.float32)
            if not np.isfinite(block).all():
                raise AudioError(f"{self.final}: the audio to write contains NaN or infinite samples")
            if self.subtype != "FLOAT":
                block = np.clip(block, -1.0, 1.0)      # one block's copy, never the caller's array
            self._handle.write(block)
            self.written += block.shape[0]

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "WavWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_audio_to(tmp: Path, audio: np.ndarray, sample_rate: int, *, subtype: str = "PCM_16",
                   final: Path | None = None) -> None:
    """Write ``audio: (n,)`` into ``tmp`` (not atomically: a temporary of an atomic group) block
    by block; ``final`` names the destination in messages."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"{final or tmp}: expected mono audio of shape (n,), got {audio.shape}")
    with WavWriter(tmp, sample_rate, audio.shape[0], subtype=subtype, final=final) as writer:
        writer.write(audio)


def write_audio(path: Path, audio: np.ndarray, sample_rate: int, *, subtype: str = "PCM_16",
                overwrite: bool = False) -> Path:
    """Write ``audio: (n,)`` float as a mono WAV atomically; returns ``path``.

    ``subtype`` is one of :data:`WRITE_SUBTYPES`; PCM output is clipped to [-1, 1] block by
    block (no clipped copy of the whole signal); past 4 GB of samples the file is RF64. Raises
    :class:`AudioError` for non-finite or non-1-D audio, ``OutputExistsError`` when ``path``
    exists and not ``overwrite``, ``DiskFullError`` naming ``path`` when the disk fills up.
    """
    path = Path(path)
    _check_subtype(path, subtype)
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"{path}: expected mono audio of shape (n,), got {audio.shape}")
    with atomic_write(path, overwrite=overwrite) as tmp, writing(path):
        write_audio_to(tmp, audio, sample_rate, subtype=subtype, final=path)
    return path
