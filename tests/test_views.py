"""Time views on real widgets: waveform, spectrogram, token grid, comparison, timeline."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.views.comparison import ComparisonView
from app.views.spectrogram import DYNAMIC_RANGE_DB, SpectrogramView, compute_spectrogram, fft_size
from app.views.timeline import Timeline
from app.views.token_grid import DIM_ALPHA, TokenGridView, cell_at
from app.views.waveform import FIRST_BLOCK, PeakPyramid, WaveformView
from xy_tokenizer.codecs.xy.constants import CODEBOOK_SIZE, FRAME_RATE, INPUT_SAMPLE_RATE, NUM_QUANTIZERS

pytestmark = pytest.mark.gui

SR = INPUT_SAMPLE_RATE


def speechlike(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Harmonic tone with a slow envelope and a little noise: (N,) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.5 * t)) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12)) * np.sin(2 * np.pi * 0.7 * t) ** 2
    return (0.3 * voiced + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def random_codes(frames: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, CODEBOOK_SIZE, (NUM_QUANTIZERS, frames))


def viewport_point(view, x: float, y: float) -> QPoint:
    """Viewport pixel of view (data) coordinates (x, y)."""
    scene = view.getViewBox().mapViewToScene(QPointF(x, y))
    return view.mapFromScene(scene)


def shown(qtbot, widget, width: int = 900, height: int = 300):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


# --- timeline -------------------------------------------------------------------------
def test_timeline_clamps_and_signals(qtbot):
    timeline = Timeline()
    owner_a, owner_b = object(), object()
    with qtbot.waitSignal(timeline.durationChanged, timeout=1000) as blocker:
        timeline.set_extent(owner_a, 3.0)
    assert blocker.args == [3.0]
    timeline.set_extent(owner_b, 5.0)
    assert timeline.duration == 5.0
    with qtbot.waitSignal(timeline.positionChanged, timeout=1000):
        timeline.set_position(9.0)
    assert timeline.position == 5.0
    with qtbot.waitSignal(timeline.seekRequested, timeout=1000) as blocker:
        timeline.request_seek(1.5)
    assert blocker.args == [1.5] and timeline.position == 1.5
    with qtbot.waitSignal(timeline.regionChanged, timeout=1000) as blocker:
        timeline.set_region((4.0, 2.0))
    assert blocker.args == [(2.0, 4.0)]
    timeline.set_extent(owner_b, None)
    assert timeline.duration == 3.0 and timeline.region == (2.0, 3.0)
    timeline.set_region((1.0, 1.0))
    assert timeline.region is None


# --- waveform -------------------------------------------------------------------------
def test_peak_pyramid_keeps_block_min_max():
    samples = np.random.default_rng(2).standard_normal(100_003).astype(np.float32)
    pyramid = PeakPyramid(samples)
    for block, low, high in pyramid.levels:
        assert len(low) == math.ceil(len(samples) / block)
        starts = np.arange(0, len(samples), block)
        np.testing.assert_array_equal(low, np.minimum.reduceat(samples, starts))
        np.testing.assert_array_equal(high, np.maximum.reduceat(samples, starts))
    assert len(pyramid.levels[-1][1]) == 1
    assert pyramid.peak == pytest.approx(np.abs(samples).max())


def test_envelope_is_raw_when_zoomed_in_and_bounded_when_zoomed_out():
    samples = np.random.default_rng(3).standard_normal(1_000_000).astype(np.float32)
    pyramid = PeakPyramid(samples)
    x, y = pyramid.envelope(5000, 6000, 800)
    np.testing.assert_array_equal(x, np.arange(5000, 6000))
    np.testing.assert_array_equal(y, samples[5000:6000])
    x, y = pyramid.envelope(0, len(samples), 800)
    assert 2 * 800 <= len(x) <= 2 * 800 * 4
    assert (x[0], x[-1]) == (0, len(samples))
    assert y.max() == samples.max() and y.min() == samples.min()


def test_waveform_full_range_is_the_duration(qtbot):
    timeline = Timeline()
    view = shown(qtbot, WaveformView(timeline, "Original"))
    samples = speechlike(2.5, SR)
    view.set_audio(samples, SR)
    assert view.x_range() == pytest.approx((0.0, len(samples) / SR))
    assert timeline.duration == pytest.approx(2.5)
    x, y = view.curve.getData()
    assert x[0] == pytest.approx(0.0) and x[-1] == pytest.approx(len(samples) / SR)
    assert y.max() == samples.max() and y.min() == samples.min()
    assert view.title() == "Original"
    view.clear_audio()
    assert timeline.duration == 0.0
    x, _ = view.curve.getData()
    assert x is None or len(x) == 0


def test_spike_in_an_hour_stays_visible_at_full_zoom_out(qtbot):
    samples = np.zeros(3600 * SR, dtype=np.float32)
    samples[12_345_679] = 1.0
    samples[45_000_001] = -0.7
    view = shown(qtbot, WaveformView(Timeline()))
    view.set_audio(samples, SR)
    x, y = view.curve.getData()
    assert view.x_range() == pytest.approx((0.0, 3600.0))
    assert y.max() == 1.0 and y.min() == pytest.approx(-0.7)
    assert len(x) <= 8 * view.getViewBox().width()
    # zooming in on the spike redraws from raw samples
    spike_time = 12_345_679 / SR
    view.setXRange(spike_time - 0.001, spike_time + 0.001, padding=0)
    qtbot.waitUntil(lambda: len(view.curve.getData()[0]) < 100, timeout=2000)
    x, y = view.curve.getData()
    np.testing.assert_allclose(x[y == 1.0], [spike_time])
    assert len(x) >= 2 * SR * 0.002 / FIRST_BLOCK


def test_waveform_rejects_a_2d_array(qtbot):
    view = shown(qtbot, WaveformView(Timeline()))
    with pytest.raises(ValueError, match=r"\(N,\)"):
        view.set_audio(np.zeros((2, 100), np.float32), SR)


def test_click_seeks_and_shift_drag_selects_the_loop_region(qtbot):
    timeline = Timeline()
    view = shown(qtbot, WaveformView(timeline))
    view.set_audio(speechlike(4.0, SR), SR)
    with qtbot.waitSignal(timeline.seekRequested, timeout=2000) as blocker:
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=viewport_point(view, 1.0, 0))
    assert blocker.args[0] == pytest.approx(1.0, abs=4.0 / 800)
    assert view.playhead.value() == pytest.approx(timeline.position)
    viewport = view.viewport()
    shift = Qt.KeyboardModifier.ShiftModifier
    start, end = viewport_point(view, 2.0, 0), viewport_point(view, 3.0, 0)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, shift, start)
    with qtbot.waitSignal(timeline.regionChanged, timeout=2000):
        for step in range(1, 11):  # QTest.mouseMove does not hold the button: send events
            pos = QPointF(start + (end - start) * step / 10)
            move = QMouseEvent(QEvent.Type.MouseMove, pos, viewport.mapToGlobal(pos),
                               Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, shift)
            QApplication.sendEvent(viewport, move)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, shift, end)
    assert timeline.region == pytest.approx((2.0, 3.0), abs=4.0 / 400)
    assert view.region_item.isVisible()
    assert view.region_item.getRegion() == pytest.approx(timeline.region)
    timeline.set_region(None)
    assert not view.region_item.isVisible()


def test_views_follow_the_palette(qtbot):
    view = shown(qtbot, WaveformView(Timeline()))
    dark = QPalette(view.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    view.setPalette(dark)
    assert view.backgroundBrush().color() == QColor("#1e1e1e")
    assert view.getPlotItem().getAxis("left").textPen().color() == QColor("#e0e0e0")


# --- spectrogram ----------------------------------------------------------------------
def test_spectrogram_of_a_sine_peaks_at_its_frequency():
    t = np.arange(2 * SR) / SR
    db, duration, nyquist = compute_spectrogram(np.sin(2 * np.pi * 1000 * t), SR)
    n_fft = fft_size(SR)
    assert db.shape == (n_fft // 2 + 1, math.ceil(2 * SR / (n_fft // 4)))
    assert (duration, nyquist) == (2.0, SR / 2)
    column = db[:, db.shape[1] // 2]
    assert np.argmax(column) * SR / n_fft == pytest.approx(1000, abs=SR / n_fft)
    assert column.max() == pytest.approx(0.0, abs=1.5)


def test_long_spectrogram_is_capped_and_misses_no_click():
    samples = np.zeros(20 * 60 * SR, dtype=np.float32)
    samples[7_777_777] = 1.0
    db, duration, _ = compute_spectrogram(samples, SR, max_columns=8000)
    assert db.shape[1] <= 8000 and duration == 1200.0
    loud = np.flatnonzero(db.max(axis=0) > -150)
    assert len(loud) >= 1
    assert loud[0] * duration / db.shape[1] == pytest.approx(7_777_777 / SR, abs=2 * duration / db.shape[1])


def test_spectrogram_view_shows_the_whole_band_over_the_duration(qtbot):
    view = shown(qtbot, SpectrogramView(Timeline(), "Original"))
    samples = speechlike(3.0, 24000)
    view.set_audio(samples, 24000)
    rect = view.image.mapRectToParent(view.image.boundingRect())
    assert (rect.left(), rect.top()) == pytest.approx((0.0, 0.0))
    assert (rect.width(), rect.height()) == pytest.approx((3.0, 12000.0))
    assert view.x_range() == pytest.approx((0.0, 3.0))
    peak = view.peak_db()
    assert view.levels() == pytest.approx((peak - DYNAMIC_RANGE_DB, peak))
    assert tuple(view.image.getLevels()) == pytest.approx(view.levels())
    view.set_levels(-90, -10)
    assert view.levels() == (-90.0, -10.0)


# --- token grid -----------------------------------------------------------------------
def test_cell_at_maps_seconds_and_rows():
    shape = (8, 100)
    assert cell_at(0.0, 0.0, shape, FRAME_RATE) == (1, 0)
    assert cell_at(17.5 / FRAME_RATE, 2.9, shape, FRAME_RATE) == (3, 17)
    assert cell_at(99.99 / FRAME_RATE, 7.99, shape, FRAME_RATE) == (8, 99)
    assert cell_at(100 / FRAME_RATE, 0.5, shape, FRAME_RATE) is None
    assert cell_at(-0.01, 0.5, shape, FRAME_RATE) is None
    assert cell_at(1.0, 8.0, shape, FRAME_RATE) is None


@pytest.fixture
def grid(qtbot):
    timeline = Timeline()
    view = shown(qtbot, TokenGridView(timeline), height=260)
    codes = random_codes(60)
    view.set_codes(codes, FRAME_RATE, CODEBOOK_SIZE)
    return view, codes, timeline


def test_grid_image_is_exactly_the_codes_with_level_1_on_top(grid):
    view, codes, timeline = grid
    np.testing.assert_array_equal(view.image.image, codes)
    np.testing.assert_array_equal(view.codes(), codes)
    rect = view.image.mapRectToParent(view.image.boundingRect())
    assert (rect.width(), rect.height()) == pytest.approx((60 / FRAME_RATE, 8.0))
    assert timeline.duration == pytest.approx(60 / FRAME_RATE)
    ticks = view.getPlotItem().getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == [f"L{i}" for i in range(1, 9)]
    top = viewport_point(view, 1.0, 0.5).y()
    bottom = viewport_point(view, 1.0, 7.5).y()
    assert top < bottom


def test_grid_rejects_out_of_range_codes(grid):
    view, _, _ = grid
    with pytest.raises(ValueError, match="1024"):
        view.set_codes(np.full((8, 5), 1024), FRAME_RATE, CODEBOOK_SIZE)
    with pytest.raises(ValueError, match=r"\(k, T\)"):
        view.set_codes(np.zeros(5, dtype=np.int64), FRAME_RATE, CODEBOOK_SIZE)


def test_hover_names_level_frame_time_and_code(qtbot, grid):
    view, codes, _ = grid
    level, frame = 3, 17
    pos = viewport_point(view, (frame + 0.5) / FRAME_RATE, level - 0.5)
    with qtbot.waitSignal(view.hovered, timeout=2000) as blocker:
        QTest.mouseMove(view.viewport(), pos)
    assert blocker.args == [level, frame, pytest.approx(frame / FRAME_RATE), int(codes[level - 1, frame])]
    assert view.label.isVisible()
    assert f"code {codes[level - 1, frame]}" in view.label.toPlainText()
    assert f"L{level}" in view.label.toPlainText()


def test_click_on_the_grid_seeks_to_the_frame(qtbot, grid):
    view, _, timeline = grid
    frame = 42
    pos = viewport_point(view, (frame + 0.7) / FRAME_RATE, 5.5)
    with qtbot.waitSignal(timeline.seekRequested, timeout=2000) as blocker:
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [pytest.approx(frame / FRAME_RATE)]
    assert timeline.position == pytest.approx(frame / FRAME_RATE)
    assert view.playhead.value() == pytest.approx(frame / FRAME_RATE)


def test_highlight_code_dims_all_other_cells(grid):
    view, codes, _ = grid
    code = int(codes[1, 10])
    view.highlight_code(2, code)
    alpha = view.veil.image[..., 3]
    bright = np.zeros(codes.shape, dtype=bool)
    bright[1] = codes[1] == code
    np.testing.assert_array_equal(alpha == 0, bright)
    assert (alpha[~bright] == DIM_ALPHA).all()
    assert view.veil.isVisible() and view.highlighted() == (2, code)
    view.highlight_code(4, None)
    level_4 = np.broadcast_to(np.arange(8)[:, None] == 3, codes.shape)
    np.testing.assert_array_equal(view.veil.image[..., 3] == 0, level_4)
    view.highlight_code(None, None)
    assert not view.veil.isVisible()
    # a level these codes lack (picked among all files' levels): nothing bright, no error,
    # and the stored highlight survives a palette change
    view.highlight_code(9, 0)
    assert view.highlighted() == (9, 0) and view.veil.isVisible()
    assert (view.veil.image[..., 3] == DIM_ALPHA).all()
    view.apply_palette()
    assert view.highlighted() == (9, 0)


def test_level_labels_never_overlap(qtbot):
    """A short grid names every few levels; a tall one names them all."""
    view = shown(qtbot, TokenGridView(Timeline()), height=300)
    view.set_codes(random_codes(40), FRAME_RATE, CODEBOOK_SIZE)
    labels = lambda: [label for _, label in view.getPlotItem().getAxis("left")._tickLevels[0]]  # noqa: E731
    assert labels() == [f"L{i}" for i in range(1, 9)]
    view.resize(900, 4 * view.fontMetrics().height())
    qtbot.waitUntil(lambda: view.level_stride() > 1, timeout=2000)
    stride = view.level_stride()
    assert labels() == [f"L{i}" for i in range(1, 9, stride)]
    assert view.height() / 8 * stride >= view.fontMetrics().height(), "one label per row of its height"


# --- comparison -----------------------------------------------------------------------
@pytest.fixture
def comparison(qtbot):
    view = shown(qtbot, ComparisonView(), width=1000, height=800)
    original = speechlike(4.0, SR)
    reconstruction = 0.5 * speechlike(4.0, 24000, seed=5)
    view.set_original(original, SR)
    view.set_reconstruction(reconstruction, 24000, "Reconstruction (24 kHz)")
    view.set_codes(random_codes(50), FRAME_RATE, CODEBOOK_SIZE)
    return view


def test_comparison_shares_one_colour_scale(comparison):
    a, b = comparison.original_spec, comparison.reconstruction_spec
    top = max(a.peak_db(), b.peak_db())
    assert a.peak_db() != b.peak_db()
    assert a.levels() == b.levels() == pytest.approx((top - DYNAMIC_RANGE_DB, top))
    assert a.db().shape[0] == fft_size(SR) // 2 + 1
    assert b.db().shape[0] == fft_size(24000) // 2 + 1
    assert comparison.reconstruction_wave.title() == "Reconstruction (24 kHz)"


def test_comparison_views_are_x_linked_with_one_playhead(comparison):
    assert comparison.timeline.duration == pytest.approx(4.0)
    for plot in comparison.plots:
        assert plot.x_range() == pytest.approx((0.0, 4.0))
    comparison.original_wave.setXRange(1.0, 2.0, padding=0)
    for plot in comparison.plots:
        assert plot.x_range() == pytest.approx((1.0, 2.0))
    comparison.timeline.set_position(1.25)
    assert [plot.playhead.value() for plot in comparison.plots] == [1.25] * 5
    comparison.timeline.set_region((1.5, 1.75))
    assert all(plot.region_item.getRegion() == pytest.approx((1.5, 1.75))
               for plot in comparison.plots)


def test_comparison_clear_empties_every_view(comparison):
    comparison.clear()
    assert comparison.timeline.duration == 0.0
    assert comparison.timeline.region is None
    assert comparison.tokens.codes() is None
    assert comparison.original_spec.peak_db() is None


def test_empty_views_show_seconds_hertz_and_levels(qtbot):
    """With nothing loaded the axes read 0..1 s, 0..8 kHz and L1 (not pyqtgraph's defaults);
    once a model is loaded its levels (L1..L8); clearing after a file returns to that state."""
    view = ComparisonView()
    qtbot.addWidget(view)
    for plot in view.plots:
        assert plot.x_range() == pytest.approx((0.0, 1.0))
        assert not plot.getPlotItem().getAxis("bottom").autoSIPrefix
    assert view.original_spec.getViewBox().viewRange()[1] == pytest.approx([0.0, 8000.0])
    labels = lambda: [label for _, label in view.tokens.getPlotItem().getAxis("left")._tickLevels[0]]  # noqa: E731
    assert labels() == ["L1"]
    view.tokens.set_empty_levels(NUM_QUANTIZERS)          # what the window does when a model loads
    assert labels() == [f"L{i}" for i in range(1, 9)]
    rate = 24000
    view.set_reconstruction(np.zeros(rate * 3, np.float32), rate)
    assert view.reconstruction_spec.getViewBox().viewRange()[1] == pytest.approx([0.0, 12000.0])
    view.set_codes(random_codes(20)[:3], FRAME_RATE, CODEBOOK_SIZE)
    assert labels() == ["L1", "L2", "L3"]
    view.clear()
    assert view.reconstruction_spec.getViewBox().viewRange()[1] == pytest.approx([0.0, 8000.0])
    assert view.tokens.x_range() == pytest.approx((0.0, 1.0))
    assert labels() == [f"L{i}" for i in range(1, 9)]


def test_showing_the_same_audio_again_reuses_its_drawings(qtbot, monkeypatch):
    """Selecting a file again must not recompute its spectrogram and peak pyramid (GUI thread);
    other audio, even equal in content, is computed afresh, and nothing is kept alive."""
    import gc
    import weakref

    from app.views import spectrogram, waveform
    from app.views.base import ArrayCache

    computed = []
    real_spectrogram, real_pyramid = spectrogram.compute_spectrogram, waveform.PeakPyramid
    monkeypatch.setattr(spectrogram, "compute_spectrogram",
                        lambda *a, **k: computed.append("spectrogram") or real_spectrogram(*a, **k))
    monkeypatch.setattr(waveform, "PeakPyramid", lambda x: computed.append("pyramid") or real_pyramid(x))
    view = ComparisonView()
    qtbot.addWidget(view)
    rng = np.random.default_rng(3)
    first = rng.standard_normal(16000 * 3).astype(np.float32)
    view.set_original(first, 16000)
    assert computed == ["pyramid", "spectrogram"]
    shown = view.original_spec.db().copy()
    view.set_original(rng.standard_normal(16000).astype(np.float32), 16000)
    view.set_original(first, 16000)
    assert len(computed) == 4, "the first array's drawings are reused"
    np.testing.assert_array_equal(view.original_spec.db(), shown)
    copy = first.copy()
    view.set_original(copy, 16000)
    assert len(computed) == 6, "another array is computed afresh"
    # A peak pyramid holds its samples (zoomed-in drawing needs them), so the cache keeps a
    # bounded number of recent arrays alive, then lets go.
    gone = weakref.ref(first)
    del first, copy
    for _ in range(ArrayCache().size + 1):
        view.set_original(rng.standard_normal(1600).astype(np.float32), 16000)
    view.clear()
    gc.collect()
    assert gone() is None, "the cache must not keep old audio alive"
