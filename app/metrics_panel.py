"""The quality dock: mean and median of each metric over the session, and a CSV export.

Rows come from the file list (files whose reconstruction was measured, see
:mod:`app.metrics_queue`); the summary is :func:`xy_tokenizer.metrics.summarize` of them and
the export :func:`xy_tokenizer.metrics.write_metrics_csv`, which never replaces a file unless
the user confirmed it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QMessageBox, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.analysis.metrics import METRIC_LABELS, METRIC_NAMES, summarize, write_metrics_csv

from .file_list import FileListModel
from .metric_columns import format_metric, metric_tooltip
from .provenance import model_name

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("Mean", "Median")
CSV_FILTER = "CSV files (*.csv);;All files (*)"
#: Role of a summary cell holding the exact value (float).
VALUE_ROLE = Qt.ItemDataRole.UserRole

#: Asked before an export replaces a file: ``confirm(path) -> True`` to replace it.
ConfirmOverwrite = Callable[[Path], bool]


def metric_rows(files: FileListModel) -> list[dict[str, Any]]:
    """One dict per measured file, in list order: ``file`` (its path), every metric, and the
    ``model`` that reconstructed it (variant and checkpoint file name)."""
    rows = []
    for row in files.rows():
        if row.has_result and row.metrics is not None:
            rows.append({"file": str(row.path), **row.metrics, "model": model_name(row.codec)})
    return rows


class MetricsPanel(QDockWidget):
    """Summary table (metrics x mean/median) of the measured files and "Export CSV...".

    ``confirm_overwrite(path) -> bool`` decides whether an export may replace an existing
    file (a question dialog by default; tests pass their own).
    """

    def __init__(self, files: FileListModel, parent: QWidget | None = None, *,
                 confirm_overwrite: ConfirmOverwrite | None = None) -> None:
        super().__init__("Quality", parent)
        self.setObjectName("metricsDock")
        self.files = files
        self.confirm_overwrite = confirm_overwrite or self._ask_overwrite
        self.last_dir = ""
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        self.table = QTableWidget(len(METRIC_NAMES), len(SUMMARY_COLUMNS))
        self.table.setObjectName("metricsSummary")
        self.table.setHorizontalHeaderLabels(SUMMARY_COLUMNS)
        self.table.setVerticalHeaderLabels([METRIC_LABELS[name] for name in METRIC_NAMES])
        for position, name in enumerate(METRIC_NAMES):
            self.table.verticalHeaderItem(position).setToolTip(metric_tooltip(name))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.export_button = QPushButton("Export CSV\u2026")
        self.export_button.setObjectName("exportMetrics")
        self.export_button.setToolTip("Write every measured file's metrics, then the mean and median, to a CSV file")
        self.export_button.clicked.connect(self.choose_export)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.count_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.setWidget(body)
        # Metrics change only with a row's result (cleared) or when measured (the owner
        # connects MetricsQueue.measured); progress ticks on dataChanged do not touch them.
        for signal in (files.resultChanged, files.rowsRemoved, files.modelReset):
            signal.connect(lambda *_: self.refresh())
        self.refresh()

    def rows(self) -> list[dict[str, Any]]:
        """The measured files (see :func:`metric_rows`)."""
        return metric_rows(self.files)

    def refresh(self) -> None:
        """Recompute the summary from the file list."""
        rows = self.rows()
        summary = summarize(rows)
        for position, name in enumerate(METRIC_NAMES):
            for column, stat in enumerate(("mean", "median")):
                value = summary[name][stat]
                item = QTableWidgetItem(format_metric(name, value) if rows else "")
                item.setData(VALUE_ROLE, value)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(position, column, item)
        self.count_label.setText(f"{len(rows)} file{'s' * (len(rows) != 1)} measured" if rows
                                 else "No reconstruction measured yet")
        self.export_button.setEnabled(bool(rows))

    def export_csv(self, path: str | Path) -> Path | None:
        """Write the measured files and their mean and median to ``path`` (CSV, atomic).

        An existing file is replaced only when ``confirm_overwrite(path)`` says so. Returns the
        path written, None when nothing was written (nothing measured, declined, or failed).
        """
        path = Path(path)
        rows = self.rows()
        if not rows:
            log.warning("no metrics to export: reconstruct some audio files first")
            return None
        overwrite = path.exists()
        if overwrite and not self.confirm_overwrite(path):
            log.info("metrics not exported: %s exists and was kept", path)
            return None
        try:
            written = write_metrics_csv(rows, path, overwrite=overwrite)
        except (OSError, XYTokenizerError) as exc:
            log.error("could not export the metrics to %s: %s", path, exc)
            return None
        log.info("exported the metrics of %d file(s) to %s", len(rows), written)
        return written

    def choose_export(self) -> None:
        """Ask for a file name, then :meth:`export_csv` (which asks before replacing a file)."""
        start = str(Path(self.last_dir) / "metrics.csv") if self.last_dir else "metrics.csv"
        name, _ = QFileDialog.getSaveFileName(self, "Export metrics", start, CSV_FILTER,
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if name:
            self.last_dir = str(Path(name).parent)
            self.export_csv(name)

    def _ask_overwrite(self, path: Path) -> bool:
        answer = QMessageBox.question(self, "Replace the file?",
                                      f"{path.name} already exists in {path.parent}. Replace it?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes


def create(window) -> MetricsPanel:
    """The quality dock of ``window``: refreshed as each reconstruction is measured (see :mod:`app.panels`)."""
    panel = MetricsPanel(window.files, window)
    window.metrics_queue.measured.connect(lambda _uid: panel.refresh())
    return panel
