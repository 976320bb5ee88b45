"""What the comparison bench knows about each file: its original and one reconstruction per codec.

This is the one place the studio's comparison screens (the stacked views, the 1..9 listening
keys, the per-codec metrics table, and the blind tests in ``app/blind_tests/``) read
reconstructions from. Qt is used only for the change signal; the data are plain numpy arrays.

* :class:`Reconstruction` -- one codec's output for one file: ``audio`` (N,) float32 at
  ``rate`` Hz, the codec's :class:`~xy_tokenizer.analysis.compare.CodecDescription`
  (``codec.label``, ``.family``, ``.bitrate``, ``.frame_rate`` ...), its ``codes``
  (levels, T) int array when kept, and a ``status`` (:data:`QUEUED`, :data:`RUNNING`,
  :data:`DONE`, :data:`FAILED`) with the failure ``message``.
* :class:`ComparisonEntry` -- one file row: ``original`` ``(audio (N,), rate)`` (None until
  read) and ``reconstructions`` ``{codec label: Reconstruction}`` in the session's codec order.
* :class:`ComparisonSet` -- every file row (by the file list's ``uid``) -> its entry, plus the
  codec order. Signal ``changed(int uid)`` when a row's original or a reconstruction changed;
  ``codecsChanged()`` when the codec order changed.

For a listening screen::

    entry = window.comparison_set.entry(row.uid)      # None: nothing compared for this file
    if entry is not None and entry.ready():           # original + at least one finished codec
        stimuli = entry.stimuli()                     # {"reference": Stimulus, label: Stimulus...}
        # each Stimulus: .audio (N,) float32, all at one .rate, codec delay removed,
        # loudness matched to the original by BS.1770 (xy_tokenizer.analysis.listening)

``window.comparison_set`` is the studio's instance (see :mod:`app.main_window`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np
from PySide6.QtCore import QObject, Signal

from xy_tokenizer.analysis.compare import CodecDescription
from xy_tokenizer.analysis.listening import REFERENCE, Stimulus, listening_stimuli

#: States of one reconstruction.
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: The label the original is shown and played under (key 1).
ORIGINAL_LABEL = "Original"


@dataclass(frozen=True)
class Reconstruction:
    """One codec's reconstruction of one file.

    ``audio``: (N,) float32 at ``rate`` Hz (None unless ``status`` is :data:`DONE`);
    ``codes``: (levels, T) integer tokens (None when not kept); ``codec``: the codec that made it.
    """

    codec: CodecDescription
    status: str = QUEUED
    audio: np.ndarray | None = None
    rate: int = 0
    codes: np.ndarray | None = None
    message: str = ""
    quantizer: str = "rvq"          # the codec's quantizer_kind: "rvq" or "fsq"

    @property
    def label(self) -> str:
        return self.codec.label

    @property
    def done(self) -> bool:
        return self.status == DONE and self.audio is not None


@dataclass
class ComparisonEntry:
    """One file: ``original`` ``(audio (N,) float32, rate)`` or None, and each codec's reconstruction."""

    uid: int
    original: tuple[np.ndarray, int] | None = None
    reconstructions: dict[str, Reconstruction] = field(default_factory=dict)

    def finished(self) -> dict[str, Reconstruction]:
        """The reconstructions that are :data:`DONE`, in codec order."""
        return {label: r for label, r in self.reconstructions.items() if r.done}

    def ready(self) -> bool:
        """True when the original is known and at least one codec finished."""
        return self.original is not None and bool(self.finished())

    def stimuli(self, *, loudness_match: bool = True, out_rate: int | None = None,
                align: bool = True) -> dict[str, Stimulus]:
        """:func:`~xy_tokenizer.analysis.listening.listening_stimuli` of the original and every finished
        reconstruction: ``{REFERENCE: ..., label: ...}``, all at one rate (default: the highest),
        aligned to the original and, with ``loudness_match``, at its BS.1770 loudness.
        Raises :class:`ValueError` when :meth:`ready` is False."""
        if self.original is None:
            raise ValueError(f"file {self.uid}: its original has not been read yet; reconstruct it first")
        audio, rate = self.original
        others = {label: (r.audio, r.rate) for label, r in self.finished().items()}
        return listening_stimuli(audio, rate, others, out_rate=out_rate, loudness_match=loudness_match,
                                 align=align)


class ComparisonSet(QObject):
    """Every file's :class:`ComparisonEntry`, by file-list uid, and the session's codec order.

    Written by the studio's comparison runner on the GUI thread; read by any screen.
    """

    changed = Signal(int)
    codecsChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: dict[int, ComparisonEntry] = {}
        self._codecs: dict[str, CodecDescription] = {}

    # reading ------------------------------------------------------------------------------
    def codecs(self) -> list[CodecDescription]:
        """The codecs of the session, in the order they were added (keys 2, 3, ...)."""
        return list(self._codecs.values())

    def codec(self, label: str) -> CodecDescription | None:
        return self._codecs.get(label)

    def entry(self, uid: int) -> ComparisonEntry | None:
        """The entry of a file row (None: nothing compared for it)."""
        return self._entries.get(uid)

    def entries(self) -> Iterator[ComparisonEntry]:
        return iter(list(self._entries.values()))

    def reconstruction(self, uid: int, label: str) -> Reconstruction | None:
        entry = self._entries.get(uid)
        return None if entry is None else entry.reconstructions.get(label)

    # writing ------------------------------------------------------------------------------
    def set_codec(self, codec: CodecDescription) -> None:
        """Add a codec (or update its description, keeping its place)."""
        self._codecs[codec.label] = codec
        self.codecsChanged.emit()

    def remove_codec(self, label: str) -> None:
        """Forget a codec and its reconstructions of every file."""
        if self._codecs.pop(label, None) is None:
            return
        for entry in self._entries.values():
            if entry.reconstructions.pop(label, None) is not None:
                self.changed.emit(entry.uid)
        self.codecsChanged.emit()

    def _entry(self, uid: int) -> ComparisonEntry:
        return self._entries.setdefault(uid, ComparisonEntry(uid))

    def set_original(self, uid: int, audio: np.ndarray, rate: int) -> None:
        """The original of a file: (N,) float32 at ``rate``."""
        self._entry(uid).original = (np.asarray(audio, dtype=np.float32), int(rate))
        self.changed.emit(uid)

    def set_reconstruction(self, uid: int, reconstruction: Reconstruction) -> None:
        """Store (or replace) a codec's reconstruction of a file; the codec is added when new."""
        if reconstruction.label not in self._codecs:
            self._codecs[reconstruction.label] = reconstruction.codec
            self.codecsChanged.emit()
        entry = self._entry(uid)
        entry.reconstructions[reconstruction.label] = reconstruction
        # keep codec order
        entry.reconstructions = {label: entry.reconstructions[label] for label in self._codecs
                                 if label in entry.reconstructions}
        self.changed.emit(uid)

    def set_status(self, uid: int, label: str, status: str, message: str = "") -> None:
        """Mark a codec's work on a file (queued, running, failed), keeping what it had."""
        codec = self._codecs.get(label) or CodecDescription(label)
        old = self.reconstruction(uid, label)
        new = replace(old, status=status, message=message) if old is not None else \
            Reconstruction(codec, status=status, message=message)
        self.set_reconstruction(uid, new)

    def remove_file(self, uid: int) -> None:
        if self._entries.pop(uid, None) is not None:
            self.changed.emit(uid)

    def clear(self) -> None:
        uids = list(self._entries)
        self._entries.clear()
        for uid in uids:
            self.changed.emit(uid)


__all__ = ["ComparisonEntry", "ComparisonSet", "Reconstruction", "REFERENCE", "ORIGINAL_LABEL",
           "QUEUED", "RUNNING", "DONE", "FAILED"]
