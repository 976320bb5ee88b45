"""The shared time axis of the views: playhead position, loop region and duration.

A :class:`Timeline` is a plain model object; every view of one file holds the same
instance, so one playhead and one loop region are drawn everywhere. Views report the
length of what they show with :meth:`Timeline.set_extent`; the duration is the longest.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class Timeline(QObject):
    """Playhead position (seconds), loop region and duration shared by the views.

    Signals:
        positionChanged(float): the playhead moved (seconds).
        seekRequested(float): the user asked to play from this time (seconds); the
            playhead already moved there, a player connected to it should seek.
        regionChanged(object): the loop region, ``(start, end)`` seconds or ``None``.
        durationChanged(float): the longest extent reported by the views changed.
    """

    positionChanged = Signal(float)
    seekRequested = Signal(float)
    regionChanged = Signal(object)
    durationChanged = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._position = 0.0
        self._region: tuple[float, float] | None = None
        self._extents: dict[int, float] = {}

    @property
    def position(self) -> float:
        """Playhead position in seconds."""
        return self._position

    @property
    def region(self) -> tuple[float, float] | None:
        """Loop region ``(start, end)`` in seconds, start < end, or ``None``."""
        return self._region

    @property
    def duration(self) -> float:
        """Longest extent reported by the views, in seconds (0 when nothing is shown)."""
        return max(self._extents.values(), default=0.0)

    def set_extent(self, source: object, seconds: float | None) -> None:
        """Record how long the content of ``source`` (a view) is; ``None`` removes it."""
        before = self.duration
        if seconds is None:
            self._extents.pop(id(source), None)
        else:
            self._extents[id(source)] = max(0.0, float(seconds))
        after = self.duration
        if after != before:
            self.durationChanged.emit(after)
            if self._position > after:
                self.set_position(after)
            if self._region is not None:
                self.set_region(self._region)

    def _clamp(self, seconds: float) -> float:
        duration = self.duration
        seconds = max(0.0, float(seconds))
        return min(seconds, duration) if duration > 0 else seconds

    def set_position(self, seconds: float) -> None:
        """Move the playhead (clamped to [0, duration]); emits positionChanged if it moved."""
        seconds = self._clamp(seconds)
        if seconds != self._position:
            self._position = seconds
            self.positionChanged.emit(seconds)

    def request_seek(self, seconds: float) -> None:
        """Move the playhead and emit seekRequested so a player follows."""
        self.set_position(seconds)
        self.seekRequested.emit(self._position)

    def set_region(self, region: tuple[float, float] | None) -> None:
        """Set the loop region (ordered and clamped); an empty region clears it."""
        if region is not None:
            start, end = sorted((self._clamp(region[0]), self._clamp(region[1])))
            region = (start, end) if end > start else None
        if region != self._region:
            self._region = region
            self.regionChanged.emit(region)
