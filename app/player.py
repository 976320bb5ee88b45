"""A/B player: original (A) against reconstruction (B) -- and any number of other
reconstructions (one per codec of the comparison bench) -- switched instantly at one position.

Both sources are resampled once (xy_tokenizer.audio.resample) to one playback rate, the higher of the two (or
the output device's preferred rate when it refuses that one). A :class:`QAudioSink` in
pull mode reads from :class:`PlaybackSource`, which serves the active source from one
cursor: switching A/B changes only which array the next bytes come from, so the position
stays exactly where it was, and a loop region wraps inside a read, sample exact.

Position: ``QAudioSink.processedUSecs()`` counts the audio the sink has played out since
``start()``; on PulseAudio it trails the frames handed out by about one buffer (it is the
played count, not the written count: measured against the wall clock on a null sink). The
source logs which source frame every handed-out frame came from, so the played count maps
to the exact source time, across loop wraps and A/B switches. The sink buffer is kept at
:data:`BUFFER_SECONDS`, which bounds how late a switch or a seek is heard.
"""
from __future__ import annotations

from collections import deque

import numpy as np
from PySide6.QtCore import QIODevice, QObject, QTimer, Signal
from PySide6.QtMultimedia import QAudioDevice, QAudioFormat, QAudioSink, QMediaDevices, QtAudio

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.audio import resample

#: Sink buffer length: a switch or seek is heard at most this late (plus the server's own
#: latency).
BUFFER_SECONDS = 0.1
#: positionChanged period while playing (about 30 Hz).
POSITION_INTERVAL_MS = 33
#: Source names: A is the original, B the reconstruction (more sources: the labels of other codecs).
SOURCES = ("A", "B")
INT16_SCALE = 32767.0


def rms(samples: np.ndarray) -> float:
    """Root mean square of samples: (N,) float (level meters; loudness matching uses BS.1770)."""
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0


def choose_format(device: QAudioDevice, rate: int) -> QAudioFormat | None:
    """First format the device supports: ``rate`` then its preferred rate; mono then
    stereo; int16 then float. None when it supports none of them."""
    for sample_rate in dict.fromkeys((rate, device.preferredFormat().sampleRate())):
        for channels in (1, 2):
            for sample_format in (QAudioFormat.SampleFormat.Int16, QAudioFormat.SampleFormat.Float):
                fmt = QAudioFormat()
                fmt.setSampleRate(sample_rate)
                fmt.setChannelCount(channels)
                fmt.setSampleFormat(sample_format)
                if device.isFormatSupported(fmt):
                    return fmt
    return None


class PlaybackSource(QIODevice):
    """Sequential read-only device that serves the active track from one cursor.

    Tracks are float32 (N,) arrays at ``rate`` Hz (a missing track plays as silence); the
    cursor and loop are in frames. Every read appends ``(first_served, first_source, n)``
    to a log so :meth:`source_frame` can tell which source frame a served frame was.
    The sink reads it in the thread the sink lives in (the GUI thread here), the same
    thread that switches, seeks and loops, so no lock is needed.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tracks: dict[str, np.ndarray | None] = {name: None for name in SOURCES}
        self.gains = {name: 1.0 for name in SOURCES}
        self.rate = 1
        self.length = 0
        self.active = SOURCES[0]
        self.cursor = 0
        self.loop: tuple[int, int] | None = None
        self.channels = 1
        self.sample_format = QAudioFormat.SampleFormat.Int16
        self.served = 0
        self._log: deque[tuple[int, int, int]] = deque()

    def set_tracks(self, tracks: dict[str, np.ndarray | None], rate: int) -> None:
        """Replace the tracks (float32 (N,) at ``rate`` Hz); the length is the longest."""
        self.tracks = dict(tracks)
        self.rate = int(rate)
        self.length = max((len(t) for t in tracks.values() if t is not None), default=0)
        self.cursor = min(self.cursor, self.length)

    def set_output(self, fmt: QAudioFormat) -> None:
        """Serve frames in ``fmt``'s channel count and sample format; forget the log."""
        self.channels = fmt.channelCount()
        self.sample_format = fmt.sampleFormat()
        self.served = 0
        self._log.clear()

    @property
    def bytes_per_frame(self) -> int:
        width = 2 if self.sample_format == QAudioFormat.SampleFormat.Int16 else 4
        return width * self.channels

    def at_end(self) -> bool:
        """Nothing left to serve (no loop and the cursor at the end)."""
        return self.loop is None and self.cursor >= self.length

    def isSequential(self) -> bool:
        return True

    def bytesAvailable(self) -> int:
        frames = self.length if self.loop is not None else self.length - self.cursor
        return max(0, frames) * self.bytes_per_frame + super().bytesAvailable()

    def writeData(self, data) -> int:
        return -1

    def readData(self, maxlen: int) -> bytes:
        frames = self.take(maxlen // self.bytes_per_frame)
        if self.channels > 1:
            frames = np.repeat(frames, self.channels)
        if self.sample_format == QAudioFormat.SampleFormat.Int16:
            return (np.clip(frames, -1.0, 1.0) * INT16_SCALE).astype("<i2").tobytes()
        return np.clip(frames, -1.0, 1.0).astype("<f4").tobytes()

    def take(self, count: int) -> np.ndarray:
        """Serve up to ``count`` frames of the active track, gain applied: (n,) float32.

        Advances the cursor, wraps at the loop end, logs what was served.
        """
        pieces = []
        while count > 0:
            start, end = self.loop if self.loop is not None else (0, self.length)
            if not start <= self.cursor < end:
                if self.loop is None:
                    break
                self.cursor = start
            n = min(count, end - self.cursor)
            pieces.append(self._slice(self.cursor, n))
            self._log.append((self.served, self.cursor, n))
            self.served += n
            self.cursor += n
            count -= n
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def _slice(self, first: int, n: int) -> np.ndarray:
        track = self.tracks[self.active]
        out = np.zeros(n, dtype=np.float32)
        if track is not None and first < len(track):
            part = track[first:first + n]
            out[:len(part)] = part * np.float32(self.gains.get(self.active, 1.0))
        return out

    def source_frame(self, played: int) -> int:
        """Source frame of served frame number ``played``; drops older log entries, so
        ``played`` must not decrease between calls.

        Before anything was served: the cursor; past the last served frame: where the
        last served chunk ended.
        """
        while len(self._log) > 1 and self._log[0][0] + self._log[0][2] <= played:
            self._log.popleft()
        if not self._log:
            return self.cursor
        first_served, first_source, n = self._log[0]
        return first_source + min(max(played - first_served, 0), n)


class ABPlayer(QObject):
    """Plays the original (A), the reconstruction (B) or another named source from one position.

    Sources are kept in order: A, B, then the ``others`` of :meth:`set_sources` (codec labels);
    :meth:`source_names` lists those that have audio, and key n of the studio plays the n-th.

    Signals:
        sourcesChanged(list): the names of the sources with audio, in order.
        positionChanged(float): seconds, about 30 Hz while playing and after a seek.
        stateChanged(bool): playing or not.
        activeChanged(str): "A" or "B".
        error(str): playback could not start or stopped (no device, unsupported format).
    """

    positionChanged = Signal(float)
    sourcesChanged = Signal(list)
    stateChanged = Signal(bool)
    activeChanged = Signal(str)
    error = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = PlaybackSource(self)
        self._source.open(QIODevice.OpenModeFlag.ReadOnly | QIODevice.OpenModeFlag.Unbuffered)
        self._inputs: dict[str, tuple[np.ndarray, int] | None] = {name: None for name in SOURCES}
        self._sink: QAudioSink | None = None
        self._playing = False
        self._stale = False
        self._hold: tuple[int, float] | None = None
        # name -> (input samples, input rate, playback rate, track)
        self._prepared: dict[str, tuple[np.ndarray, int, int, np.ndarray]] = {}
        # (track of A, track of name) -> BS.1770 gain of name, for the tracks now prepared
        self._gains: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        self._last_other = "B"
        self._level_match = False
        self._loop: tuple[float, float] | None = None
        self._timer = QTimer(self, interval=POSITION_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    # sources ------------------------------------------------------------------------
    def set_sources(self, original: tuple[np.ndarray, int] | None,
                    reconstruction: tuple[np.ndarray, int] | None,
                    others: dict[str, tuple[np.ndarray, int]] | None = None) -> None:
        """Set A and B as ``(samples (N,) float, sample_rate)`` or None, and ``others``
        (name -> the same; names other than A and B) after them.

        All are resampled to the highest rate (give them at one rate, as
        :func:`xy_tokenizer.analysis.listening.listening_stimuli` makes them, and nothing is
        resampled). The position is kept (clamped to the new length); playing goes on from
        there; the active source stays when it is still there, else A.
        """
        was_playing = self._playing
        position = self.position()
        self._halt()
        others = dict(others or {})
        for name in others:
            if name in SOURCES:
                raise ValueError(f"other sources cannot be named {name!r} (reserved for original/reconstruction)")
        self._inputs = {"A": original, "B": reconstruction, **others}
        self._prepared = {name: kept for name, kept in self._prepared.items() if name in self._inputs}
        rates = [pair[1] for pair in self._inputs.values() if pair is not None]
        self._prepare(max(rates, default=1))
        self._source.cursor = min(round(position * self._source.rate), self._source.length)
        self.sourcesChanged.emit(self.source_names())
        if self._source.active not in self.source_names():
            self._source.active = "A"
            self.activeChanged.emit("A")
        if was_playing:
            self.play()
        else:
            self.positionChanged.emit(self.position())

    def source_names(self) -> list[str]:
        """Names of the sources that have audio, in order (A, B, then the others)."""
        return [name for name, pair in self._inputs.items() if pair is not None]

    def _prepare(self, rate: int) -> None:
        tracks = {name: None if pair is None else self._track(name, pair, rate)
                  for name, pair in self._inputs.items()}
        self._source.set_tracks(tracks, rate)
        self._source.loop = self._loop_frames()
        self._update_gain()

    def _track(self, name: str, pair: tuple[np.ndarray, int], rate: int) -> np.ndarray:
        """``pair``'s samples at ``rate``; an input already prepared at that rate is reused
        (switching the reconstruction, e.g. to fewer levels, leaves the original as it was)."""
        samples, sample_rate = pair[0], int(pair[1])
        kept = self._prepared.get(name)
        if kept is not None and kept[0] is samples and kept[1:3] == (sample_rate, rate):
            return kept[3]
        track = np.asarray(samples, dtype=np.float32)
        if track.ndim != 1:
            raise ValueError(f"source {name} must be (N,) samples, got shape {track.shape}")
        if sample_rate != rate:
            track = resample(track, sample_rate, rate)
        self._prepared[name] = (samples, sample_rate, rate, track)
        return track

    def duration(self) -> float:
        """Length of the longer source in seconds (0 without sources)."""
        return self._source.length / self._source.rate

    def playback_rate(self) -> int:
        """Rate both sources are played at (Hz)."""
        return self._source.rate

    # transport ----------------------------------------------------------------------
    def has_output_device(self) -> bool:
        """Whether the system reports an audio output device.

        The first question about devices makes QtMultimedia look for the sound server,
        once per process: a server started later is not seen.
        """
        return not QMediaDevices.defaultAudioOutput().isNull()

    def is_playing(self) -> bool:
        return self._playing

    def play(self) -> None:
        """Play from the current position (from the start when at the end).

        Without sources nothing happens; without a usable device ``error`` is emitted.
        """
        if self._playing or self._source.length == 0:
            return
        if self._sink is not None and not self._stale:
            self._sink.resume()
        elif not self._start_sink():
            return
        self._playing = True
        self._timer.start()
        self.stateChanged.emit(True)

    def _start_sink(self) -> bool:
        device = QMediaDevices.defaultAudioOutput()
        if device.isNull():
            self.error.emit("No audio output device: the system reports none (is a sound "
                            "server such as PulseAudio or PipeWire running?)")
            return False
        fmt = choose_format(device, self._source.rate)
        if fmt is None:
            self.error.emit(f"No audio output device: {device.description()} plays neither "
                            f"{self._source.rate} Hz nor its preferred rate as 16-bit or float")
            return False
        if fmt.sampleRate() != self._source.rate:
            seconds = self._source.cursor / self._source.rate
            self._prepare(fmt.sampleRate())
            self._source.cursor = round(seconds * self._source.rate)
        if self._source.at_end():
            self._source.cursor = 0
        self._release_sink()
        self._source.set_output(fmt)
        self._sink = QAudioSink(device, fmt, self)
        self._sink.setBufferSize(round(BUFFER_SECONDS * fmt.sampleRate()) * fmt.bytesPerFrame())
        self._stale = False
        self._hold = None
        self._sink.start(self._source)
        if self._sink.error() != QtAudio.Error.NoError:
            self.error.emit(f"Audio output failed to start on {device.description()}: "
                            f"{self._sink.error().name}")
            self._release_sink()
            return False
        return True

    def pause(self) -> None:
        """Stop playing, keeping the position."""
        if not self._playing:
            return
        played = self._played()
        position = self.position()
        self._sink.suspend()
        self._playing = False
        self._timer.stop()
        self._hold = (played, position)
        self.stateChanged.emit(False)
        self.positionChanged.emit(position)

    def toggle_play(self) -> None:
        if self._playing:
            self.pause()
        else:
            self.play()

    def stop(self) -> None:
        """Stop playing and go back to the start."""
        self._halt()
        self._source.cursor = 0
        self.positionChanged.emit(0.0)

    def _halt(self) -> None:
        was_playing = self._playing
        self._source.cursor = round(self.position() * self._source.rate)
        self._release_sink()
        self._playing = False
        self._timer.stop()
        self._hold = None
        if was_playing:
            self.stateChanged.emit(False)

    def _release_sink(self) -> None:
        if self._sink is not None:
            self._sink.stop()
            self._sink.deleteLater()
            self._sink = None

    def seek(self, seconds: float) -> None:
        """Go to ``seconds`` (clamped to the sources); heard within one buffer."""
        frame = min(max(round(seconds * self._source.rate), 0), self._source.length)
        self._source.cursor = frame
        self._hold = (self._source.served, frame / self._source.rate)
        self._stale = self._sink is not None and not self._playing
        self.positionChanged.emit(self.position())

    def _played(self) -> int:
        """Frames the sink has played since it started (at most the frames served)."""
        played = round(self._sink.processedUSecs() * self._source.rate / 1e6)
        return min(played, self._source.served)

    def position(self) -> float:
        """Seconds of the source now heard (see the module docstring for how).

        After a seek (and while paused) the target until the sink plays past what was
        served before it.
        """
        rate = self._source.rate
        if self._sink is None:
            return self._source.cursor / rate
        played = self._played()
        if self._hold is not None:
            if played < self._hold[0] or not self._playing:
                return self._hold[1]
            self._hold = None
        return self._source.source_frame(played) / rate

    def _tick(self) -> None:
        """Report the position; notice the end of the sources and output failures.

        The sink's state is polled here: PySide6 cannot convert the argument of
        ``QAudioSink.stateChanged`` (``QAudio::State``) to a Python enum.
        """
        state, error = self._sink.state(), self._sink.error()
        if state == QtAudio.State.IdleState and self._source.at_end():
            self._halt()
            self._source.cursor = self._source.length
            self.positionChanged.emit(self.duration())
        elif state == QtAudio.State.StoppedState and error != QtAudio.Error.NoError:
            self._release_sink()
            self._halt()
            self.error.emit(f"Audio output stopped: {error.name}")
        else:
            self.positionChanged.emit(self.position())

    # A/B, loop, level ------------------------------------------------------------------
    def active(self) -> str:
        """"A" (original) or "B" (reconstruction)."""
        return self._source.active

    def set_active(self, name: str) -> None:
        """Play source ``name`` ("A", "B" or another source's name) from the same position."""
        if name not in SOURCES and name not in self._inputs:
            others = [n for n in self._inputs if n not in SOURCES]
            raise ValueError("active source must be 'A' or 'B'" + (f" or one of {', '.join(others)}" if others else "")
                             + f"; got {name!r}")
        if name != "A":
            self._last_other = name
        if name != self._source.active:
            self._source.active = name
            self.activeChanged.emit(name)

    def set_active_index(self, index: int) -> bool:
        """Play the ``index``-th source with audio (0: the original); False when there is none."""
        names = self.source_names()
        if not 0 <= index < len(names):
            return False
        self.set_active(names[index])
        return True

    def toggle_ab(self) -> None:
        """Original against the reconstruction last listened to (B at first)."""
        if self._source.active != "A":
            self.set_active("A")
            return
        names = self.source_names()
        other = self._last_other if self._last_other in names else next((n for n in names if n != "A"), "B")
        self.set_active(other)

    def set_loop(self, region: tuple[float, float] | None) -> None:
        """Loop ``(start, end)`` seconds, or None; a position outside it moves to its start."""
        self._loop = None if region is None else (min(region), max(region))
        self._source.loop = self._loop_frames()
        if self._source.loop is not None:
            start, end = self._source.loop
            if not start <= round(self.position() * self._source.rate) < end:
                self.seek(start / self._source.rate)

    def _loop_frames(self) -> tuple[int, int] | None:
        """The loop in frames of the playback rate, None when empty or unset."""
        if self._loop is None:
            return None
        rate, length = self._source.rate, self._source.length
        start, end = (min(max(round(t * rate), 0), length) for t in self._loop)
        return (start, end) if end > start else None

    def loop(self) -> tuple[float, float] | None:
        """The loop region in seconds, None when not looping."""
        if self._source.loop is None:
            return None
        return self._source.loop[0] / self._source.rate, self._source.loop[1] / self._source.rate

    def set_level_match(self, enabled: bool) -> None:
        """Bring every source to A's integrated loudness (ITU-R BS.1770, pyloudnorm), peak-safe."""
        self._level_match = bool(enabled)
        self._update_gain()

    def level_match(self) -> bool:
        return self._level_match

    def gain_b(self) -> float:
        """Linear gain applied to B (see :meth:`gain_of`)."""
        return self.gain_of("B")

    def gain_of(self, name: str) -> float:
        """Linear gain applied to source ``name``: with loudness matching, the BS.1770 gain
        that brings it to A's loudness (:func:`xy_tokenizer.analysis.loudness.gain_to_match`,
        lowered so it never clips), else 1."""
        return self._source.gains.get(name, 1.0)

    def _update_gain(self) -> None:
        from xy_tokenizer.analysis.loudness import gain_to_match

        reference = self._source.tracks.get("A")
        gains = {}
        for name, track in self._source.tracks.items():
            gain = 1.0
            if self._level_match and name != "A" and reference is not None and track is not None:
                kept = self._gains.get(name)
                if kept is not None and kept[0] is reference and kept[1] is track:
                    gain = kept[2]
                else:
                    try:
                        gain = gain_to_match(reference, track, self._source.rate).gain
                    except XYTokenizerError:        # unmeasurable (non-finite samples): play as is
                        gain = 1.0
                    self._gains[name] = (reference, track, gain)
            gains[name] = gain
        self._source.gains = gains

