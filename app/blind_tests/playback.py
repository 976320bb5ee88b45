"""Plays any of several stimuli through the studio's A/B player (:class:`app.player.ABPlayer`).

The A/B player switches between the tracks it holds at the same sample without a gap.
:class:`StimulusPlayer` keeps a dict of stimuli (all at one rate, e.g. from
:func:`~xy_tokenizer.analysis.listening.listening_stimuli`); stimuli that are the same array
(ABX's X *is* the A or the B array) share one track, so switching between them is gapless too.

* A player that holds more than two named sources (``set_sources(a, b, others)``, as the
  comparison bench's player does) is given every stimulus at once: every switch is gapless.
* The two-source player: the stimulus asked for is loaded into the slot not playing
  (:meth:`ABPlayer.set_sources` keeps the position; while playing, the sink restarts, a gap of
  about one buffer); a stimulus already in a slot is switched to at once.

Where playback starts (:meth:`play`): with a loop region set, switching keeps the position
(compare the same passage); without one, every play starts the stimulus at 0.
"""
from __future__ import annotations

import inspect
from typing import Mapping

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.player import ABPlayer, SOURCES


class StimulusPlayer(QObject):
    """Signals: ``currentChanged(str)`` (key selected, "" after :meth:`set_stimuli`),
    ``stateChanged(bool)``, ``positionChanged(float)`` seconds, ``error(str)``."""

    currentChanged = Signal(str)
    stateChanged = Signal(bool)
    positionChanged = Signal(float)
    error = Signal(str)

    def __init__(self, parent: QObject | None = None, *, other: ABPlayer | None = None) -> None:
        """``other``: the studio's own player, paused whenever this one starts."""
        super().__init__(parent)
        self.player = ABPlayer(self)
        self._other = other
        self._stimuli: dict[str, np.ndarray] = {}
        self._rate = 1
        self._slots: dict[str, np.ndarray | None] = {name: None for name in SOURCES}
        self._slot_of: dict[str, str] = {}
        self._multi = "others" in inspect.signature(self.player.set_sources).parameters
        self._current: str | None = None
        self.player.stateChanged.connect(self.stateChanged)
        self.player.positionChanged.connect(self.positionChanged)
        self.player.error.connect(self.error)

    # stimuli ---------------------------------------------------------------------------
    def set_stimuli(self, stimuli: Mapping[str, np.ndarray], rate: int) -> None:
        """Replace the stimuli: key -> (N,) float32 at ``rate`` Hz. Stops; nothing selected."""
        self.player.stop()
        self._stimuli = dict(stimuli)
        self._rate = int(rate)
        self._slots = {name: None for name in SOURCES}
        self._slot_of = {}
        self._current = None
        if self._multi:
            for key, samples in self._stimuli.items():
                name = next((n for n, held in self._slots.items() if held is samples), None)
                if name is None:
                    name = next((n for n in SOURCES if self._slots[n] is None), f"stimulus {key}")
                    self._slots[name] = samples
                self._slot_of[key] = name
            pairs = {name: None if held is None else (held, self._rate) for name, held in self._slots.items()}
            self.player.set_sources(pairs.pop(SOURCES[0]), pairs.pop(SOURCES[1]), pairs)
        else:
            self.player.set_sources(None, None)
        self.currentChanged.emit("")

    def keys(self) -> list[str]:
        return list(self._stimuli)

    def current(self) -> str | None:
        """The key last selected (None before any)."""
        return self._current

    def rate(self) -> int:
        return self._rate

    def slot_samples(self) -> np.ndarray | None:
        """The array the A/B player serves now (its active slot): what the listener hears."""
        return self._slots.get(self.player.active())

    # transport -------------------------------------------------------------------------
    def select(self, key: str) -> None:
        """Make ``key`` the stimulus heard, at the same position (see the module docstring)."""
        if key not in self._stimuli:
            raise KeyError(f"no stimulus {key!r}; have {', '.join(self._stimuli)}")
        samples = self._stimuli[key]
        slot = self._slot_of.get(key) or next((name for name in SOURCES if self._slots[name] is samples), None)
        if slot is None:
            active = self.player.active()
            slot = active if self._slots[active] is None and not self.player.is_playing() else \
                next(name for name in SOURCES if name != active)
            self._slots[slot] = samples
            pairs = [None if self._slots[name] is None else (self._slots[name], self._rate) for name in SOURCES]
            self.player.set_sources(*pairs)
        self.player.set_active(slot)
        if key != self._current:
            self._current = key
            self.currentChanged.emit(key)

    def play(self, key: str) -> None:
        """Select ``key`` and play it: from the same position when a loop region is set, else from 0."""
        self.select(key)
        if self.player.loop() is None:
            self.player.seek(0.0)
        if self._other is not None and self._other.is_playing():
            self._other.pause()
        self.player.play()

    def stop(self) -> None:
        """Stop and go back to the start (of the loop region when one is set)."""
        self.player.stop()
        loop = self.player.loop()
        if loop is not None:
            self.player.seek(loop[0])

    def is_playing(self) -> bool:
        return self.player.is_playing()

    def position(self) -> float:
        return self.player.position()

    def duration(self) -> float:
        return max((len(s) for s in self._stimuli.values()), default=0) / self._rate

    def seek(self, seconds: float) -> None:
        self.player.seek(seconds)

    def set_loop(self, region: tuple[float, float] | None) -> None:
        """Loop ``(start, end)`` seconds of every stimulus, or None."""
        self.player.set_loop(region)

    def loop(self) -> tuple[float, float] | None:
        return self.player.loop()
