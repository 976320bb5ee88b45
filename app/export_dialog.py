"""Exporting results: choose what and where, and ask before replacing existing files.

The writing itself is ``xy_tokenizer.jobs.export_results`` (atomic, never a partial file, an
existing file is skipped unless overwrite), run by the main window on a worker.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
                               QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget)

from xy_tokenizer.jobs import EventKind, JobEvent, export_results, planned_outputs

from .path_field import PathField

OVERWRITE, SKIP, CANCEL = "overwrite", "skip", "cancel"
#: ``resolve(existing_paths) -> OVERWRITE | SKIP | CANCEL``: what to do about files in the way.
ConflictResolver = Callable[[list[Path]], str]
AUDIO_FORMATS = {"16-bit PCM WAV": "PCM_16", "24-bit PCM WAV": "PCM_24", "32-bit float WAV": "FLOAT"}


@dataclass(frozen=True)
class ExportChoice:
    """Where to export and what: tokens (``.npy`` + ``.json``) and/or audio (``.wav``)."""

    out_dir: Path
    tokens: bool = True
    audio: bool = True
    audio_subtype: str = "PCM_16"


def output_paths(results: Iterable[Any], out_dir: Path, *, tokens: bool, audio: bool) -> list[Path]:
    """The files an export of ``results`` (FileResults) would write under ``out_dir``."""
    paths: list[Path] = []
    for result in results:
        paths += planned_outputs(result.item, Path(out_dir), tokens=tokens and result.codes is not None,
                                 audio=audio and result.audio is not None)
    return paths


def existing_outputs(results: Iterable[Any], out_dir: Path, *, tokens: bool, audio: bool) -> list[Path]:
    """The outputs of an export that already exist (an export would skip or replace them)."""
    return [p for p in output_paths(results, out_dir, tokens=tokens, audio=audio) if p.exists()]


def export_groups(groups: list[tuple[Any, list[Any]]], choice: ExportChoice, *, overwrite: bool,
                  cancel: Callable[[], bool]) -> Iterator[JobEvent]:
    """``export_results`` for each ``(codec, results)`` group, as one stream of events.

    Results made by different models are written with their own codec (output sample rate,
    sidecar). Only the last group's ``finished`` is passed on; a ``cancelled`` ends the stream.
    """
    for number, (codec, results) in enumerate(groups, start=1):
        for event in export_results(codec, results, choice.out_dir, tokens=choice.tokens,
                                    audio=choice.audio, overwrite=overwrite,
                                    audio_subtype=choice.audio_subtype, cancel=cancel):
            if event.kind == EventKind.FINISHED and number < len(groups):
                continue
            yield event
            if event.kind == EventKind.CANCELLED:
                return


class ExportDialog(QDialog):
    """Choose the output folder, tokens and/or audio, and the WAV sample format."""

    def __init__(self, count: int, out_dir: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setMinimumWidth(520)
        self.folder = PathField("folder", placeholder="choose an output folder")
        self.folder.set_text(out_dir)
        self.tokens = QCheckBox("Tokens (.npy codes + .json sidecar)")
        self.tokens.setChecked(True)
        self.audio = QCheckBox("Reconstructed audio (.wav)")
        self.audio.setChecked(True)
        self.audio_format = QComboBox()
        self.audio_format.addItems(list(AUDIO_FORMATS))
        self.audio.toggled.connect(self.audio_format.setEnabled)
        form = QFormLayout()
        form.addRow("Output folder:", self.folder)
        form.addRow("Write:", self.tokens)
        form.addRow("", self.audio)
        form.addRow("Audio format:", self.audio_format)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton(f"Export {count} file{'s' * (count != 1)}",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for signal in (self.folder.changed, self.tokens.toggled, self.audio.toggled):
            signal.connect(self._update_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Existing files are never replaced without asking."))
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self._update_button()

    def _update_button(self, *_args) -> None:
        self.export_button.setEnabled(bool(self.folder.text())
                                      and (self.tokens.isChecked() or self.audio.isChecked()))

    def choice(self) -> ExportChoice:
        return ExportChoice(Path(self.folder.text()), self.tokens.isChecked(), self.audio.isChecked(),
                            AUDIO_FORMATS[self.audio_format.currentText()])


class OverwriteDialog(QDialog):
    """Lists the files in the way; Overwrite, Skip (keep them) or Cancel the export."""

    def __init__(self, existing: list[Path], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Files already exist")
        self.setMinimumWidth(560)
        self.answer = CANCEL
        text = QLabel(f"{len(existing)} file{'s' * (len(existing) != 1)} of this export "
                      "already exist. Replace them, or skip those files and export the others?")
        text.setWordWrap(True)
        listing = QListWidget()
        listing.addItems([str(p) for p in existing])
        buttons = QDialogButtonBox()
        for label, answer, role in (("Overwrite", OVERWRITE, QDialogButtonBox.ButtonRole.DestructiveRole),
                                    ("Skip existing", SKIP, QDialogButtonBox.ButtonRole.AcceptRole),
                                    ("Cancel", CANCEL, QDialogButtonBox.ButtonRole.RejectRole)):
            button: QPushButton = buttons.addButton(label, role)
            button.clicked.connect(lambda _checked=False, a=answer: self._answer(a))
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(listing)
        layout.addWidget(buttons)

    def _answer(self, answer: str) -> None:
        self.answer = answer
        self.done(QDialog.DialogCode.Accepted if answer != CANCEL else QDialog.DialogCode.Rejected)


def ask_overwrite(parent: QWidget | None) -> ConflictResolver:
    """A resolver that asks with :class:`OverwriteDialog` (modal)."""

    def resolve(existing: list[Path]) -> str:
        dialog = OverwriteDialog(existing, parent)
        dialog.exec()
        return dialog.answer

    return resolve

