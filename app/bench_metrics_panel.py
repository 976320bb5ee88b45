"""The "Codec scores" dock: the comparison bench's metrics side by side, one row per codec.

Rows: the codecs of the bench's :class:`~xy_tokenizer.analysis.compare.ComparisonSession`,
with bitrate, files scored (and failed) and per metric (log-mel, MR-STFT, SI-SDR, STOI, PESQ
wb/nb, F0 corr) the mean or median over the session (a switch). Below, a plot of one metric
against bitrate, one line per family (pyqtgraph). "Export CSV..." writes the session's CSV
(one row per file x codec, then mean and median rows per codec); "Save plot PNG..." renders
the plot with ``pyqtgraph.exporters.ImageExporter``.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QPushButton, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)
from PySide6.QtCore import Qt

from xy_tokenizer.analysis.compare import STATS
from xy_tokenizer.analysis.metrics import METRIC_LABELS, METRIC_NAMES
from xy_tokenizer.errors import XYTokenizerError

from .bench import Bench
from .metric_columns import METRIC_HEADERS, format_metric, metric_tooltip
from .views.bench_view import SOURCE_COLORS

log = logging.getLogger(__name__)

LEAD_COLUMNS = ("Codec", "Bitrate", "Files")
#: Size (pixels) of a saved plot unless asked otherwise.
PLOT_SIZE = (900, 600)
PLOT_BACKGROUND = "w"
PLOT_FOREGROUND = "k"


class BenchMetricsPanel(QDockWidget):
    """Per-codec metrics of the bench's session and the metric-vs-bitrate plot."""

    def __init__(self, bench: Bench, parent=None) -> None:
        super().__init__("Codec scores", parent)
        self.bench = bench
        self.stat = QComboBox()
        self.stat.setObjectName("statistic")
        self.stat.addItems(STATS)
        self.metric_choice = QComboBox()
        self.metric_choice.setObjectName("plotMetric")
        for name in METRIC_NAMES:
            self.metric_choice.addItem(METRIC_LABELS[name], name)
        self.export_csv_button = QPushButton("Export CSV\u2026")
        self.export_csv_button.clicked.connect(self.choose_csv)
        self.save_plot_button = QPushButton("Save plot PNG\u2026")
        self.save_plot_button.clicked.connect(self.choose_png)
        self.table = QTableWidget(0, len(LEAD_COLUMNS) + len(METRIC_NAMES))
        self.table.setObjectName("codecScores")
        self.table.setHorizontalHeaderLabels([*LEAD_COLUMNS, *(METRIC_HEADERS[m] for m in METRIC_NAMES)])
        for index, name in enumerate(METRIC_NAMES):
            self.table.horizontalHeaderItem(len(LEAD_COLUMNS) + index).setToolTip(metric_tooltip(name))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.plot = pg.PlotWidget(background=PLOT_BACKGROUND)
        self.plot.setObjectName("metricPlot")
        self.plot.setMinimumHeight(160)
        self.plot.addLegend(offset=(10, 10))
        self.plot.getPlotItem().getViewBox().setDefaultPadding(0.12)    # codec names beside the points
        for name in ("left", "bottom"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setPen(pg.mkPen(PLOT_FOREGROUND))
            axis.setTextPen(pg.mkPen(PLOT_FOREGROUND))
        controls = QHBoxLayout()
        for widget in (QLabel("Statistic"), self.stat, QLabel("Plot"), self.metric_choice):
            controls.addWidget(widget)
        controls.addStretch(1)
        files = QHBoxLayout()
        files.addWidget(self.export_csv_button)
        files.addWidget(self.save_plot_button)
        files.addStretch(1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.plot)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addLayout(files)
        layout.addWidget(splitter, 1)
        self.setWidget(body)
        self.stat.currentTextChanged.connect(lambda _t: self.refresh())
        self.metric_choice.currentIndexChanged.connect(lambda _i: self.refresh())
        bench.scored.connect(lambda _uid, _label: self.refresh())
        bench.slotsChanged.connect(self.refresh)
        bench.codecFinished.connect(lambda _label: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Redraw the table and the plot from the session."""
        summary = self.bench.session.summary()
        stat = self.stat.currentText()
        self.table.setRowCount(len(summary))
        for row, (label, codec_summary) in enumerate(summary.items()):
            bitrate = codec_summary.codec.bitrate
            failed = f" ({codec_summary.failed} failed)" if codec_summary.failed else ""
            cells = [label, "" if not math.isfinite(bitrate) else f"{bitrate:g} bit/s",
                     f"{codec_summary.files}{failed}"]
            cells += [format_metric(m, codec_summary.stats[m][stat]) if codec_summary.files else ""
                      for m in METRIC_NAMES]
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self._draw_plot()

    def _draw_plot(self) -> None:
        metric = self.metric_choice.currentData()
        stat = self.stat.currentText()
        item = self.plot.getPlotItem()
        item.clear()
        if item.legend is not None:
            item.legend.clear()
        series = self.bench.session.series(metric, stat)
        for index, line in enumerate(series):
            points = [p for p in line.points if math.isfinite(p.value)]
            if not points:
                continue
            color = SOURCE_COLORS[(index + 1) % len(SOURCE_COLORS)]
            x = np.array([p.bitrate / 1000 for p in points])
            y = np.array([p.value for p in points])
            self.plot.plot(x, y, pen=pg.mkPen(color, width=2), symbol="o", symbolSize=9,
                           symbolBrush=color, name=line.name)
            if item.legend is not None:
                item.legend.setLabelTextColor(PLOT_FOREGROUND)
            for point in points:
                text = pg.TextItem(point.codec, color=PLOT_FOREGROUND, anchor=(0, 1))
                text.setPos(point.bitrate / 1000, point.value)
                self.plot.addItem(text)
        better = "higher" if METRIC_LABELS[metric].endswith("\u2191") else "lower"
        item.setLabel("bottom", "Bitrate (kbit/s)")
        item.setLabel("left", f"{METRIC_LABELS[metric]} ({stat}; {better} is better)")
        item.setTitle(f"{METRIC_HEADERS[metric]} vs bitrate", color=PLOT_FOREGROUND)
        item.showGrid(x=True, y=True, alpha=0.3)

    # files -------------------------------------------------------------------------------
    def export_csv(self, path: str | Path, *, overwrite: bool = True) -> Path:
        """Write the session's CSV (see :meth:`ComparisonSession.csv_text`)."""
        return self.bench.session.write_csv(path, overwrite=overwrite)

    def export_png(self, path: str | Path, width: int = PLOT_SIZE[0], height: int = PLOT_SIZE[1]) -> Path:
        """Render the metric-vs-bitrate plot to a ``width`` x ``height`` PNG (ImageExporter)."""
        import pyqtgraph.exporters

        path = Path(path)
        self._draw_plot()
        plot_item = self.plot.getPlotItem()
        old_size = self.plot.size()
        self.plot.resize(width, height)          # the exporter keeps the aspect of the scene item
        exporter = pyqtgraph.exporters.ImageExporter(plot_item)
        exporter.parameters()["width"] = width
        exporter.parameters()["height"] = height
        exporter.parameters()["background"] = pg.mkColor(PLOT_BACKGROUND)
        tmp = path.with_name(f".{path.stem}.tmp.png")
        try:
            exporter.export(str(tmp))
            if not tmp.is_file():
                raise XYTokenizerError(f"{path}: the plot could not be rendered; check the folder is writable")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
            self.plot.resize(old_size)
        return path

    def choose_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export codec scores", "comparison.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
            except (XYTokenizerError, OSError) as exc:
                log.error("%s", exc)

    def choose_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save plot", "comparison.png", "PNG image (*.png)")
        if path:
            try:
                self.export_png(path)
            except (XYTokenizerError, OSError) as exc:
                log.error("%s", exc)


def create(window) -> BenchMetricsPanel:
    """The Codec scores dock of ``window`` (see :mod:`app.panels`)."""
    return BenchMetricsPanel(window.bench, window)
