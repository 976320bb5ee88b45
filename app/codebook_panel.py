"""The codebook dock: what each level uses, for the current file or every loaded file.

Any levels x codebook size (8 RVQ levels x 1024 codes, one FSQ level x 65,536 codes). The
level list offers only the levels the codes in scope have. For the chosen level it shows the usage histogram of the codes, utilisation, entropy
against its log2(codebook size) maximum, perplexity, the most frequent codes and the codes
never used (:mod:`xy_tokenizer.stats`), and a 2-D PCA projection of the level's code vectors
with the used codes coloured and sized by count. Selecting a code (in the table or by clicking
its point) emits ``codeSelected(level, code)``, which the studio sends to the token grid's
``highlight_code``. Projections are computed once per level and model, then cached; large
codebooks are drawn in part (every used code, then an even sample of the unused ones, at most
:data:`MAX_POINTS`) and their histogram in bins (at most :data:`MAX_BARS`).
"""
from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QDockWidget, QGridLayout,
                               QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit, QPushButton,
                               QRadioButton, QScrollArea, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.analysis.stats import LevelStats, level_label, level_stats, pca_2d

from .views.base import palette_color

FILE, ALL = "file", "all"
#: Point sizes (pixels) in the projection: unused codes, and the used range by count.
UNUSED_SIZE = 4.0
USED_SIZE_RANGE = (7.0, 16.0)
UNUSED_ALPHA = 70
SELECTED_SIZE = 22.0
COLORMAP = "viridis"
TOP_COLUMNS = ("Code", "Count", "Share")
#: Projection points drawn at most (used codes first); histogram bars at most (codes binned).
MAX_POINTS = 4096
MAX_BARS = 2048
#: Longer lists of unused codes are written as ranges ("0-12 15 17-30").
MAX_LISTED_CODES = 1024


def code_ranges(codes: np.ndarray) -> str:
    """Sorted codes as runs: ``[0, 1, 2, 5, 7, 8]`` -> ``"0-2 5 7-8"``."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(codes) != 1)
    starts = np.concatenate(([codes[0]], codes[breaks + 1]))
    ends = np.concatenate((codes[breaks], [codes[-1]]))
    return " ".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts.tolist(), ends.tolist()))


def shown_codes(counts: np.ndarray, limit: int = MAX_POINTS) -> np.ndarray:
    """Codes drawn in the projection, least used first (used ones drawn on top): all of them
    when there are at most ``limit``; else the ``limit`` most used of the used ones, or every
    used one and an evenly spaced sample of the unused ones."""
    counts = np.asarray(counts)
    order = np.argsort(counts, kind="stable")
    if counts.size <= limit:
        return order
    used = np.flatnonzero(counts > 0)
    if used.size >= limit:
        return order[-limit:]
    unused = np.flatnonzero(counts == 0)
    sample = unused[np.linspace(0, unused.size - 1, limit - used.size).round().astype(np.int64)]
    return np.concatenate((np.unique(sample), used[np.argsort(counts[used], kind="stable")]))


def point_sizes(counts: np.ndarray) -> np.ndarray:
    """Projection point size per code from its count (codebook_size,): unused codes
    :data:`UNUSED_SIZE`, used ones from the low to the high end of :data:`USED_SIZE_RANGE` by
    the square root of their share of the largest count."""
    counts = np.asarray(counts, dtype=np.float64)
    sizes = np.full(counts.shape, UNUSED_SIZE)
    used = counts > 0
    if used.any():
        low, high = USED_SIZE_RANGE
        sizes[used] = low + (high - low) * np.sqrt(counts[used] / counts.max())
    return sizes


class CodebookPanel(QDockWidget):
    """Dock with the codebook statistics of one level.

    Feed it with :meth:`set_codec` (the model whose codebooks are projected; its codebook
    size), :meth:`set_file_codes` (the current file's codes ``(k, T)``) and
    :meth:`set_session_codes` (every loaded file's codes). Levels are numbered from 1 in the
    interface and in ``codeSelected``.

    Signals:
        codeSelected(object level, object code): a code of ``level`` (1-based) was selected;
            ``(None, None)`` when the selection was cleared.
    """

    codeSelected = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Codebooks", parent)
        self.setObjectName("codebookDock")
        self._codec: Any = None
        self._file_codes: np.ndarray | None = None
        self._session_codes: list[np.ndarray] = []
        self._stats: dict[str, list[LevelStats] | None] = {FILE: None, ALL: None}
        self._problem = ""
        self._projections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._selected: int | None = None
        self._build()
        self._apply_palette()
        self._refresh()

    # construction ------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget()
        self.level_box = QComboBox()
        self.level_box.setObjectName("codebookLevel")
        self.level_box.addItem(level_label(0))
        self.level_box.setToolTip("Quantizer level (L1 is the first, coarsest one)")
        self.file_button = QRadioButton("This file")
        self.all_button = QRadioButton("All files")
        self.file_button.setToolTip("Statistics of the file shown in the views")
        self.all_button.setToolTip("Statistics of every reconstructed or decoded file in the list together")
        self.file_button.setChecked(True)
        self.scope_group = QButtonGroup(self)
        self.scope_group.addButton(self.file_button)
        self.scope_group.addButton(self.all_button)
        top = QHBoxLayout()
        top.addWidget(QLabel("Level"))
        top.addWidget(self.level_box)
        top.addSpacing(12)
        top.addWidget(self.file_button)
        top.addWidget(self.all_button)
        top.addStretch(1)

        self.used_label = QLabel()
        self.entropy_label = QLabel()
        self.perplexity_label = QLabel()
        self.unused_label = QLabel()
        self.tokens_label = QLabel()
        self.used_label.setToolTip("Codes used at least once / codebook size (utilisation)")
        self.entropy_label.setToolTip("Shannon entropy of the code distribution; the maximum is "
                                      "log2(codebook size), reached when every code is equally frequent")
        self.perplexity_label.setToolTip("2^entropy: the number of equally likely codes with that entropy")
        self.unused_button = QPushButton("List")
        self.unused_button.setCheckable(True)
        self.unused_button.setToolTip("Show the codes never used at this level")
        grid = QGridLayout()
        grid.setHorizontalSpacing(16)
        grid.addWidget(self.used_label, 0, 0)
        grid.addWidget(self.entropy_label, 0, 1)
        grid.addWidget(self.tokens_label, 1, 0)
        grid.addWidget(self.perplexity_label, 1, 1)
        unused_row = QHBoxLayout()
        unused_row.addWidget(self.unused_label)
        unused_row.addWidget(self.unused_button)
        unused_row.addStretch(1)
        grid.addLayout(unused_row, 2, 0, 1, 2)
        self.unused_list = QPlainTextEdit()
        self.unused_list.setObjectName("unusedCodes")
        self.unused_list.setReadOnly(True)
        self.unused_list.setMaximumHeight(4 * self.fontMetrics().height() + 12)
        self.unused_list.setVisible(False)
        self.message = QLabel()
        self.message.setWordWrap(True)

        self.histogram = pg.PlotWidget()
        self.histogram.setObjectName("codeHistogram")
        self.histogram.setMouseEnabled(x=True, y=False)
        self.histogram.getPlotItem().hideButtons()
        self.histogram.setLabel("bottom", "Code")
        self.histogram.setLabel("left", "Count")
        self.histogram.setMinimumHeight(110)
        self.bars = pg.BarGraphItem(x0=[], height=[], width=1.0)
        self.histogram.addItem(self.bars)
        self.histogram_marker = pg.InfiniteLine(angle=90, movable=False)
        self.histogram_marker.setVisible(False)
        self.histogram.addItem(self.histogram_marker, ignoreBounds=True)

        self.top_table = QTableWidget(0, len(TOP_COLUMNS))
        self.top_table.setObjectName("topCodes")
        self.top_table.setHorizontalHeaderLabels(TOP_COLUMNS)
        self.top_table.verticalHeader().setVisible(False)
        self.top_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.top_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.top_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.top_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.top_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.top_table.setToolTip("Most frequent codes; select one to highlight where it occurs in the token grid")
        self.top_table.setMinimumHeight(90)

        self.projection = pg.PlotWidget()
        self.projection.setObjectName("codebookProjection")
        self.projection.getPlotItem().hideButtons()
        self.projection.setAspectLocked(True)
        self.projection.setLabel("bottom", "PC 1")
        self.projection.setLabel("left", "PC 2")
        self.projection.setMinimumHeight(160)
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=self._point_tip, pxMode=True)
        self.selected_marker = pg.ScatterPlotItem(symbol="o", size=SELECTED_SIZE, pxMode=True)
        self.projection.addItem(self.scatter)
        self.projection.addItem(self.selected_marker)
        self.projection.setToolTip("PCA of this level's code vectors; click a point to select its code")

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        for index, (widget, stretch) in enumerate(((self.histogram, 2), (self.top_table, 2),
                                                   (self.projection, 3))):
            splitter.addWidget(widget)
            splitter.setStretchFactor(index, stretch)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(grid)
        layout.addWidget(self.unused_list)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)
        scroll = QScrollArea()          # the dock may be made smaller than its content
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        self.setWidget(scroll)

        self.level_box.currentIndexChanged.connect(lambda _index: self._on_view_changed())
        self.all_button.toggled.connect(lambda _on: self._on_view_changed())
        self.unused_button.toggled.connect(self.unused_list.setVisible)
        self.top_table.itemSelectionChanged.connect(self._on_table_selection)
        self.scatter.sigClicked.connect(self._on_point_clicked)

    # inputs ------------------------------------------------------------------------------
    def set_codec(self, codec: Any) -> None:
        """The model whose codebooks are projected and whose codebook size counts (None: none)."""
        if codec is self._codec:
            return
        self._codec = codec
        self._stats = {FILE: None, ALL: None}
        self._refresh()

    def codec(self) -> Any:
        """The model whose codebooks are shown (None: none)."""
        return self._codec

    def file_codes(self) -> np.ndarray | None:
        """The current file's codes (k, T), None when there is no file."""
        return self._file_codes

    def set_file_codes(self, codes: np.ndarray | None) -> None:
        """Codes (k, T) of the current file (None: no file). Clears the selected code."""
        self._file_codes = None if codes is None else np.asarray(codes)
        self._stats[FILE] = None
        self._selected = None
        self._refresh(notify=True)

    def set_session_codes(self, codes_list: list[np.ndarray]) -> None:
        """Codes (k, T) of every loaded file with tokens (the "All files" scope)."""
        self._session_codes = [np.asarray(codes) for codes in codes_list]
        self._stats[ALL] = None
        self.all_button.setText(f"All files ({len(self._session_codes)})")
        if self.scope() == ALL:
            self._refresh()

    def set_level(self, level: int) -> None:
        """Show level ``level`` (1-based); ValueError for a level the codes in scope lack."""
        if not 1 <= level <= self.level_box.count():
            raise ValueError(f"level {level} does not exist here: the codes have levels 1..{self.level_box.count()}")
        self.level_box.setCurrentIndex(level - 1)

    def levels(self) -> int:
        """Levels offered: those of the codes in scope (the model's while there are none)."""
        return self.level_box.count()

    def level(self) -> int:
        """The level shown (1-based)."""
        return self.level_box.currentIndex() + 1

    def set_scope(self, scope: str) -> None:
        """FILE (the current file) or ALL (every loaded file)."""
        (self.all_button if scope == ALL else self.file_button).setChecked(True)

    def scope(self) -> str:
        return ALL if self.all_button.isChecked() else FILE

    def codebook_size(self) -> int:
        """The model's codebook size; with no model, the smallest power of two above the codes'."""
        if self._codec is not None:
            return int(self._codec.codebook_size)
        arrays = self._scope_arrays()
        largest = max((int(a.max()) for a in arrays if a.size), default=0)
        return 1 << max(1, largest.bit_length())

    def _scope_arrays(self) -> list[np.ndarray]:
        if self.scope() == FILE:
            return [] if self._file_codes is None else [self._file_codes]
        return list(self._session_codes)

    def _update_levels(self) -> None:
        """Offer the levels of the codes in scope (the model's while there are none), keeping
        the chosen level where it still exists."""
        arrays = self._scope_arrays()
        if arrays:
            count = max(int(a.shape[0]) if a.ndim == 2 else 1 for a in arrays)
        else:
            count = int(self._codec.num_quantizers) if self._codec is not None else 1
        count = max(1, count)
        if count == self.level_box.count():
            return
        chosen = min(self.level_box.currentIndex(), count - 1)
        self.level_box.blockSignals(True)
        self.level_box.clear()
        self.level_box.addItems([level_label(i) for i in range(count)])
        self.level_box.setCurrentIndex(max(0, chosen))
        self.level_box.blockSignals(False)

    def current_stats(self) -> LevelStats | None:
        """Statistics of the shown level and scope, None when there are no codes for it."""
        levels = self._scope_stats()
        index = self.level() - 1
        return levels[index] if levels is not None and index < len(levels) else None

    def projection_of(self, level: int) -> np.ndarray | None:
        """(codebook_size, 2) PCA coordinates of level ``level``'s (1-based) code vectors."""
        if self._codec is None:
            return None
        if self._codec not in self._projections:
            # One copy of all codebooks off the device; each level's SVD when first shown.
            self._projections[self._codec] = (self._codec.codebooks(), {})
        books, projected = self._projections[self._codec]
        if not 1 <= level <= books.shape[0]:
            return None
        if level not in projected:
            projected[level] = pca_2d(books[level - 1])
        return projected[level]

    # selection ---------------------------------------------------------------------------
    def selected_code(self) -> int | None:
        return self._selected

    def select_code(self, code: int | None) -> None:
        """Select ``code`` of the shown level (None: clear) and emit ``codeSelected``."""
        self._selected = None if code is None else int(code)
        self._show_selection()
        self._emit_selection()

    def _emit_selection(self) -> None:
        if self._selected is None:
            self.codeSelected.emit(None, None)
        else:
            self.codeSelected.emit(self.level(), self._selected)

    def _on_table_selection(self) -> None:
        rows = self.top_table.selectionModel().selectedRows()
        if rows:
            code = int(self.top_table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole))
            if code != self._selected:
                self.select_code(code)

    def _on_point_clicked(self, _item, points, _event) -> None:
        if len(points):
            self.select_code(int(points[0].data()))

    def _show_selection(self) -> None:
        code = self._selected
        self.histogram_marker.setVisible(code is not None)
        if code is not None:
            self.histogram_marker.setValue(code + 0.5)
        projection = self.projection_of(self.level()) if code is not None else None
        if projection is None:
            self.selected_marker.setData([])
        else:
            self.selected_marker.setData([{"pos": projection[code], "data": code}])
        self.top_table.blockSignals(True)
        self.top_table.clearSelection()
        for row in range(self.top_table.rowCount()):
            if self.top_table.item(row, 0).data(Qt.ItemDataRole.UserRole) == code:
                self.top_table.selectRow(row)
        self.top_table.blockSignals(False)

    # display -----------------------------------------------------------------------------
    def _scope_stats(self) -> list[LevelStats] | None:
        scope = self.scope()
        if self._stats[scope] is None:
            codes = self._file_codes if scope == FILE else self._session_codes
            if codes is None or (isinstance(codes, list) and not codes):
                return None
            try:
                self._stats[scope] = level_stats(codes, self.codebook_size())
            except XYTokenizerError as exc:
                self._problem = str(exc)
                return None
        return self._stats[scope]

    def _on_view_changed(self) -> None:
        self._selected = None
        self._refresh(notify=True)

    def _refresh(self, notify: bool = False) -> None:
        self._update_levels()
        self._problem = ""
        stats = self.current_stats()
        self._show_numbers(stats)
        self._show_histogram(stats)
        self._show_top(stats)
        self._show_projection(stats)
        self._show_selection()
        if notify:
            self._emit_selection()

    def _show_numbers(self, stats: LevelStats | None) -> None:
        size = self.codebook_size()
        if stats is None:
            for label in (self.used_label, self.entropy_label, self.perplexity_label,
                          self.unused_label, self.tokens_label):
                label.clear()
            self.unused_list.clear()
            self.unused_button.setEnabled(False)
            self.message.setText(self._problem or self._empty_text())
            self.message.setVisible(True)
            return
        self.message.setVisible(False)
        self.used_label.setText(f"Used: {stats.used} / {size} ({stats.utilisation:.1%})")
        self.entropy_label.setText(f"Entropy: {stats.entropy_bits:.2f} of {stats.max_entropy_bits:g} bits")
        self.perplexity_label.setText(f"Perplexity: {stats.perplexity:.1f}")
        self.tokens_label.setText(f"Tokens: {stats.total}")
        self.unused_label.setText(f"Never used: {stats.unused.size}")
        self.unused_button.setEnabled(stats.unused.size > 0)
        unused = stats.unused
        self.unused_list.setPlainText(code_ranges(unused) if unused.size > MAX_LISTED_CODES
                                      else " ".join(str(code) for code in unused.tolist()))

    def _empty_text(self) -> str:
        if self.scope() == ALL and not self._session_codes:
            return "No file has tokens yet: reconstruct or open token files."
        if self.scope() == FILE and self._file_codes is None:
            return "Select a reconstructed file or a token file."
        return f"The codes have no level {level_label(self.level() - 1)}."

    def _show_histogram(self, stats: LevelStats | None) -> None:
        if stats is None:
            self.bars.setOpts(x0=[], height=[])
            return
        size = stats.counts.size
        if size <= MAX_BARS:
            self.bars.setOpts(x0=np.arange(size), height=stats.counts, width=1.0)
        else:                       # one bar per bin of `width` neighbouring codes
            width = math.ceil(size / MAX_BARS)
            padded = np.zeros(width * math.ceil(size / width), dtype=np.int64)
            padded[:size] = stats.counts
            sums = padded.reshape(-1, width).sum(axis=1)
            self.bars.setOpts(x0=np.arange(sums.size) * width, height=sums, width=float(width))
        self.histogram.setXRange(0, size, padding=0.01)
        self.histogram.setLimits(xMin=-0.5, xMax=size + 0.5)

    def _show_top(self, stats: LevelStats | None) -> None:
        top = stats.top if stats is not None else []
        self.top_table.blockSignals(True)
        self.top_table.setRowCount(len(top))
        for row, (code, count) in enumerate(top):
            cells = (str(code), str(count), f"{count / stats.total:.1%}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, code)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.top_table.setItem(row, column, item)
        self.top_table.blockSignals(False)

    def _show_projection(self, stats: LevelStats | None) -> None:
        projection = self.projection_of(self.level())
        if projection is None:
            self.scatter.setData([])
            self.projection.setTitle("Load a model to see its codebooks" if self._codec is None else "")
            return
        self.projection.setTitle("")
        size = projection.shape[0]
        counts = stats.counts if stats is not None and stats.counts.size == size else np.zeros(size, np.int64)
        sizes = point_sizes(counts)
        order = shown_codes(counts)        # used (and frequent) codes drawn on top
        shown = counts[order]
        colormap = pg.colormap.get(COLORMAP)
        dim = pg.mkBrush(palette_color(self, QPalette.ColorRole.Text, UNUSED_ALPHA))
        brushes = [dim] * order.size
        used = np.flatnonzero(shown > 0)
        if used.size:
            shade = np.log1p(shown[used]) / math.log1p(counts.max())
            for index, value in zip(used, colormap.map(0.15 + 0.85 * shade, mode="qcolor")):
                brushes[index] = pg.mkBrush(value)
        self.projection.setTitle("" if order.size == size else
                                 f"{order.size} of {size} codes shown")
        self.scatter.setData(pos=projection[order], size=sizes[order], data=order, brush=brushes, pen=None)

    def _point_tip(self, x: float, y: float, data: Any) -> str:
        stats = self.current_stats()
        count = int(stats.counts[int(data)]) if stats is not None else 0
        return f"code {int(data)}: {count} time{'s' * (count != 1)}"

    # palette -----------------------------------------------------------------------------
    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "projection"):
            self._apply_palette()
            self._show_projection(self.current_stats())

    def _apply_palette(self) -> None:
        text = palette_color(self, QPalette.ColorRole.Text)
        highlight = palette_color(self, QPalette.ColorRole.Highlight)
        for plot in (self.histogram, self.projection):
            plot.setBackground(palette_color(self, QPalette.ColorRole.Base))
            for name in ("left", "bottom"):
                axis = plot.getPlotItem().getAxis(name)
                axis.setPen(pg.mkPen(palette_color(self, QPalette.ColorRole.Text, 150)))
                axis.setTextPen(pg.mkPen(text))
        self.bars.setOpts(brush=pg.mkBrush(highlight), pen=None)
        self.histogram_marker.setPen(pg.mkPen(palette_color(self, QPalette.ColorRole.Text, 200), width=1,
                                              style=Qt.PenStyle.DashLine))
        self.selected_marker.setPen(pg.mkPen(text, width=2))
        self.selected_marker.setBrush(pg.mkBrush(None))


def same_codebook(a: Any, b: Any) -> bool:
    """Whether codes of codecs ``a`` and ``b`` index the same kind of codebook (family and
    size), so that their statistics may be added."""
    return a is b or (a is not None and b is not None and a.family == b.family
                      and a.codebook_size == b.codebook_size)


def create(window) -> CodebookPanel:
    """The codebook dock of ``window`` (see :mod:`app.panels`): the shown file's codes with the
    model that made them, every listed file's codes of the same kind of codebook for "All
    files", and selected codes highlighted in the token grid."""
    panel = CodebookPanel(window)

    def session(*_args) -> None:
        codec = panel.codec()
        panel.set_session_codes([row.result.codes for row in window.files.rows()
                                 if row.has_result and row.result.codes is not None
                                 and (codec is None or same_codebook(row.codec, codec))])

    def shown(row) -> None:
        before = panel.codec()
        if row is not None and row.has_result and row.result.codes is not None:
            panel.set_codec(row.codec)
            panel.set_file_codes(row.result.codes)
        else:
            panel.set_file_codes(None)
        if panel.codec() is not before:
            session()

    def model_loaded(codec) -> None:
        if panel.file_codes() is None:
            panel.set_codec(codec)
            session()

    window.shownChanged.connect(shown)
    window.jobs.modelLoaded.connect(model_loaded)
    window.files.resultChanged.connect(session)
    window.files.rowsRemoved.connect(session)
    window.files.modelReset.connect(session)
    panel.codeSelected.connect(window.comparison.tokens.highlight_code)
    return panel
