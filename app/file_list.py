"""The file list: a table of the audio and token files in the session and their status.

:class:`FileListModel` holds one :class:`FileRow` per file (what the file is, its status, and
the job's :class:`~xy_tokenizer.jobs.FileResult` once done, and the reconstruction's quality
metrics once measured); :class:`FileListView` shows it, allows several rows to be selected and
accepts dropped files and folders.
"""
from __future__ import annotations

import enum
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDragMoveEvent, QDropEvent, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

from xy_tokenizer.analysis.metrics import METRIC_NAMES

from .formatting import format_duration
from .metric_columns import METRIC_HEADERS, format_metric, metric_tooltip
from .provenance import decoded_by



class RowKind(str, enum.Enum):
    """What a row's file is: audio to reconstruct, or a ``.npy`` token file to decode."""

    AUDIO = "audio"
    TOKENS = "tokens"

    def __str__(self) -> str:
        return self.value


class RowStatus(str, enum.Enum):
    """Where a file stands; DONE and DECODED carry a result. Equal to their string values."""

    READY = "ready"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DECODED = "decoded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def text(self) -> str:
        """The status as the list shows it."""
        return _STATUS_TEXT.get(self, self.value)


_STATUS_TEXT = {RowStatus.DECODED: "decoded from tokens"}
#: Statuses of rows waiting for or in a job.
PENDING = (RowStatus.QUEUED, RowStatus.RUNNING)
#: Statuses of rows whose job ended (for better or worse).
SETTLED = (RowStatus.DONE, RowStatus.DECODED, RowStatus.FAILED, RowStatus.CANCELLED)

BASE_COLUMNS = ("Name", "Status", "Duration", "Rate", "Channels", "Tokens")
COL_NAME, COL_STATUS, COL_DURATION, COL_RATE, COL_CHANNELS, COL_TOKENS = range(len(BASE_COLUMNS))
#: Quality metric columns, after the base ones: column -> metric name (METRIC_NAMES order).
METRIC_COLUMNS = {len(BASE_COLUMNS) + i: name for i, name in enumerate(METRIC_NAMES)}
COLUMNS = BASE_COLUMNS + tuple(METRIC_HEADERS[name] for name in METRIC_NAMES)
#: Data role of a metric cell: its exact value (float; NaN when it could not be computed).
METRIC_ROLE = Qt.ItemDataRole.UserRole + 1

_ids = itertools.count(1)
#: Rows the header looks at to fit a column to its contents (0: the rows in view).
RESIZE_PRECISION_ROWS = 0
EMPTY_HINT = "Drop audio files, folders or .npy token files here"


@dataclass
class FileRow:
    """One file of the session.

    ``kind`` is a :class:`RowKind`, ``status`` a :class:`RowStatus` (strings given are converted).
    ``frames`` is the token count T (known for token files, and for audio once encoded);
    ``frame_rate`` the frames per second a token file's sidecar records (None: unknown, the
    loaded codec's is assumed). ``real`` is the resolved path (to skip files already listed).
    ``result`` is the job's FileResult (codes ``(k, T)``, original at ``codec.input_sample_rate``,
    reconstruction at ``codec.output_sample_rate``) and ``codec`` the model that made it, once
    the status is DONE or DECODED. ``metrics`` (metric name -> value) measure that reconstruction against its
    original once computed; ``metric_notes`` say why a metric is NaN.
    """

    path: Path
    kind: RowKind = RowKind.AUDIO
    rel: Path | None = None
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    frames: int | None = None
    levels: int | None = None
    frame_rate: float | None = None
    status: RowStatus = RowStatus.READY
    progress: float = 0.0
    message: str = ""
    result: Any = None
    codec: Any = None
    metrics: dict[str, float] | None = None
    metric_notes: dict[str, str] = field(default_factory=dict)
    uid: int = 0
    real: Path | None = None

    def __post_init__(self):
        self.path = Path(self.path)
        self.kind = RowKind(self.kind)
        self.status = RowStatus(self.status)
        if self.rel is None:
            self.rel = Path(self.path.name)
        if not self.uid:
            self.uid = next(_ids)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "status":
            value = RowStatus(value)
        elif name == "kind":
            value = RowKind(value)
        super().__setattr__(name, value)

    def real_path(self) -> Path:
        """The resolved path (resolved once)."""
        if self.real is None:
            self.real = self.path.resolve()
        return self.real

    @property
    def has_result(self) -> bool:
        return self.result is not None and self.status in (RowStatus.DONE, RowStatus.DECODED)

    def status_text(self) -> str:
        if self.status == RowStatus.RUNNING:
            return f"running {int(self.progress * 100):d}%"
        return self.status.text


class FileListModel(QAbstractTableModel):
    """Table model over :class:`FileRow` objects (one row each, in insertion order).

    Emits ``resultChanged(uid)`` after :meth:`update` gave a row a (new) result.
    """

    resultChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[FileRow] = []
        self._positions: dict[int, int] | None = {}   # uid -> position (None: rebuild)
        self._real: set[Path] = set()

    # Qt model API -----------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole \
                and section in METRIC_COLUMNS:
            return metric_tooltip(METRIC_COLUMNS[section])
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == COL_STATUS and row.message:
                return row.message
            if column in (COL_NAME, COL_STATUS) and row.has_result:
                made = decoded_by(row.codec, row.result)
                return f"{row.path}\n{made}" if column == COL_NAME else made
            if column == COL_NAME:
                return str(row.path)
            if column in METRIC_COLUMNS:
                return self._metric_tip(row, METRIC_COLUMNS[column])
            return None
        if role == METRIC_ROLE and column in METRIC_COLUMNS:
            return self._metric(row, METRIC_COLUMNS[column])
        if role == Qt.ItemDataRole.TextAlignmentRole and column != COL_NAME:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter) \
                if column != COL_STATUS else int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return row.uid
        return None

    @staticmethod
    def _metric(row: FileRow, name: str) -> float | None:
        """The row's value of metric ``name``, None while it has none."""
        return row.metrics[name] if row.has_result and row.metrics is not None else None

    def _metric_tip(self, row: FileRow, name: str) -> str | None:
        value = self._metric(row, name)
        if value is None:
            return None
        if math.isnan(value):
            return row.metric_notes.get(name, "could not be computed")
        return metric_tooltip(name)

    def _display(self, row: FileRow, column: int) -> str:
        if column in METRIC_COLUMNS:
            name = METRIC_COLUMNS[column]
            return format_metric(name, self._metric(row, name))
        if column == COL_NAME:
            return row.path.name
        if column == COL_DURATION:
            return "" if row.duration is None else format_duration(row.duration)
        if column == COL_RATE:
            return "" if row.sample_rate is None else f"{row.sample_rate / 1000:g} kHz"
        if column == COL_CHANNELS:
            return "" if row.channels is None else str(row.channels)
        if column == COL_TOKENS:
            if row.frames is None:
                return ""
            return f"{row.levels or ''}\u00d7{row.frames}" if row.levels else str(row.frames)
        return row.status_text()

    # rows -------------------------------------------------------------------------------
    def rows(self) -> list[FileRow]:
        return list(self._rows)

    def row(self, position: int) -> FileRow:
        return self._rows[position]

    def position_of(self, uid: int) -> int:
        """Row position of the file with ``uid``, -1 when it is no longer listed."""
        if self._positions is None:
            self._positions = {row.uid: position for position, row in enumerate(self._rows)}
        return self._positions.get(uid, -1)

    def by_uid(self, uid: int) -> FileRow | None:
        position = self.position_of(uid)
        return None if position < 0 else self._rows[position]

    def is_listed(self, row: FileRow) -> bool:
        """Whether a file with the same resolved path is in the list."""
        return row.real_path() in self._real

    def add_rows(self, rows: Iterable[FileRow]) -> list[FileRow]:
        """Append rows; returns them."""
        rows = list(rows)
        if rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self._rows.extend(rows)
            for position, row in enumerate(rows, start):
                if self._positions is not None:
                    self._positions[row.uid] = position
                self._real.add(row.real_path())
            self.endInsertRows()
        return rows

    def update(self, uid: int, **changes: Any) -> FileRow | None:
        """Change fields of the row with ``uid`` and refresh it; returns the row (None if gone)."""
        position = self.position_of(uid)
        if position < 0:
            return None
        row = self._rows[position]
        for name, value in changes.items():
            if not hasattr(row, name):
                raise AttributeError(f"FileRow has no field {name!r}")
            setattr(row, name, value)
        self.dataChanged.emit(self.index(position, 0), self.index(position, len(COLUMNS) - 1))
        if "result" in changes:
            self.resultChanged.emit(uid)
        return row

    def remove_positions(self, positions: Iterable[int]) -> list[FileRow]:
        """Remove the rows at ``positions``; returns the removed rows."""
        removed = []
        for position in sorted(set(positions), reverse=True):
            if 0 <= position < len(self._rows):
                self.beginRemoveRows(QModelIndex(), position, position)
                row = self._rows.pop(position)
                self._positions = None
                self._real.discard(row.real_path())
                removed.append(row)
                self.endRemoveRows()
        return removed[::-1]

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._positions = {}
        self._real.clear()
        self.endResetModel()


def paths_from_mime(mime) -> list[Path]:
    """Local file and folder paths carried by a drag's QMimeData (others are ignored)."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class FileListView(QTableView):
    """The table: whole-row, multi-row selection; file and folder drops; a context menu.

    Emits ``pathsDropped(list[Path])`` for drops and ``currentRowChanged(int)`` (-1 for none)
    when the current file changes.
    """

    pathsDropped = Signal(list)
    currentRowChanged = Signal(int)

    def __init__(self, model: FileListModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("fileList")
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        # Columns fit the rows in view, not the first 1000 (Qt's default): every batch of rows
        # a folder scan adds would otherwise ask the model for ~50,000 cells.
        header.setResizeContentsPrecision(RESIZE_PRECISION_ROWS)
        header.setMinimumSectionSize(self.fontMetrics().horizontalAdvance("Tokens") + 16)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(False)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)
        self._menu_actions: list[QAction | None] = []
        self.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.currentRowChanged.emit(current.row() if current.isValid() else -1))
        self.setToolTip(EMPTY_HINT)

    def set_menu_actions(self, actions: list[QAction | None]) -> None:
        """Actions of the context menu; None is a separator."""
        self._menu_actions = list(actions)

    def _show_menu(self, pos) -> None:
        if not self._menu_actions:
            return
        menu = QMenu(self)
        for action in self._menu_actions:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        menu.exec(self.viewport().mapToGlobal(pos))

    def selected_positions(self) -> list[int]:
        """Row positions of the selected files, in list order."""
        return sorted({index.row() for index in self.selectionModel().selectedRows()})

    def current_position(self) -> int:
        index = self.currentIndex()
        return index.row() if index.isValid() else -1

    def select_position(self, position: int) -> None:
        """Make ``position`` the current, only selected row."""
        self.selectRow(position)
        self.setCurrentIndex(self.model().index(position, 0))

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            color = self.palette().color(QPalette.ColorRole.PlaceholderText)
            painter.setPen(color)
            painter.drawText(self.viewport().rect().adjusted(16, 16, -16, -16),
                             int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), EMPTY_HINT)
            painter.end()

    # drops ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = paths_from_mime(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.pathsDropped.emit(paths)
