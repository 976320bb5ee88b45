"""What a blind test listens to: one clip's original and each codec's reconstruction.

The screens take plain inputs, so they work from the studio's comparison bench
(:class:`app.comparison_model.ComparisonEntry`, via :meth:`BlindClip.from_entry`) or from any
caller (tests, scripts): ``original = (audio (N,), rate)`` and
``reconstructions = {codec label: (audio (M,), rate, bitrate bit/s)}``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xy_tokenizer.analysis.listening import ANCHOR, REFERENCE
from xy_tokenizer.io import paths

#: The label the original carries in ABX sessions (codec labels may not use it, nor
#: the MUSHRA names of the hidden reference and the anchor).
ORIGINAL = "original"
RESERVED_LABELS = (ORIGINAL, REFERENCE, ANCHOR)
#: Folder (inside the user data folder) that holds one sub-folder per saved session.
SESSIONS_FOLDER = "listening-tests"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


class BlindTestInputError(ValueError):
    """The audio handed to a blind-test screen cannot be used (the message says which and why)."""


def _mono(audio: Any, rate: Any, what: str) -> tuple[np.ndarray, int]:
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1 or samples.size == 0 or not np.all(np.isfinite(samples)):
        raise BlindTestInputError(f"{what}: need finite mono audio of shape (N,), N >= 1; got shape "
                                  f"{samples.shape}")
    if int(rate) <= 0:
        raise BlindTestInputError(f"{what}: the sample rate must be positive; got {rate!r}")
    return samples, int(rate)


@dataclass(frozen=True)
class BlindClip:
    """One clip of a blind test.

    ``name``: shown to the listener and stored in the session (e.g. the file's name);
    ``original``: ``(audio (N,) float32, rate)``; ``reconstructions``: codec label ->
    ``(audio (M,) float32, rate, bitrate in bit/s (NaN when unknown))``, in the order shown.
    """

    name: str
    original: tuple[np.ndarray, int]
    reconstructions: dict[str, tuple[np.ndarray, int, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "original", _mono(*self.original, f"{self.name}: the original"))
        checked = {}
        for label, item in self.reconstructions.items():
            if not label or label.lower() in RESERVED_LABELS:
                raise BlindTestInputError(f"{self.name}: a codec cannot be labelled {label!r} in a blind test "
                                          f"(reserved: {', '.join(RESERVED_LABELS)})")
            audio, rate = _mono(item[0], item[1], f"{self.name}: the reconstruction by {label}")
            bitrate = float(item[2]) if len(item) > 2 and item[2] is not None else math.nan
            checked[str(label)] = (audio, rate, bitrate)
        if not checked:
            raise BlindTestInputError(f"{self.name}: no reconstruction to test; reconstruct the file with "
                                      "at least one codec first")
        object.__setattr__(self, "reconstructions", checked)

    @property
    def labels(self) -> list[str]:
        return list(self.reconstructions)

    def bitrates(self) -> dict[str, float]:
        return {label: item[2] for label, item in self.reconstructions.items()}

    def others(self) -> dict[str, tuple[np.ndarray, int]]:
        """label -> ``(audio, rate)``, what :func:`~xy_tokenizer.analysis.listening.listening_stimuli` takes."""
        return {label: (item[0], item[1]) for label, item in self.reconstructions.items()}

    @classmethod
    def from_entry(cls, entry: Any, name: str) -> "BlindClip":
        """From a :class:`app.comparison_model.ComparisonEntry`: its original and finished reconstructions."""
        if entry is None or entry.original is None:
            raise BlindTestInputError(f"{name}: its original has not been read yet; reconstruct the file first")
        recs = {label: (r.audio, r.rate, getattr(r.codec, "bitrate", math.nan))
                for label, r in entry.finished().items()}
        return cls(name, entry.original, recs)


def common_labels(clips: Sequence[BlindClip]) -> list[str]:
    """The codec labels every clip has, in the first clip's order."""
    if not clips:
        return []
    return [label for label in clips[0].labels if all(label in c.reconstructions for c in clips[1:])]


def clip_name(row: Any) -> str:
    """A file row's name for the session: its relative path when it has one, else its file name."""
    rel = getattr(row, "rel", None)
    return str(rel) if rel else Path(getattr(row, "path", "clip")).name


def clips_from_window(window: Any, *, selected: bool) -> list[BlindClip]:
    """The clips to test from the studio window: the selected rows (``selected``) or the current
    one, keeping those whose original and at least one reconstruction are in
    ``window.comparison_set``. Names are made unique."""
    rows = list(window.selected_rows()) if selected else []
    if not rows:
        current = window.current_row()
        rows = [] if current is None else [current]
    clips: list[BlindClip] = []
    seen: set[str] = set()
    for row in rows:
        entry = window.comparison_set.entry(row.uid)
        if entry is None or not entry.ready():
            continue
        name = base = clip_name(row)
        n = 2
        while name in seen:
            name, n = f"{base} ({n})", n + 1
        seen.add(name)
        clips.append(BlindClip.from_entry(entry, name))
    return clips


def sessions_dir() -> Path:
    """Default parent folder of saved sessions: ``<user data>/listening-tests``."""
    return paths.data_dir() / SESSIONS_FOLDER


def new_session_folder(parent: Path, kind: str, name: str) -> Path:
    """A new, empty folder ``parent/<UTC time>-<kind>-<name>`` (``-2``, ``-3`` ... when taken)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    stem = f"{stamp}-{kind}-{_UNSAFE.sub('_', name).strip('_.')[:40] or 'clip'}"
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    folder, n = parent / stem, 2
    while True:
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            folder, n = parent / f"{stem}-{n}", n + 1


def format_bitrate(bps: float) -> str:
    """``1.5 kbit/s``; an empty string when unknown."""
    if bps is None or not math.isfinite(bps):
        return ""
    return f"{bps / 1000:.3g} kbit/s"
