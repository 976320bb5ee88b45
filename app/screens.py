"""Screens opened from the studio's "Tests" menu, registered in one list.

Adding a screen (the blind tests of ``app/blind_tests/``: ABX, MUSHRA): write its module with
an ``open(window)`` function that shows the screen (a dialog or window it parents to
``window``), then add one line to :data:`SCREENS`. The window adds one menu entry per spec,
in this order, to its "&Tests" menu; the entry is enabled only while ``window.comparison_set``
holds, for the current file, its original and at least one finished reconstruction, unless
``needs_comparison`` is False.

What ``open(window)`` may use of the window: everything :mod:`app.panels` lists, plus
``window.comparison_set`` (the :class:`~app.comparison_model.ComparisonSet`: for a file row's
``uid``, its original and ``{codec label: Reconstruction}``), ``window.current_row()`` (the
:class:`~app.file_list.FileRow` shown, or None), ``window.selected_rows()`` and
``window.player`` (stop it while a screen plays its own stimuli).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from app import blind_tests


@dataclass(frozen=True)
class ScreenSpec:
    """One entry of the Tests menu."""

    id: str                                   # the QAction's objectName
    title: str                                # menu text
    open: Callable[[Any], Any]                # open(window): shows the screen
    shortcut: str = ""                        # optional key sequence
    tip: str = ""                             # status tip / tooltip
    needs_comparison: bool = True             # enabled only when the current file has reconstructions


SCREENS: tuple[ScreenSpec, ...] = (
    *blind_tests.screen_specs(),
)
