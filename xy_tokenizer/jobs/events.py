"""What a job is made of: its items, options, per-file results, events and summary."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xy_tokenizer.io.audio import AudioInfo


class EventKind(str, enum.Enum):
    """Kinds of :class:`JobEvent`, in the order a job emits them (equal to their string values)."""

    STARTED = "started"
    FILE_STARTED = "file_started"
    PROGRESS = "progress"
    FILE_DONE = "file_done"
    FILE_FAILED = "file_failed"
    FILE_SKIPPED = "file_skipped"
    FINISHED = "finished"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class Mode(str, enum.Enum):
    """What a job does with each file."""

    ENCODE = "encode"
    DECODE = "decode"
    RECONSTRUCT = "reconstruct"

    def __str__(self) -> str:
        return self.value


MODES = tuple(m.value for m in Mode)


@dataclass(frozen=True)
class JobItem:
    path: Path          # the input file
    rel: Path           # path relative to the input root it was found under (mirrored in OUT)


#: Decoded audio longer than this (seconds) is streamed to disk by jobs that do not keep arrays.
STREAM_DECODE_SECONDS = 600.0


@dataclass
class JobOptions:
    mode: str                      # "encode" | "decode" | "reconstruct"
    out_dir: Path | None = None    # None: keep results in memory only (the GUI)
    overwrite: bool = False
    batch_size: int = 4
    overlap: float | None = None   # encoder window overlap in seconds (None: the codec's default)
    window: float | None = None    # encoder window in seconds, for families that window (None: default)
    num_quantizers: int | None = None
    audio_subtype: str = "PCM_16"  # or "FLOAT"
    keep_arrays: bool = True       # results carry codes/audio arrays
    #: With ``keep_arrays=False``, audio outputs longer than this (seconds) are decoded window
    #: by window straight into their file instead of in memory.
    stream_seconds: float = STREAM_DECODE_SECONDS

    def encode_options(self) -> dict:
        """The family options given (``overlap``, ``window``), for ``codec.encode``."""
        return {k: v for k, v in (("overlap", self.overlap), ("window", self.window)) if v is not None}


@dataclass
class FileResult:
    item: JobItem
    codes: np.ndarray | None = None        # (k, T) int64
    original: np.ndarray | None = None     # input at 16 kHz, float32 (encode/reconstruct)
    audio: np.ndarray | None = None        # reconstruction at codec.output_sample_rate
    info: AudioInfo | None = None          # source audio facts
    token_meta: dict | None = None         # sidecar content (decode of token files: as read)
    outputs: list[Path] = field(default_factory=list)
    duration: float = 0.0                  # seconds of audio: the input, or the decoded tokens


@dataclass
class JobSummary:
    mode: str = ""
    done: int = 0
    failed: int = 0
    skipped: int = 0
    audio_seconds: float = 0.0             # audio processed (input audio, or decoded tokens)
    elapsed: float = 0.0                   # wall-clock seconds of the job
    failures: list[tuple[str, str]] = field(default_factory=list)   # (path, message)
    cancelled: bool = False

    def text(self) -> str:
        """One line for people, e.g. ``encode: 3 done, 1 failed, 0 skipped; 12.0 s of audio in 2.1 s``."""
        line = (f"{self.mode}: {self.done} done, {self.failed} failed, {self.skipped} skipped; "
                f"{self.audio_seconds:.1f} s of audio in {self.elapsed:.1f} s")
        if self.audio_seconds > 0 and self.elapsed > 0:
            line += f" ({self.audio_seconds / self.elapsed:.1f}x real time)"
        return line + (" (cancelled)" if self.cancelled else "")

    def to_dict(self) -> dict:
        return {
            "mode": self.mode, "done": self.done, "failed": self.failed, "skipped": self.skipped,
            "audio_seconds": self.audio_seconds, "elapsed_seconds": self.elapsed,
            "cancelled": self.cancelled,
            "failures": [{"path": p, "message": m} for p, m in self.failures],
        }


@dataclass
class JobEvent:
    kind: EventKind
    index: int = -1                  # item index, -1 for job-level events
    item: JobItem | None = None
    done: float = 0.0                # progress: done of total files (fractional within a batch)
    total: float = 0.0
    message: str = ""                # failure reason / skip reason / summary text
    result: FileResult | None = None
    summary: JobSummary | None = None   # on "finished" / "cancelled"


