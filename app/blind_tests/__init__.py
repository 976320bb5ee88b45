"""Blind listening tests in the studio: ABX, MUSHRA, and the results of saved sessions.

Entry points (each shows a non-modal dialog parented to ``parent`` and returns it):

* :func:`open_abx` ``(parent, original, reconstructions)`` -- ``original = (audio (N,), rate)``,
  ``reconstructions = {codec label: (audio, rate, bitrate bit/s)}``;
* :func:`open_mushra` ``(parent, clips)`` -- :class:`BlindClip` list, one trial per clip;
* :func:`open_results` ``(parent)`` -- the saved sessions, summarised per codec.

From the studio's Tests menu (:mod:`app.screens`): :func:`screen_specs` gives the entries, whose
``open(window)`` read the current file (ABX) or the selected files (MUSHRA) from
``window.comparison_set``. The trial logic, statistics and files are
:mod:`xy_tokenizer.analysis.listening`; sessions are saved under
:func:`~app.blind_tests.inputs.sessions_dir` unless the screen is told another folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from .inputs import BlindClip, BlindTestInputError, clips_from_window, sessions_dir


def _show(dialog):
    dialog.setModal(False)
    dialog.show()
    dialog.raise_()
    return dialog


def open_abx(parent: QWidget | None, original: tuple[np.ndarray, int],
             reconstructions: Mapping[str, tuple[np.ndarray, int, float]], *, name: str = "clip",
             folder: Path | None = None, seed: int | None = None, studio_player: Any = None):
    """Show the ABX screen for one clip; returns the :class:`~app.blind_tests.abx_dialog.AbxDialog`."""
    from .abx_dialog import AbxDialog

    clip = BlindClip(name, original, dict(reconstructions))
    return _show(AbxDialog(clip, parent, folder=folder, seed=seed, studio_player=studio_player))


def open_mushra(parent: QWidget | None, clips: Sequence[BlindClip], *, folder: Path | None = None,
                seed: int | None = None, studio_player: Any = None):
    """Show the MUSHRA screen over ``clips``; returns the :class:`~app.blind_tests.mushra_dialog.MushraDialog`."""
    from .mushra_dialog import MushraDialog

    if not clips:
        raise BlindTestInputError("a MUSHRA test needs at least one clip with reconstructions")
    return _show(MushraDialog(list(clips), parent, folder=folder, seed=seed, studio_player=studio_player))


def open_results(parent: QWidget | None, *, folder: Path | None = None):
    """Show the saved sessions (default: every one under :func:`sessions_dir`)."""
    from .results_dialog import ResultsDialog

    return _show(ResultsDialog(parent, folder=folder))


NOTHING_TO_TEST = ("Nothing to test yet: reconstruct the file with at least one codec (Reconstruct "
                   "with…), then open the test again.")


def _tell(window: Any, icon: QMessageBox.Icon, text: str) -> None:
    """A window-modal message that does not block the caller (``open``, not ``exec``)."""
    box = QMessageBox(icon, "Blind test", text, QMessageBox.StandardButton.Ok, window)
    box.setObjectName("blindTestMessage")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()


def _window_clips(window: Any, selected: bool) -> list[BlindClip] | None:
    try:
        clips = clips_from_window(window, selected=selected)
    except BlindTestInputError as exc:
        _tell(window, QMessageBox.Icon.Warning, str(exc))
        return None
    if not clips:
        _tell(window, QMessageBox.Icon.Information, NOTHING_TO_TEST)
        return None
    return clips


def abx_from_window(window: Any):
    """Tests menu: ABX on the current file (its original and reconstructions)."""
    clips = _window_clips(window, selected=False)
    if clips is None:
        return None
    clip = clips[0]
    return open_abx(window, clip.original, clip.reconstructions, name=clip.name,
                    studio_player=getattr(window, "player", None))


def mushra_from_window(window: Any):
    """Tests menu: MUSHRA over the selected files (or the current one), one trial per file."""
    clips = _window_clips(window, selected=True)
    if clips is None:
        return None
    return open_mushra(window, clips, studio_player=getattr(window, "player", None))


def results_from_window(window: Any):
    """Tests menu: the saved sessions."""
    return open_results(window)


def screen_specs() -> tuple:
    """The Tests-menu entries of the blind tests (:class:`app.screens.ScreenSpec`)."""
    from app.screens import ScreenSpec

    return (
        ScreenSpec("abxTest", "&ABX test…", abx_from_window,
                   tip="Blind ABX test of the current file: can you tell A from B?"),
        ScreenSpec("mushraTest", "&MUSHRA test…", mushra_from_window,
                   tip="Rate every codec against the original, blind (selected files are the trials)"),
        ScreenSpec("listeningResults", "Listening test &results…", results_from_window,
                   tip="Saved ABX and MUSHRA sessions, summarised per codec", needs_comparison=False),
    )


__all__ = ["BlindClip", "BlindTestInputError", "open_abx", "open_mushra", "open_results", "screen_specs",
           "abx_from_window", "mushra_from_window", "results_from_window", "sessions_dir"]
