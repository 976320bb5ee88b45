"""A/B player: the pull source on its own, then real playback into a PulseAudio null sink."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PySide6.QtCore import QIODevice
from PySide6.QtMultimedia import QAudioFormat, QMediaDevices

from app.player import BUFFER_SECONDS, INT16_SCALE, ABPlayer, PlaybackSource, rms
from tests.pulse import SINK_NAME

pytestmark = pytest.mark.gui

#: Generous: the null sink takes a second or two before it starts consuming.
PLAY_TIMEOUT_MS = 20000


def tone(freq: float, seconds: float, rate: int, amplitude: float) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def ramp_source(length: int = 4000) -> tuple[PlaybackSource, np.ndarray, np.ndarray]:
    """A source whose tracks tell where a sample came from: A = i, B = -i (scaled)."""
    a = (np.arange(length) / length).astype(np.float32)
    b = -a
    source = PlaybackSource()
    source.set_tracks({"A": a, "B": b}, 16000)
    return source, a, b


def output_format(channels: int, sample_format) -> QAudioFormat:
    fmt = QAudioFormat()
    fmt.setSampleRate(16000)
    fmt.setChannelCount(channels)
    fmt.setSampleFormat(sample_format)
    return fmt


# --- the pull source -------------------------------------------------------------------
def test_switching_track_continues_at_the_same_frame(qapp):
    source, a, b = ramp_source()
    source.cursor = 500
    first = source.take(100)
    source.active = "B"
    second = source.take(100)
    np.testing.assert_array_equal(first, a[500:600])
    np.testing.assert_array_equal(second, b[600:700])
    assert source.source_frame(0) == 500
    assert source.source_frame(150) == 650


def test_loop_wraps_inside_a_read_sample_exact(qapp):
    source, a, _ = ramp_source()
    source.loop = (1000, 1300)
    source.cursor = 1200
    served = source.take(250)
    np.testing.assert_array_equal(served, np.concatenate([a[1200:1300], a[1000:1150]]))
    assert source.source_frame(99) == 1299
    assert source.source_frame(100) == 1000
    assert source.cursor == 1150


def test_source_outside_the_loop_starts_at_the_loop(qapp):
    source, a, _ = ramp_source()
    source.loop = (2000, 2100)
    np.testing.assert_array_equal(source.take(10), a[2000:2010])


def test_source_stops_at_the_end_without_loop(qapp):
    source, a, _ = ramp_source()
    source.cursor = 3990
    np.testing.assert_array_equal(source.take(100), a[3990:])
    assert source.at_end()
    assert len(source.take(100)) == 0


def test_qt_reads_int16_and_stereo_frames(qapp):
    source, a, _ = ramp_source()
    source.open(QIODevice.OpenModeFlag.ReadOnly | QIODevice.OpenModeFlag.Unbuffered)
    source.set_output(output_format(1, QAudioFormat.SampleFormat.Int16))
    mono = np.frombuffer(bytes(source.read(200)), dtype="<i2")
    np.testing.assert_array_equal(mono, (a[:100] * INT16_SCALE).astype("<i2"))
    source.set_output(output_format(2, QAudioFormat.SampleFormat.Float))
    stereo = np.frombuffer(bytes(source.read(80)), dtype="<f4").reshape(-1, 2)
    np.testing.assert_array_equal(stereo[:, 0], a[100:110])
    np.testing.assert_array_equal(stereo[:, 1], a[100:110])


# --- the player without a device ----------------------------------------------------------
def test_loudness_matching_gain_is_bs1770(qapp):
    """Level matching is ITU-R BS.1770 integrated loudness (pyloudnorm), not RMS: a quiet
    tone is raised to the original's loudness; a low hum as loud by RMS is not made equal by
    RMS (K-weighting counts 60 Hz far less)."""
    import pyloudnorm

    player = ABPlayer()
    a = tone(1000, 1.0, 16000, 0.4)
    b = tone(1000, 1.0, 24000, 0.1)
    player.set_sources((a, 16000), (b, 24000))
    assert player.playback_rate() == 24000
    assert player.duration() == pytest.approx(1.0)
    assert player.gain_b() == 1.0
    player.set_level_match(True)
    assert player.gain_b() == pytest.approx(4.0, rel=1e-2)
    meter = pyloudnorm.Meter(24000)
    a24 = tone(1000, 1.0, 24000, 0.4)
    hum = tone(60, 1.0, 24000, 0.4)                     # same RMS as a, much less loud
    player.set_sources((a24, 24000), None, others={"hum": (hum, 24000)})
    expected_db = meter.integrated_loudness(a24) - meter.integrated_loudness(hum)
    assert expected_db > 3                               # K-weighting: a 60 Hz hum is quieter
    assert player.gain_of("hum") == pytest.approx(min(10 ** (expected_db / 20), 1 / 0.4), rel=1e-2)
    assert rms(a24) == pytest.approx(rms(hum), rel=1e-3)  # RMS matching would have left it at 1
    player.set_level_match(False)
    assert player.gain_of("hum") == 1.0


def test_named_sources_switch_by_index_and_toggle_with_the_original(qapp):
    player = ABPlayer()
    rate = 16000
    a, x, y = (tone(f, 1.0, rate, 0.3) for f in (200, 300, 400))
    player.set_sources((a, rate), None, others={"x": (x, rate), "y": (y, rate)})
    assert player.source_names() == ["A", "x", "y"]
    player.seek(0.25)
    assert player.set_active_index(2) and player.active() == "y"
    assert player.position() == pytest.approx(0.25)
    assert not player.set_active_index(3) and player.active() == "y"
    player.toggle_ab()
    assert player.active() == "A"
    player.toggle_ab()
    assert player.active() == "y"                       # back to the source last heard
    with pytest.raises(ValueError):
        player.set_active("z")
    with pytest.raises(ValueError):
        player.set_sources((a, rate), None, others={"B": (x, rate)})
    player.set_sources((a, rate), None, others={"x": (x, rate)})
    assert player.active() == "A"                       # y is gone: back to the original


def test_position_follows_seek_and_ab_without_playing(qapp):
    player = ABPlayer()
    player.set_sources((tone(300, 2.0, 16000, 0.3), 16000), (tone(300, 2.0, 32000, 0.3), 32000))
    player.seek(1.25)
    assert player.position() == pytest.approx(1.25)
    player.toggle_ab()
    assert player.active() == "B"
    assert player.position() == pytest.approx(1.25)
    with pytest.raises(ValueError, match="'A' or 'B'"):
        player.set_active("C")
    player.set_loop((0.2, 0.4))
    assert player.loop() == pytest.approx((0.2, 0.4))
    assert player.position() == pytest.approx(0.2)


def test_no_device_reports_an_error_instead_of_raising(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        from PySide6.QtWidgets import QApplication
        from app.player import ABPlayer
        app = QApplication([])
        player = ABPlayer()
        errors = []
        player.error.connect(errors.append)
        player.set_sources((np.zeros(16000, np.float32), 16000), None)
        print("DEVICE", player.has_output_device())
        player.play()
        print("PLAYING", player.is_playing())
        print("ERRORS", errors)
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen",
           "XDG_RUNTIME_DIR": str(tmp_path), "PULSE_SERVER": f"unix:{tmp_path}/no-server",
           "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    if "DEVICE True" in done.stdout:
        pytest.skip("this machine has an audio device without PulseAudio: no way to hide it")
    assert "DEVICE False" in done.stdout
    assert "PLAYING False" in done.stdout
    assert "No audio output device" in done.stdout


# --- real playback into the null sink -----------------------------------------------------
@pytest.fixture
def player(qtbot, pulse_server):
    if QMediaDevices.defaultAudioOutput().isNull():
        pytest.fail("PulseAudio runs but QtMultimedia sees no device: something used "
                    "QtMultimedia before the pulse_server fixture started the server")
    player = ABPlayer()
    player.error.connect(lambda message: pytest.fail(f"player error: {message}"))
    yield player
    player.stop()


def start(qtbot, player: ABPlayer) -> None:
    with qtbot.waitSignal(player.stateChanged, timeout=5000, check_params_cb=lambda p: p):
        player.play()
    assert player.is_playing()


def wait_position(qtbot, player: ABPlayer, check) -> float:
    with qtbot.waitSignal(player.positionChanged, timeout=PLAY_TIMEOUT_MS,
                          check_params_cb=check) as blocker:
        pass
    return blocker.args[0]


def test_position_advances_while_playing(qtbot, player):
    player.set_sources((tone(440, 3.0, 16000, 0.3), 16000), (tone(440, 3.0, 24000, 0.3), 24000))
    start(qtbot, player)
    reached = wait_position(qtbot, player, lambda p: p >= 0.3)
    assert 0.3 <= reached < 3.0
    assert player.position() >= reached


def test_ab_switch_keeps_the_position(qtbot, player):
    player.set_sources((tone(440, 4.0, 16000, 0.3), 16000), (tone(880, 4.0, 24000, 0.3), 24000))
    start(qtbot, player)
    wait_position(qtbot, player, lambda p: p >= 0.3)
    before = player.position()
    with qtbot.waitSignal(player.activeChanged, timeout=1000) as blocker:
        player.set_active("B")
    after = player.position()
    assert blocker.args == ["B"]
    assert abs(after - before) <= BUFFER_SECONDS
    later = wait_position(qtbot, player, lambda p: p > after)
    assert player.active() == "B" and player.is_playing()
    assert later > after


def test_loop_region_wraps_the_position_back(qtbot, player):
    player.set_sources((tone(440, 3.0, 16000, 0.3), 16000), None)
    player.set_loop((0.3, 0.6))
    assert player.position() == pytest.approx(0.3)
    seen = []
    player.positionChanged.connect(seen.append)
    start(qtbot, player)
    wait_position(qtbot, player, lambda p: p >= 0.5)
    wait_position(qtbot, player, lambda p: p < 0.45)
    assert all(0.3 - 1e-9 <= p <= 0.6 + 1e-9 for p in seen)


def test_seek_while_playing_moves_the_position_at_once(qtbot, player):
    player.set_sources((tone(440, 4.0, 16000, 0.3), 16000), None)
    start(qtbot, player)
    wait_position(qtbot, player, lambda p: p >= 0.2)
    seen = []
    player.positionChanged.connect(seen.append)
    player.seek(2.5)
    assert player.position() == pytest.approx(2.5)
    wait_position(qtbot, player, lambda p: p > 2.6)
    assert min(seen) == pytest.approx(2.5)


def test_pause_and_resume_keep_the_position(qtbot, player):
    player.set_sources((tone(440, 4.0, 16000, 0.3), 16000), None)
    start(qtbot, player)
    wait_position(qtbot, player, lambda p: p >= 0.3)
    with qtbot.waitSignal(player.stateChanged, timeout=1000, check_params_cb=lambda p: not p):
        player.pause()
    paused = player.position()
    assert not player.is_playing()
    seen = []
    player.positionChanged.connect(seen.append)
    start(qtbot, player)
    wait_position(qtbot, player, lambda p: p > paused + 0.1)
    assert min(seen) >= paused - 1e-9


def test_playback_stops_at_the_end(qtbot, player):
    player.set_sources((tone(440, 0.6, 16000, 0.3), 16000), None)
    start(qtbot, player)
    with qtbot.waitSignal(player.stateChanged, timeout=PLAY_TIMEOUT_MS,
                          check_params_cb=lambda p: not p):
        pass
    assert player.position() == pytest.approx(0.6)
    start(qtbot, player)  # at the end, play starts over
    assert player.position() < 0.3


def dominant_frequency(block: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(block * np.hanning(len(block))))
    return float(np.argmax(spectrum) * rate / len(block))


def test_the_null_sink_hears_a_then_b(qtbot, player, pulse_server, tmp_path):
    """Record the sink's monitor: A's tone is heard, then B's after the switch."""
    rate = 24000
    player.set_sources((tone(440, 4.0, 16000, 0.3), 16000), (tone(1000, 4.0, rate, 0.3), rate))
    recording = tmp_path / "monitor.raw"
    with recording.open("wb") as out:
        recorder = subprocess.Popen(
            ["parec", f"--device={SINK_NAME}.monitor", "--format=s16le", f"--rate={rate}",
             "--channels=1", "--raw"], stdout=out, env=pulse_server.env | {
                "PULSE_SERVER": pulse_server.address})
        try:
            start(qtbot, player)
            wait_position(qtbot, player, lambda p: p >= 0.8)
            player.set_active("B")
            switched = player.position()
            wait_position(qtbot, player, lambda p: p >= switched + 0.8)
            player.pause()
        finally:
            recorder.terminate()
            recorder.wait(timeout=10)
    heard = np.frombuffer(recording.read_bytes(), dtype="<i2").astype(np.float32) / INT16_SCALE
    block = rate // 20
    blocks = heard[:len(heard) // block * block].reshape(-1, block)
    loud = [dominant_frequency(b, rate) for b in blocks if rms(b) > 0.05]
    tones = [440 if abs(f - 440) < 50 else 1000 if abs(f - 1000) < 50 else 0 for f in loud]
    assert tones.count(440) >= 5 and tones.count(1000) >= 5, tones
    last_a = max(i for i, t in enumerate(tones) if t == 440)
    first_b = min(i for i, t in enumerate(tones) if t == 1000)
    assert last_a < first_b + 2, tones
