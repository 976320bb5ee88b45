"""Getting a model: the first-run panel and the download dialog.

:class:`FirstRunPanel` is what the studio shows instead of its views while no model is
configured or installed: it says what is needed and offers "Open checkpoint..." (a local
file, with an optional YAML config) and "Download..." (a released model from the Hugging Face
Hub, with progress and Cancel). Both end in ``checkpointChosen(path, config_or_None)``; the
main window then loads the model.
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QFrame, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from .path_field import PathField
from .preferences import CHECKPOINT_FILTER, CONFIG_FILTER
from .worker import JobWorker

log = logging.getLogger(__name__)

#: Labels of the released variants, by the short names of ``xy_tokenizer.download.VARIANTS``.
VARIANT_LABELS = {
    "16k": "XY-Tokenizer, 16 kHz output (paper release)",
    "24k": "XY-Tokenizer-TTSD-V0, 24 kHz output (MOSS-TTSD)",
    "32k": "MOSS-TTSD v0.7 tokenizer, 32 kHz output",
}
MIB = 1 << 20


def _mib(n: float) -> str:
    return f"{n / MIB:,.0f} MiB"


class DownloadBox(QGroupBox):
    """Variant chooser, Download button, progress bar and Cancel.

    Runs ``xy_tokenizer.download.download_variant`` on a :class:`JobWorker`; emits
    ``downloaded(Path)`` with the installed checkpoint.
    """

    downloaded = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Download a released model", parent)
        self.worker: JobWorker | None = None
        self.variant = QComboBox()
        for name, label in VARIANT_LABELS.items():
            self.variant.addItem(label, name)
        self.variant.setToolTip("All variants read 16 kHz speech and make the same tokens; they "
                                "differ in the sample rate of the reconstruction")
        self.download_button = QPushButton("Download\u2026")
        self.download_button.clicked.connect(lambda: self.start_download(self.variant.currentData()))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.status = QLabel("About 2 GB from huggingface.co, saved in your user data folder "
                             "and used as the default model.")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.variant, 1)
        row.addWidget(self.download_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

    def is_busy(self) -> bool:
        return self.worker is not None and not self.worker.is_done()

    def start_download(self, variant: str) -> JobWorker:
        """Download ``variant`` ("16k", "24k" or "32k") in the background; returns the worker."""
        if self.is_busy():
            return self.worker

        def fetch(report_progress, is_cancelled):
            from xy_tokenizer.hub.download import download_variant

            return download_variant(variant, make_default=True, progress=report_progress,
                                    cancel=is_cancelled)

        worker = JobWorker(fetch, name=f"download {variant}", parent=self)
        worker.progress.connect(self._on_progress)
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)
        worker.cancelled.connect(lambda: self._set_status("Download cancelled."))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._set_busy(True)
        self._set_status(f"Connecting to the Hugging Face Hub for the {variant} model\u2026")
        log.info("downloading the %s model", variant)
        worker.start()
        return worker

    def cancel(self) -> None:
        if self.is_busy():
            self.worker.cancel()
            self._set_status("Cancelling\u2026")

    def _set_busy(self, busy: bool) -> None:
        self.download_button.setEnabled(not busy)
        self.variant.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)

    def _set_status(self, text: str) -> None:
        self.status.setText(text)

    def _on_progress(self, done: float, total: float) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done / total, 1.0)))
            self._set_status(f"Downloading: {_mib(done)} of {_mib(total)}")
        else:
            self._set_status(f"Downloading: {_mib(done)}")

    def _on_result(self, path: object) -> None:
        self._set_status(f"Saved to {path}")
        log.info("model downloaded to %s", path)
        self.downloaded.emit(Path(path))

    def _on_error(self, message: str) -> None:
        self._set_status(f"The download failed: {message}")
        log.error("download failed: %s", message)

    def _on_finished(self) -> None:
        self._set_busy(False)


class FirstRunPanel(QWidget):
    """Shown while there is no usable model; not an error, a way to get one."""

    checkpointChosen = Signal(object, object)  # (Path, Path | None)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("firstRunPanel")
        title = QLabel("Welcome to XY-Tokenizer Studio")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        intro = QLabel(
            "The studio turns speech into XY-Tokenizer tokens (8 codebooks at 12.5 tokens per "
            "second) and back into audio, so you can hear and inspect what the codec keeps. "
            "It needs the codec's weights: open a checkpoint you already have, or download a "
            "released model once.")
        intro.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setObjectName("firstRunMessage")
        self.message.setStyleSheet("color: palette(highlight);")
        self.message.setVisible(False)

        self.config = PathField("file", CONFIG_FILTER, "optional: recognised from the weights")
        self.open_button = QPushButton("Open checkpoint\u2026")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self.choose_checkpoint)
        open_box = QGroupBox("Use a checkpoint file")
        open_form = QFormLayout(open_box)
        hint = QLabel(".ckpt, .pt, .pth or .safetensors. A YAML config is only needed for "
                      "custom models.")
        hint.setWordWrap(True)
        open_form.addRow(hint)
        open_form.addRow("Config (YAML):", self.config)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        open_form.addRow(buttons)

        self.download = DownloadBox()
        self.download.downloaded.connect(lambda path: self.checkpointChosen.emit(path, None))

        column = QVBoxLayout()
        column.setSpacing(14)
        column.addWidget(title)
        column.addWidget(intro)
        column.addWidget(self.message)
        column.addWidget(open_box)
        column.addWidget(self.download)
        card = QFrame()
        card.setObjectName("firstRunCard")
        card.setLayout(column)
        card.setMaximumWidth(720)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        centre = QHBoxLayout()
        centre.addStretch(1)
        centre.addWidget(card, 4)
        centre.addStretch(1)
        outer.addLayout(centre)
        outer.addStretch(2)

    def set_message(self, text: str) -> None:
        """A line above the choices (e.g. why the configured model could not be loaded)."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def choose_checkpoint(self) -> None:
        """The "Open checkpoint..." button: pick a file, then :meth:`open_checkpoint`."""
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.open_checkpoint(Path(path))

    def open_checkpoint(self, path: Path, config: Path | None = None) -> None:
        """Use ``path`` (with ``config``, else the YAML field when filled)."""
        if config is None and self.config.text():
            config = Path(self.config.text())
        self.checkpointChosen.emit(Path(path), config)


class DownloadDialog(QDialog):
    """File > Download model...: the download box on its own; emits ``downloaded(Path)``."""

    downloaded = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Download model")
        self.setMinimumWidth(520)
        self.box = DownloadBox()
        self.box.downloaded.connect(self.downloaded)
        self.box.downloaded.connect(lambda _path: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.box)
        layout.addWidget(buttons, 0, Qt.AlignmentFlag.AlignRight)

    def reject(self) -> None:
        self.box.cancel()
        super().reject()
