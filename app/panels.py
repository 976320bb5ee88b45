"""The studio's docks, registered in one list.

Adding a panel: write its module (a ``QDockWidget`` subclass and a ``create(window)`` function
that builds it and connects it to what it shows), then add one line to :data:`PANELS`. The
window builds every dock from this list, in this order, adds each to the View menu, restores
it with the saved layout (by ``id``, its objectName) and calls its ``shutdown()``, if it has
one, when it closes.

What ``create(window)`` may use of the window: ``window.files`` (the
:class:`~app.file_list.FileListModel`), ``window.jobs`` (the
:class:`~app.job_controller.JobController`: ``modelLoaded``...), ``window.tasks`` (the
:class:`~app.tasks.TaskRunner`, for background work), ``window.metrics_queue``,
``window.comparison`` (the views), ``window.bench`` (the :class:`~app.bench.Bench`:
the comparison's codecs and session), ``window.comparison_set`` and the signal ``window.shownChanged(row)`` (the file
shown in the views: a :class:`~app.file_list.FileRow`, or None).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from . import bench_metrics_panel, codebook_panel, codecs_panel, log_panel, metrics_panel

Area = Qt.DockWidgetArea


@dataclass(frozen=True)
class PanelSpec:
    """One dock of the studio."""

    id: str                                  # objectName: the saved layout restores it by this
    title: str                               # dock title and View menu entry
    factory: Callable[[Any], QDockWidget]    # create(window) -> the dock, connected
    area: Area = Area.RightDockWidgetArea    # where it starts
    attr: str = ""                           # the window attribute that holds it ("" : none)
    tab_with: str = ""                       # id of a dock it starts tabbed with
    size: int = 0                            # default width (left/right) or height (top/bottom), pixels
    needs_room: bool = False                 # starts closed on screens narrower than the default window


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("logDock", "Log", log_panel.create, Area.BottomDockWidgetArea, attr="log_panel", size=120),
    PanelSpec("codebookDock", "Codebooks", codebook_panel.create, attr="codebook_panel", size=340,
              needs_room=True),
    PanelSpec("metricsDock", "Quality", metrics_panel.create, attr="metrics_panel", tab_with="codebookDock",
              needs_room=True),
    PanelSpec("codecsDock", "Codecs", codecs_panel.create, attr="codecs_panel", tab_with="codebookDock",
              needs_room=True),
    PanelSpec("benchMetricsDock", "Codec scores", bench_metrics_panel.create, attr="bench_metrics_panel",
              tab_with="codebookDock", needs_room=True),
)
