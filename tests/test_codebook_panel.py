"""The codebook dock on real codes of the tiny fixture model: numbers, histogram, top codes
highlighted in a real token grid, and the PCA projection of the model's codebooks."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from app.codebook_panel import ALL, FILE, UNUSED_SIZE, CodebookPanel
from app.main_window import MainWindow
from app.settings import Settings
from app.views.timeline import Timeline
from app.views.token_grid import TokenGridView
from xy_tokenizer.analysis.stats import level_stats, pca_2d
from tests.studio import add_and_wait
from tests.synth import speech_like, write

pytestmark = pytest.mark.gui
JOB_TIMEOUT = 120000


@pytest.fixture(scope="module")
def file_codes(tiny16k_codec):
    """Codes (8, T) of two different clips, encoded by the tiny 16 kHz model."""
    first, second = tiny16k_codec.encode([speech_like(4.0, seed=11), speech_like(2.4, seed=12)])
    return first, second


@pytest.fixture
def panel(qtbot, tiny16k_codec, file_codes):
    widget = CodebookPanel()
    qtbot.addWidget(widget)
    widget.set_codec(tiny16k_codec)
    widget.set_file_codes(file_codes[0])
    widget.set_session_codes(list(file_codes))
    widget.resize(420, 900)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def grid(qtbot, tiny16k_codec, file_codes):
    view = TokenGridView(Timeline())
    qtbot.addWidget(view)
    view.set_codes(file_codes[0], tiny16k_codec.frame_rate, tiny16k_codec.codebook_size)
    return view


def test_numbers_and_histogram_match_level_stats_for_every_level(panel, tiny16k_codec, file_codes):
    codes = file_codes[0]
    size = tiny16k_codec.codebook_size
    expected = level_stats(codes, size)
    for level in range(1, 9):
        panel.set_level(level)
        shown, want = panel.current_stats(), expected[level - 1]
        assert np.array_equal(shown.counts, want.counts)
        assert (shown.used, shown.total, shown.top) == (want.used, want.total, want.top)
        assert (shown.entropy_bits, shown.perplexity) == (want.entropy_bits, want.perplexity)
        assert panel.used_label.text() == f"Used: {want.used} / {size} ({want.used / size:.1%})"
        assert panel.entropy_label.text() == f"Entropy: {want.entropy_bits:.2f} of 7 bits"
        assert panel.perplexity_label.text() == f"Perplexity: {want.perplexity:.1f}"
        assert panel.unused_label.text() == f"Never used: {size - want.used}"
        assert panel.unused_list.toPlainText().split() == [str(c) for c in np.setdiff1d(np.arange(size), codes[level - 1])]
        heights = np.asarray(panel.bars.opts["height"])
        assert np.array_equal(heights, np.bincount(codes[level - 1], minlength=size))
        assert np.array_equal(np.asarray(panel.bars.opts["x0"]), np.arange(size))
        table = [(int(panel.top_table.item(r, 0).text()), int(panel.top_table.item(r, 1).text()))
                 for r in range(panel.top_table.rowCount())]
        assert table == want.top and len(table) == min(10, want.used)
    assert panel.entropy_label.text().endswith("of 7 bits")     # log2(128) for the tiny model


def test_all_files_scope_adds_the_files_counts(panel, file_codes):
    first, second = file_codes
    panel.set_level(3)
    assert panel.scope() == FILE
    panel.all_button.click()
    assert panel.scope() == ALL and panel.all_button.text() == "All files (2)"
    both = np.bincount(first[2], minlength=128) + np.bincount(second[2], minlength=128)
    assert np.array_equal(panel.current_stats().counts, both)
    assert np.array_equal(np.asarray(panel.bars.opts["height"]), both)
    assert panel.tokens_label.text() == f"Tokens: {first.shape[1] + second.shape[1]}"
    panel.file_button.click()
    assert np.array_equal(panel.current_stats().counts, np.bincount(first[2], minlength=128))


def _click_row(qtbot, table, row: int) -> None:
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_selecting_a_top_code_highlights_exactly_its_cells_in_the_grid(qtbot, panel, grid, file_codes):
    codes = file_codes[0]
    panel.codeSelected.connect(grid.highlight_code)
    panel.set_level(2)
    code = panel.current_stats().top[1][0]
    with qtbot.waitSignal(panel.codeSelected, timeout=2000) as blocker:
        _click_row(qtbot, panel.top_table, 1)
    assert blocker.args == [2, code]
    assert panel.selected_code() == code
    assert grid.highlighted() == (2, code)
    bright = grid.veil.image[..., 3] == 0          # cells the veil leaves uncovered
    expected = np.zeros(codes.shape, dtype=bool)
    expected[1] = codes[1] == code
    assert np.array_equal(bright, expected) and bright.sum() == panel.current_stats().counts[code]
    assert panel.histogram_marker.isVisible() and panel.histogram_marker.value() == code + 0.5
    # another level clears the selection and the grid's highlight
    panel.set_level(3)
    assert panel.selected_code() is None and grid.highlighted() == (None, None)
    assert not grid.veil.isVisible()


def test_projection_has_every_code_with_the_used_ones_flagged(panel, tiny16k_codec, file_codes):
    level = 4
    panel.set_level(level)
    size = tiny16k_codec.codebook_size
    data = panel.scatter.data
    assert len(data) == size
    order = data["data"].astype(int)
    assert sorted(order.tolist()) == list(range(size))
    expected = pca_2d(tiny16k_codec.codebooks()[level - 1])
    assert np.allclose(np.stack([data["x"], data["y"]], axis=1), expected[order])
    counts = np.bincount(file_codes[0][level - 1], minlength=size)[order]
    assert np.array_equal(data["size"] > UNUSED_SIZE, counts > 0)
    assert np.all(np.diff(data["size"][counts > 0][np.argsort(counts[counts > 0], kind="stable")]) >= 0)
    assert panel.projection_of(level) is panel.projection_of(level)      # computed once, cached


def test_clicking_a_point_selects_its_code(qtbot, panel, grid, tiny16k_codec, file_codes):
    panel.codeSelected.connect(grid.highlight_code)
    panel.set_level(1)
    used = np.flatnonzero(np.bincount(file_codes[0][0], minlength=128))
    viewbox = panel.projection.getPlotItem().getViewBox()
    coords = panel.projection_of(1)
    pixels = np.array([[p.x(), p.y()] for p in
                       (panel.projection.mapFromScene(viewbox.mapViewToScene(QPointF(*xy))) for xy in coords)])
    # the used code farthest (in pixels) from every other point: a click there hits only it
    gaps = np.linalg.norm(pixels[:, None] - pixels[None], axis=2) + np.eye(len(pixels)) * 1e9
    target = int(used[np.argmax(gaps[used].min(axis=1))])
    assert gaps[target].min() > 20
    with qtbot.waitSignal(panel.codeSelected, timeout=2000) as blocker:
        qtbot.mouseClick(panel.projection.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPointF(*pixels[target]).toPoint())
    assert blocker.args == [1, target]
    assert grid.highlighted() == (1, target)
    marker = panel.selected_marker.data
    assert len(marker) == 1 and np.allclose([marker["x"][0], marker["y"][0]], coords[target])


def test_without_codes_or_model_it_says_what_to_do(qtbot, tiny16k_codec):
    widget = CodebookPanel()
    qtbot.addWidget(widget)
    assert "Select a reconstructed file" in widget.message.text()
    assert len(widget.scatter.data) == 0 and widget.current_stats() is None
    widget.set_scope(ALL)
    assert "No file has tokens yet" in widget.message.text()
    widget.set_scope(FILE)
    widget.set_codec(tiny16k_codec)
    assert widget.levels() == 8, "with no codes: the model's levels"
    widget.set_file_codes(np.zeros((2, 5), dtype=np.int64))
    assert widget.levels() == 2 and widget.level_box.count() == 2, "only the levels the file has"
    with pytest.raises(ValueError, match="1..2"):
        widget.set_level(5)
    widget.set_level(2)
    assert widget.current_stats().total == 5
    assert len(widget.scatter.data) == 128
    assert np.all(widget.scatter.data["size"][widget.scatter.data["data"] != 0] == UNUSED_SIZE)


def test_no_level_beyond_the_file_and_clicking_a_code_never_raises(qtbot, panel, grid, file_codes):
    """Issue 10: L6 could be picked on a 4-level file, and clicking a code then raised in the
    grid's highlight (and again in its palette change)."""
    panel.codeSelected.connect(grid.highlight_code)
    first, second = file_codes
    panel.set_level(6)
    four = first[:4].copy()
    panel.set_file_codes(four)
    grid.set_codes(four, 12.5, 128)
    assert panel.levels() == 4 and panel.level() == 4, "L6 is gone; the nearest level is shown"
    assert [panel.level_box.itemText(i) for i in range(4)] == ["L1", "L2", "L3", "L4"]
    # "All files" has the 8 levels of the other file: L6 of all files, shown on the 4-level grid
    panel.set_session_codes([four, second])
    panel.set_scope(ALL)
    assert panel.levels() == 8
    panel.set_level(6)
    code = panel.current_stats().top[0][0]
    with qtbot.waitSignal(panel.codeSelected, timeout=2000) as blocker:
        _click_row(qtbot, panel.top_table, 0)
    assert blocker.args == [6, code]
    assert grid.highlighted() == (6, code)
    assert not (grid.veil.image[..., 3] == 0).any(), "the shown file has no L6: nothing is bright"
    grid.apply_palette()                          # the stored highlight is drawn again
    assert grid.highlighted() == (6, code)
    panel.set_scope(FILE)
    assert panel.levels() == 4 and panel.level() == 4


def test_the_studio_feeds_the_dock_and_highlights_in_its_grid(qtbot, tiny16k_dir, tmp_path):
    for index, seconds in enumerate((3.0, 2.0)):
        write(tmp_path / "in" / f"s{index}.wav", speech_like(seconds, seed=50 + index))
    window = MainWindow(Settings(checkpoint=str(tiny16k_dir / "model.ckpt"),
                                 config=str(tiny16k_dir / "config.yaml"), device="cpu"))
    qtbot.addWidget(window)
    window.show()
    add_and_wait(qtbot, window, [tmp_path / "in"])
    with qtbot.waitSignal(window.jobs.idle, timeout=JOB_TIMEOUT):
        window.reconstruct_all()
    panel, grid = window.codebook_panel, window.comparison.tokens
    first, second = (row.result.codes for row in window.files.rows())
    window.file_view.select_position(0)
    panel.set_level(1)
    assert np.array_equal(panel.current_stats().counts, np.bincount(first[0], minlength=128))
    assert len(panel.scatter.data) == 128
    code = panel.current_stats().top[0][0]
    panel.top_table.selectRow(0)
    assert grid.highlighted() == (1, code)
    assert np.array_equal(grid.veil.image[0, :, 3] == 0, first[0] == code)

    panel.set_scope(ALL)
    assert panel.all_button.text() == "All files (2)"
    both = np.bincount(first[0], minlength=128) + np.bincount(second[0], minlength=128)
    assert np.array_equal(panel.current_stats().counts, both)
    window.file_view.select_position(1)
    window.remove_selected()
    assert panel.all_button.text() == "All files (1)"
    assert np.array_equal(panel.current_stats().counts, np.bincount(first[0], minlength=128))
    window.close()
