"""Reconstruction quality in the studio: metric columns in the file list, the session
summary and its CSV export, on real reconstructions by the tiny 16 kHz fixture model."""
from __future__ import annotations

import csv
import math
import threading

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

import app.metrics_queue as metrics_queue
from app.file_list import METRIC_COLUMNS, METRIC_ROLE
from app.main_window import MainWindow
from app.metric_columns import METRIC_HEADERS, format_metric
from app.metrics_panel import VALUE_ROLE
from app.settings import Settings
from app.worker import wait_for_detached
from tests.studio import add_and_wait
from tests.synth import speech_like, write
from xy_tokenizer.io.audio import resample
from xy_tokenizer.analysis.metrics import METRIC_NAMES, METRICS_SAMPLE_RATE, compute_metrics, summarize

pytestmark = pytest.mark.gui
JOB_TIMEOUT = 120000


def same(a: float, b: float) -> bool:
    """Equal, NaN included."""
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.fixture(scope="module")
def measure_threads():
    """Names of the threads that ran app.metrics_queue.measure."""
    names: list[str] = []
    original = metrics_queue.measure

    def recording(*args):
        names.append(threading.current_thread().name)
        return original(*args)

    patch = pytest.MonkeyPatch()
    patch.setattr(metrics_queue, "measure", recording)
    yield names
    patch.undo()


@pytest.fixture(scope="module")
def studio(request, qapp, tiny16k_dir, tmp_path_factory, measure_threads):
    """A window with the fixture model that reconstructed three clips, metrics measured."""
    home = pytest.MonkeyPatch()
    home.setenv("XYTOK_HOME", str(tmp_path_factory.mktemp("metrics-home")))
    root = tmp_path_factory.mktemp("metrics-media")
    for index, seconds in enumerate((3.0, 2.2, 4.0)):
        write(root / f"clip{index}.wav", speech_like(seconds, seed=40 + index))
    window = MainWindow(Settings(checkpoint=str(tiny16k_dir / "model.ckpt"),
                                 config=str(tiny16k_dir / "config.yaml"), device="cpu"))
    window.show()
    qtbot = QtBot(request)
    add_and_wait(qtbot, window, [root])
    with qtbot.waitSignal(window.jobs.idle, timeout=JOB_TIMEOUT):
        window.reconstruct_all()
    qtbot.waitUntil(lambda: all(row.metrics is not None for row in window.files.rows()), timeout=JOB_TIMEOUT)
    yield window
    window.close()
    assert wait_for_detached(30_000), "a worker outlived the window by 30 s"
    home.undo()


def expected_metrics(row) -> dict[str, float]:
    reference = resample(row.result.original, row.codec.input_sample_rate, METRICS_SAMPLE_RATE)
    estimate = resample(row.result.audio, row.codec.output_sample_rate, METRICS_SAMPLE_RATE)
    return compute_metrics(reference, estimate, METRICS_SAMPLE_RATE)


def test_metric_columns_hold_the_metrics_of_each_reconstruction(studio, measure_threads):
    model = studio.files
    headers = [model.headerData(column, Qt.Orientation.Horizontal) for column in METRIC_COLUMNS]
    assert headers == [METRIC_HEADERS[name] for name in METRIC_NAMES]
    assert len(model.rows()) == 3
    for row in model.rows():
        expected = expected_metrics(row)
        position = model.position_of(row.uid)
        for column, name in METRIC_COLUMNS.items():
            index = model.index(position, column)
            assert same(index.data(METRIC_ROLE), expected[name]), (row.path.name, name)
            assert index.data() == format_metric(name, expected[name])
            if math.isnan(expected[name]):          # the reason is the cell's tooltip
                assert index.data(Qt.ItemDataRole.ToolTipRole) == row.metric_notes[name]
        assert not all(math.isnan(v) for v in expected.values())
    assert measure_threads and threading.main_thread().name not in measure_threads


def test_summary_is_the_mean_and_median_of_the_files(studio):
    panel = studio.metrics_panel
    expected = summarize([expected_metrics(row) for row in studio.files.rows()])
    for position, name in enumerate(METRIC_NAMES):
        for column, stat in enumerate(("mean", "median")):
            assert same(panel.table.item(position, column).data(VALUE_ROLE), expected[name][stat]), (name, stat)
    assert panel.count_label.text() == "3 files measured"


def test_export_writes_the_csv_and_asks_before_replacing(studio, tmp_path):
    panel = studio.metrics_panel
    asked = []
    answer = {"value": False}
    panel.confirm_overwrite = lambda path: (asked.append(path), answer["value"])[1]
    target = tmp_path / "out" / "metrics.csv"
    target.parent.mkdir()
    assert panel.export_csv(target) == target and asked == []
    with open(target, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = [str(row.path) for row in studio.files.rows()]
    assert [r["file"] for r in rows] == names + ["mean", "median"]
    first = studio.files.rows()[0]
    for name in METRIC_NAMES:
        value = first.metrics[name]
        assert rows[0][name] == ("" if math.isnan(value) else repr(value))
    assert rows[0]["model"] == "custom-16k (model.ckpt)"

    target.write_text("keep me", encoding="utf-8")
    assert panel.export_csv(target) is None
    assert asked == [target] and target.read_text(encoding="utf-8") == "keep me"
    answer["value"] = True
    assert panel.export_csv(target) == target
    assert target.read_text(encoding="utf-8").startswith("file,") and len(asked) == 2
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.csv"]


def test_a_rerun_replaces_the_metrics(request, studio):
    qtbot = QtBot(request)
    row = studio.files.rows()[1]
    before = row.result
    with qtbot.waitSignal(studio.jobs.idle, timeout=JOB_TIMEOUT):
        studio.reconstruct([row.uid])
    assert row.result is not before
    qtbot.waitUntil(lambda: row.metrics is not None, timeout=JOB_TIMEOUT)
    expected = expected_metrics(row)
    assert all(same(row.metrics[name], expected[name]) for name in METRIC_NAMES)
    tip = studio.files.index(studio.files.position_of(row.uid), 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "decoded with custom-16k (model.ckpt)" in tip
