"""Getting a model: the first-run panel and the download dialog.

:class:`FirstRunPanel` is what the studio shows instead of its views while no model is
configured or installed: it says what is needed and offers "Open checkpoint..." / "Open
folder..." (files the user has, with an optional YAML config) and a :class:`DownloadBox`
(a released variant from the Hugging Face Hub, with progress and Cancel). Both end in
``checkpointChosen(path, config_or_None)``; the main window then loads the model.

The variants, their rates, sizes and licences come from :mod:`xy_tokenizer.registry`, grouped
by family. The licence is shown before a download starts; a non-commercial one (CC-BY-NC-4.0)
must be accepted with a tick first. Expected failures (connection refused, HTTP errors,
offline mode, a checksum mismatch, a full disk) end as one line in the box, never as a
traceback or the crash dialog.
"""
from __future__ import annotations

import html
import logging
import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QFrame, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QScrollArea, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from xy_tokenizer import registry
from xy_tokenizer.codecs.spec import Variant
from xy_tokenizer.errors import Cancelled, XYTokenizerError
from xy_tokenizer.hub.download import DEFAULT_VARIANT

from .path_field import PathField
from .preferences import CHECKPOINT_FILTER, CONFIG_FILTER
from .worker import JobWorker

log = logging.getLogger(__name__)

MIB = 1 << 20
#: Columns of the variant list.
COLUMNS = ("Variant", "Rates (in \u2192 out)", "Tokens", "Bitrate", "Download", "Licence")
COL_NAME, COL_RATES, COL_TOKENS, COL_BITRATE, COL_SIZE, COL_LICENCE = range(len(COLUMNS))
VARIANT_ROLE = Qt.ItemDataRole.UserRole
#: Shown in the Download column for a variant that is already installed.
INSTALLED = "installed"
_DEFAULT_ENDPOINT_NAME = "huggingface.co"


def _mib(n: float) -> str:
    return f"{n / MIB:,.0f} MiB"


def _kilo(rate: int) -> str:
    return f"{rate / 1000:g}"


class DownloadBox(QGroupBox):
    """The registry's variants grouped by family, their details and licence, Download with
    progress, and Cancel.

    Runs :func:`xy_tokenizer.hub.download.download_variant` on a :class:`JobWorker`; emits
    ``downloaded(Path)`` with what :func:`xy_tokenizer.load` accepts (the installed checkpoint).
    """

    downloaded = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Download a released model", parent)
        self.worker: JobWorker | None = None
        self._needs_ack = False
        self.variants = QTreeWidget()
        self.variants.setObjectName("variantList")
        self.variants.setColumnCount(len(COLUMNS))
        self.variants.setHeaderLabels(COLUMNS)
        self.variants.setRootIsDecorated(False)
        self.variants.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.variants.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.variants.header().setStretchLastSection(True)
        self.variants.setMinimumHeight(160)
        self._fill()
        self.variants.currentItemChanged.connect(lambda *_: self._on_selection())

        self.details = QLabel()
        self.details.setObjectName("variantDetails")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setOpenExternalLinks(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.accept_licence = QCheckBox()
        self.accept_licence.setObjectName("acceptLicence")
        self.accept_licence.setVisible(False)
        self.accept_licence.toggled.connect(lambda _: self._update_buttons())

        self.download_button = QPushButton("Download\u2026")
        self.download_button.clicked.connect(lambda: self.start_download())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setObjectName("downloadStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.accept_licence)
        row.addStretch(1)
        row.addWidget(self.download_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.variants, 1)
        layout.addWidget(self.details)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        default = registry.find_variant(DEFAULT_VARIANT)
        ids = self.variant_ids()
        first = self._item(default.id if default is not None else (ids[0] if ids else None))
        if first is not None:
            self.variants.setCurrentItem(first)
        self._on_selection()

    # -- the list -------------------------------------------------------------------------
    def _fill(self) -> None:
        from xy_tokenizer.hub.records import installed_variant

        for family in registry.families():
            if not family.variants:
                continue
            group = QTreeWidgetItem([family.label])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(COL_NAME)
            font.setBold(True)
            group.setFont(COL_NAME, font)
            group.setFirstColumnSpanned(True)
            group.setToolTip(COL_NAME, family.description)
            self.variants.addTopLevelItem(group)
            group.setFirstColumnSpanned(True)
            for v in family.variants:
                names = v.id + (f" ({v.aliases[0]})" if v.aliases else "")   # every alias in the tooltip
                size = INSTALLED if installed_variant(v) is not None else registry.download_size_text(v)
                item = QTreeWidgetItem([names, f"{_kilo(v.input_sample_rate)} \u2192 {_kilo(v.output_sample_rate)} kHz",
                                        f"{v.num_quantizers} \u00d7 {v.codebook_size} @ {v.frame_rate:g} Hz",
                                        f"{v.bitrate / 1000:g} kbps", size, v.licence])
                item.setData(COL_NAME, VARIANT_ROLE, v.id)
                item.setToolTip(COL_NAME, v.label + (f"\n--variant: {', '.join(v.names())}" if v.aliases else ""))
                item.setToolTip(COL_LICENCE, v.licence)
                group.addChild(item)
            group.setExpanded(True)

    def _item(self, variant_id: str | None) -> QTreeWidgetItem | None:
        for i in range(self.variants.topLevelItemCount()):
            group = self.variants.topLevelItem(i)
            for j in range(group.childCount()):
                if group.child(j).data(COL_NAME, VARIANT_ROLE) == variant_id:
                    return group.child(j)
        return None

    def variant_ids(self) -> list[str]:
        """Ids of the listed variants, in list order."""
        return [self.variants.topLevelItem(i).child(j).data(COL_NAME, VARIANT_ROLE)
                for i in range(self.variants.topLevelItemCount())
                for j in range(self.variants.topLevelItem(i).childCount())]

    def selected_variant(self) -> Variant | None:
        item = self.variants.currentItem()
        name = item.data(COL_NAME, VARIANT_ROLE) if item is not None else None
        return registry.find_variant(name) if name else None

    def select_variant(self, name: str) -> Variant:
        """Select a variant by id or alias (its details and licence show); returns it."""
        variant = registry.variant(name)
        self.variants.setCurrentItem(self._item(variant.id))
        return variant

    def _on_selection(self) -> None:
        from xy_tokenizer.hub.records import licence_needs_acknowledgement

        variant = self.selected_variant()
        self.accept_licence.setChecked(False)
        if variant is None:
            self.details.setText("Choose a variant to see its files and licence.")
            self._needs_ack = False
            self.accept_licence.setVisible(False)
            self._update_buttons()
            return
        self.details.setText(self._details_html(variant))
        self._needs_ack = licence_needs_acknowledgement(variant)
        self.accept_licence.setText(f"I accept the {variant.licence} licence: non-commercial use only")
        self.accept_licence.setVisible(self._needs_ack)
        if not self.is_busy():
            self._set_status(self._where_text(variant))
        self._update_buttons()

    def _details_html(self, variant: Variant) -> str:
        from xy_tokenizer.hub.records import licence_needs_acknowledgement

        units = registry.needed_variants(variant)
        lines = [f"<b>{html.escape(variant.label)}</b>"]
        if variant.notes:
            lines.append(html.escape(variant.notes))
        for unit in units:
            url = unit.licence_url or unit.hub_page
            licence = html.escape(unit.licence)
            licence = f'<a href="{html.escape(url)}">{licence}</a>' if url else licence
            warn = " \u2014 <b>non-commercial use only</b>" if licence_needs_acknowledgement(unit) else ""
            who = f"{html.escape(unit.id)}: " if len(units) > 1 else ""
            lines.append(f"Licence: {who}{licence}{warn}")
        files = [f"{html.escape(f.repo_id)}/{html.escape(f.filename)}"
                 + (f" ({registry.format_size(f.size)})" if f.size is not None else "")
                 for unit in units for f in unit.files]
        lines.append("Files: " + ", ".join(files))
        return "<br>".join(lines)

    def _where_text(self, variant: Variant) -> str:
        endpoint = os.environ.get("HF_ENDPOINT") or _DEFAULT_ENDPOINT_NAME
        size = registry.download_size_text(variant)
        what = "The files come" if size == "?" else f"{size}"
        return f"{what} from {endpoint}, saved in your user data folder and used as the default model."

    def _update_buttons(self) -> None:
        variant = self.selected_variant()
        busy = self.is_busy()
        ready = variant is not None and (not self._needs_ack or self.accept_licence.isChecked())
        self.download_button.setEnabled(ready and not busy)
        self.variants.setEnabled(not busy)
        self.accept_licence.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    # -- downloading ----------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self.worker is not None and not self.worker.is_done()

    def start_download(self, variant: str | None = None) -> JobWorker | None:
        """Download ``variant`` (id or alias; default: the selected one) in the background.

        Returns the worker, or None when the variant's non-commercial licence is not accepted
        (the status line says so; nothing is fetched).
        """
        if self.is_busy():
            return self.worker
        from xy_tokenizer.hub.records import licence_needs_acknowledgement

        spec = self.select_variant(variant) if variant is not None else self.selected_variant()
        if spec is None:
            return None
        accepted = self.accept_licence.isChecked()
        if licence_needs_acknowledgement(spec) and not accepted:
            self._set_status(f"{spec.id} is released under {spec.licence} (non-commercial use only): tick the box "
                             "to accept the licence, then download.")
            return None

        def fetch(report_progress, is_cancelled):
            from xy_tokenizer.hub.download import download_variant

            try:
                return ("ok", download_variant(spec.id, make_default=True, progress=report_progress,
                                               cancel=is_cancelled, accept_licence=accepted))
            except Cancelled:
                raise
            except XYTokenizerError as exc:  # expected: refused, HTTP errors, offline, checksum, disk full
                return ("failed", str(exc))

        worker = JobWorker(fetch, name=f"download {spec.id}", parent=self)
        worker.progress.connect(self._on_progress)
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)
        worker.cancelled.connect(lambda: self._set_status("Download cancelled."))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self._update_buttons()
        self._set_status(f"Connecting to the Hugging Face Hub for {spec.id}\u2026")
        log.info("downloading %s", spec.id)
        worker.start()
        self._update_buttons()
        return worker

    def cancel(self) -> None:
        if self.is_busy():
            self.worker.cancel()
            self._set_status("Cancelling\u2026")

    def _set_status(self, text: str) -> None:
        self.status.setText(text)

    def _on_progress(self, done: float, total: float) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done / total, 1.0)))
            self._set_status(f"Downloading: {_mib(done)} of {_mib(total)}")
        else:
            self._set_status(f"Downloading: {_mib(done)}")

    def _on_result(self, outcome: object) -> None:
        kind, value = outcome
        if kind == "failed":
            self._on_error(value)
            return
        self._set_status(f"Saved to {value}")
        log.info("model downloaded to %s", value)
        item = self._item(self.selected_variant().id if self.selected_variant() else None)
        if item is not None:
            item.setText(COL_SIZE, INSTALLED)
        self.downloaded.emit(Path(value))

    def _on_error(self, message: str) -> None:
        self._set_status(f"The download failed: {message}")
        log.warning("download failed: %s", message)

    def _on_finished(self) -> None:
        self.progress.setVisible(False)
        self._update_buttons()


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
        families = ", ".join(f.label for f in registry.families())
        intro = QLabel(
            f"The studio turns speech into the tokens of a speech tokenizer ({families}) and back into "
            "audio, so you can hear and inspect what each codec keeps. It needs a codec's weights: open a "
            "checkpoint or model folder you already have, or download a released model once.")
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
        self.open_folder_button = QPushButton("Open folder\u2026")
        self.open_folder_button.clicked.connect(self.choose_folder)
        open_box = QGroupBox("Use a checkpoint you have")
        open_form = QFormLayout(open_box)
        hint = QLabel("A file (.ckpt, .pt, .pth, .bin or .safetensors) or a model folder (weights with their "
                      "config.json). A YAML config is only needed for custom XY-Tokenizer models.")
        hint.setWordWrap(True)
        open_form.addRow(hint)
        open_form.addRow("Config (YAML):", self.config)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_folder_button)
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
        column.addWidget(self.download, 1)
        card = QFrame()
        card.setObjectName("firstRunCard")
        card.setLayout(column)
        card.setMaximumWidth(900)
        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.addStretch(1)
        centre = QHBoxLayout()
        centre.addStretch(1)
        centre.addWidget(card, 6)
        centre.addStretch(1)
        page_layout.addLayout(centre, 8)
        page_layout.addStretch(1)
        # scrolls rather than forcing a minimum window size on small screens
        scroll = QScrollArea()
        scroll.setWidget(page)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def set_message(self, text: str) -> None:
        """A line above the choices (e.g. why the configured model could not be loaded)."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def choose_checkpoint(self) -> None:
        """The "Open checkpoint..." button: pick a file, then :meth:`open_checkpoint`."""
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.open_checkpoint(Path(path))

    def choose_folder(self) -> None:
        """The "Open folder..." button: pick a model folder, then :meth:`open_checkpoint`."""
        path = QFileDialog.getExistingDirectory(self, "Open model folder", "")
        if path:
            self.open_checkpoint(Path(path))

    def open_checkpoint(self, path: Path, config: Path | None = None) -> None:
        """Use ``path`` (a file or a model folder; with ``config``, else the YAML field when filled)."""
        if config is None and self.config.text():
            config = Path(self.config.text())
        self.checkpointChosen.emit(Path(path), config)


class DownloadDialog(QDialog):
    """File > Download model...: the download box on its own; emits ``downloaded(Path)``."""

    downloaded = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Download model")
        self.setMinimumWidth(760)
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
