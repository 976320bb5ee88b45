"""The studio window without running jobs: construction before torch, main(), drops, the file
list, first run (open a checkpoint, download), settings, preferences, log panel, shortcuts,
excepthook."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app import excepthook
from app.file_list import COL_RATE, COL_STATUS, FileListModel, FileRow, RowKind, RowStatus
from app.first_run import DownloadBox, FirstRunPanel
from app.main_window import MainWindow
from app.preferences import PreferencesDialog
from app.settings import Settings, load_settings
from tests.conftest import ROOT
from tests.studio import SCAN_TIMEOUT, add_and_wait
from tests.synth import speech_like, truncate, write
from tests.test_download import checkpoint_bytes, hub  # noqa: F401  (fixtures: a fake Hub)
from xy_tokenizer.io import paths

pytestmark = pytest.mark.gui
LOAD_TIMEOUT = 60000


@pytest.fixture
def window(qtbot):
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


@pytest.fixture
def audio_folder(tmp_path):
    """in/: a 16 kHz mono WAV, a 44.1 kHz stereo FLAC in a subfolder, a truncated WAV, a note."""
    root = tmp_path / "in"
    write(root / "a.wav", speech_like(1.5, seed=1))
    stereo = np.stack([speech_like(2.0, 44100, seed=2), speech_like(2.0, 44100, seed=3)], axis=1)
    write(root / "sub" / "b.flac", stereo, 44100)
    truncate(write(root / "broken.wav", speech_like(1.0, seed=4)), 0.5)
    (root / "notes.txt").write_text("not audio")
    return root


def drop(target, paths: list[Path]) -> bool:
    """Drag ``paths`` (file URLs) onto ``target`` and drop them, as a file manager does:
    a drag-enter event then a drop event. True when both were accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(20, 20), *args)
    QApplication.sendEvent(target, enter)
    event = QDropEvent(QPointF(20, 20), *args)
    QApplication.sendEvent(target, event)
    return enter.isAccepted() and event.isAccepted()


def run_python(script: str, tmp_path: Path) -> dict:
    """Run ``script`` in a fresh interpreter (offscreen, own XYTOK_HOME); its last stdout line
    is JSON."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XYTOK_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_window_shows_before_torch_is_imported(tiny16k_dir, tmp_path):
    """In a fresh interpreter: no torch after the window shows; the model loads on the worker."""
    script = f"""
import json, sys
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
qapp = QApplication([])
from app.main_window import MainWindow
from app.settings import Settings
settings = Settings(checkpoint={str(tiny16k_dir / 'model.ckpt')!r},
                    config={str(tiny16k_dir / 'config.yaml')!r}, device="cpu")
window = MainWindow(settings)
window.show()
qapp.processEvents()
before = "torch" in sys.modules
loop = QEventLoop()
loaded = []
window.jobs.modelLoaded.connect(lambda codec: (loaded.append(codec.variant), loop.quit()))
window.jobs.modelFailed.connect(lambda message: (loaded.append(message), loop.quit()))
QTimer.singleShot(60000, loop.quit)
window.preload_model()
loop.exec()
print(json.dumps({{"torch_before": before, "loaded": loaded, "torch_after": "torch" in sys.modules,
                  "model_label": window.model_label.text()}}))
window.close()
"""
    report = run_python(script, tmp_path)
    assert report["torch_before"] is False
    assert report["loaded"] and report["torch_after"] is True, report
    assert "Model:" in report["model_label"] and "not loaded" not in report["model_label"]


def dropped(qtbot, window, target, paths: list[Path]) -> bool:
    """Drop ``paths`` on ``target`` and wait until the window's scan of them ended."""
    with qtbot.waitSignal(window.pathsAdded, timeout=SCAN_TIMEOUT):
        accepted = drop(target, paths)
    return accepted


def test_drop_on_window_adds_files_and_folders(qtbot, window, audio_folder):
    assert dropped(qtbot, window, window, [audio_folder])
    rows = {row.path.name: row for row in window.files.rows()}
    assert set(rows) == {"a.wav", "b.flac", "broken.wav"}, "folders recurse; only audio is taken"
    a, b = rows["a.wav"], rows["b.flac"]
    assert (a.sample_rate, a.channels, a.status) == (16000, 1, RowStatus.READY)
    assert a.duration == pytest.approx(1.5)
    assert (b.sample_rate, b.channels) == (44100, 2) and b.duration == pytest.approx(2.0)
    assert b.rel == Path("sub/b.flac")
    model = window.files
    position = model.position_of(a.uid)
    assert model.index(position, 0).data() == "a.wav"
    assert model.index(position, COL_RATE).data() == "16 kHz"
    assert model.index(position, COL_STATUS).data() == "ready"
    # the same folder again adds nothing; a single file dropped on the list itself is taken
    dropped(qtbot, window, window, [audio_folder])
    assert window.files.rowCount() == 3
    extra = write(audio_folder.parent / "c.wav", speech_like(0.5))
    assert dropped(qtbot, window, window.file_view.viewport(), [extra])
    assert [row.path.name for row in window.files.rows()][-1] == "c.wav"
    assert str(extra.resolve()) in window.settings.recent_files


def test_unreadable_file_is_listed_as_failed_with_the_reason(qtbot, window, tmp_path):
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"RIFF not really a wave file at all")
    add_and_wait(qtbot, window, [bogus])
    row = window.files.rows()[0]
    assert row.status == RowStatus.FAILED and "bogus.wav" in row.message
    index = window.files.index(0, COL_STATUS)
    assert index.data() == "failed"
    assert index.data(Qt.ItemDataRole.ToolTipRole) == row.message


def test_token_files_are_listed_with_their_shape(qtbot, window, tmp_path):
    np.save(tmp_path / "t.npy", np.zeros((8, 25), dtype=np.int16))
    np.save(tmp_path / "wrong.npy", np.zeros((3, 4, 5), dtype=np.int16))
    add_and_wait(qtbot, window, [tmp_path / "t.npy", tmp_path / "wrong.npy"])
    rows = {row.path.name: row for row in window.files.rows()}
    assert rows["t.npy"].kind == RowKind.TOKENS and (rows["t.npy"].levels, rows["t.npy"].frames) == (8, 25)
    # no sidecar and no model loaded: the registry's default variant's frame rate (12.5 Hz)
    assert rows["t.npy"].duration == pytest.approx(2.0)
    assert rows["wrong.npy"].status == RowStatus.FAILED and "wrong.npy" in rows["wrong.npy"].message


def test_remove_selected_and_clear(qtbot, window, audio_folder):
    add_and_wait(qtbot, window, [audio_folder])
    assert window.files.rowCount() == 3
    window.file_view.select_position(1)
    removed_name = window.files.row(1).path.name
    window.act_remove.trigger()
    names = [row.path.name for row in window.files.rows()]
    assert len(names) == 2 and removed_name not in names
    window.act_clear.trigger()
    assert window.files.rowCount() == 0
    assert not window.act_clear.isEnabled()


def test_file_model_updates_by_uid_and_reports_running_percent(qtbot):
    model = FileListModel()
    first, second = model.add_rows([FileRow(Path("/x/one.wav")), FileRow(Path("/x/two.wav"), RowKind.AUDIO)])
    with qtbot.waitSignal(model.dataChanged, timeout=1000):
        model.update(second.uid, status="running", progress=0.423)
    assert second.status is RowStatus.RUNNING, "strings given become the enum"
    assert model.index(1, COL_STATUS).data() == "running 42%"
    model.remove_positions([0])
    assert model.update(first.uid, status="done") is None
    assert model.position_of(second.uid) == 0


def test_first_run_panel_until_a_checkpoint_is_opened(qtbot, window, tiny16k_dir):
    assert window.first_run_visible(), "no checkpoint configured and no default model"
    with qtbot.waitSignal(window.jobs.modelLoaded, timeout=LOAD_TIMEOUT):
        window.first_run.open_checkpoint(tiny16k_dir / "model.ckpt", tiny16k_dir / "config.yaml")
    assert not window.first_run_visible()
    assert window.model_label.text().startswith("Model: ")
    assert "not loaded" not in window.model_label.text()
    assert window.device_label.text() == "Device: cpu" or window.device_label.text().startswith("Device: ")
    saved = load_settings()
    assert saved.checkpoint == str(tiny16k_dir / "model.ckpt")
    assert saved.config == str(tiny16k_dir / "config.yaml")


def test_a_checkpoint_that_fails_keeps_the_panel_with_the_reason(qtbot, window, tmp_path):
    bad = tmp_path / "garbage.ckpt"
    bad.write_bytes(b"this is no checkpoint")
    with qtbot.waitSignal(window.jobs.modelFailed, timeout=LOAD_TIMEOUT):
        window.first_run.open_checkpoint(bad)
    assert window.first_run_visible()
    assert window.first_run.message.isVisibleTo(window.first_run)
    assert "garbage.ckpt" in window.first_run.message.text()
    assert window.settings.checkpoint == "", "a checkpoint that fails is not remembered"


def test_a_missing_configured_checkpoint_shows_the_panel(qtbot, tmp_path):
    win = MainWindow(Settings(checkpoint=str(tmp_path / "gone.ckpt")))
    qtbot.addWidget(win)
    assert win.first_run_visible()
    assert "gone.ckpt" in win.first_run.message.text()


def test_settings_round_trip_through_two_windows(qtbot, tmp_path):
    first = MainWindow(load_settings())
    qtbot.addWidget(first)
    first.show()
    first.resize(780, 700)
    first.log_panel.hide()
    first.settings.output_dir = str(tmp_path / "exports")
    first.close()
    second = MainWindow(load_settings())
    qtbot.addWidget(second)
    second.show()
    assert (second.width(), second.height()) == (780, 700)
    assert second.settings.output_dir == str(tmp_path / "exports")
    assert not second.log_panel.isVisible(), "dock state is restored"
    second.close()


def test_preferences_apply_and_persist(qtbot, window, tmp_path):
    dialog = PreferencesDialog(window.settings, window)
    qtbot.addWidget(dialog)
    dialog.device.setCurrentText("cpu")
    dialog.dtype.setCurrentText("bfloat16")
    dialog.batch_size.setValue(2)
    assert dialog.overlap_default.isChecked() and not dialog.overlap.isEnabled()
    dialog.overlap_default.setChecked(False)
    dialog.overlap.setValue(5.04)                  # 24.96 s step: 312 tokens
    dialog.output_dir.set_text(str(tmp_path / "o"))
    window.apply_settings(dialog.values())
    saved = load_settings()
    assert (saved.device, saved.dtype, saved.batch_size, saved.overlap) == ("cpu", "bfloat16", 2, 5.04)
    assert saved.output_dir == str(tmp_path / "o")
    assert window.jobs.source.dtype == "bfloat16" and window.jobs.source.device == "cpu"
    assert window.dtype_label.text() == "Precision: bfloat16"


def test_log_panel_shows_records_from_other_threads(qtbot, window):
    panel = window.log_panel
    thread = threading.Thread(target=lambda: logging.getLogger("xy_tokenizer.test").warning("from a worker"))
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: "from a worker" in panel.text(), timeout=2000)
    line = [l for l in panel.text().splitlines() if "from a worker" in l][0]
    assert "WARNING" in line and line[2] == ":" and line[5] == ":"
    panel.copy_all()
    assert "from a worker" in QApplication.clipboard().text()
    panel.clear()
    assert panel.text() == ""


def test_shortcuts_drive_the_player(qtbot, window):
    window.player.set_sources(original=(speech_like(2.0), 16000), reconstruction=(speech_like(2.0, seed=5), 16000))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    assert window.player.active() == "A"
    qtbot.keyClick(window.file_view, Qt.Key.Key_B)
    assert window.player.active() == "B" and window.act_b.isChecked()
    qtbot.keyClick(window.file_view, Qt.Key.Key_Tab)
    assert window.player.active() == "A" and window.act_a.isChecked()
    qtbot.keyClick(window.file_view, Qt.Key.Key_L)
    assert window.act_loop.isChecked() and window.player.loop() == pytest.approx((0.0, 2.0))
    qtbot.keyClick(window.file_view, Qt.Key.Key_M)
    assert window.player.level_match()


def test_main_shows_the_window_with_the_given_files(tmp_path):
    wav = write(tmp_path / "x.wav", speech_like(1.0))
    script = f"""
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
qapp = QApplication(sys.argv[:1])
from app.main import main
from app.main_window import MainWindow

def look_and_close():
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
    if window.tasks.is_busy("scan") or not window.files.rowCount():   # the files are still being listed
        QTimer.singleShot(100, look_and_close)
        return
    report.update(files=[row.path.name for row in window.files.rows()], visible=window.isVisible(),
                  first_run=window.first_run_visible(), torch="torch" in sys.modules,
                  name=QApplication.applicationName(), hook=sys.excepthook is not sys.__excepthook__)
    window.close()

report = {{}}
QTimer.singleShot(500, look_and_close)
report["status"] = main([{str(wav)!r}])
print(json.dumps(report))
"""
    report = run_python(script, tmp_path)
    assert report == {"files": ["x.wav"], "visible": True, "first_run": True, "torch": False,
                      "name": "xy-tokenizer-studio", "hook": True, "status": 0}


def test_first_run_download_with_progress_then_chosen(qtbot, hub, checkpoint_bytes):  # noqa: F811
    panel = FirstRunPanel()
    qtbot.addWidget(panel)
    progress = []
    with qtbot.waitSignal(panel.checkpointChosen, timeout=LOAD_TIMEOUT) as chosen:
        worker = panel.download.start_download("16k")
        worker.progress.connect(lambda done, total: progress.append((done, total)))
        assert panel.download.cancel_button.isEnabled() and not panel.download.download_button.isEnabled()
    path, config = chosen.args
    assert config is None and path == paths.models_dir() / "xy_tokenizer_16k" / "xy_tokenizer.ckpt"
    assert path.read_bytes() == checkpoint_bytes
    assert paths.find_default_checkpoint() is not None
    assert progress and progress[-1] == (len(checkpoint_bytes), len(checkpoint_bytes))
    qtbot.waitUntil(lambda: not panel.download.is_busy(), timeout=5000)
    assert panel.download.download_button.isEnabled() and not panel.download.cancel_button.isEnabled()
    assert str(path) in panel.download.status.text()


def test_download_cancelled_midway_installs_nothing(qtbot, hub):  # noqa: F811
    box = DownloadBox()
    qtbot.addWidget(box)
    downloaded = []
    box.downloaded.connect(downloaded.append)
    worker = box.start_download("16k")
    worker.progress.connect(lambda done, total: box.cancel())
    with qtbot.waitSignal(worker.cancelled, timeout=LOAD_TIMEOUT):
        pass
    qtbot.waitUntil(lambda: not box.is_busy(), timeout=5000)
    assert not downloaded and box.status.text() == "Download cancelled."
    assert paths.find_default_checkpoint() is None


def test_excepthook_logs_and_calls_the_dialog(qtbot, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    shown = []
    log_path = excepthook.install(show=lambda message, path: shown.append((message, path)))
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert shown == [("RuntimeError: boom in a slot", log_path)]
    text = log_path.read_text(encoding="utf-8")
    assert "RuntimeError: boom in a slot" in text and "Traceback" in text and "=== " in text
    worker = threading.Thread(target=lambda: 1 / 0, name="cruncher")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=2000)
    assert shown[1][0].startswith("ZeroDivisionError")
    text = log_path.read_text(encoding="utf-8")
    assert "thread cruncher" in text and text.count("=== ") == 2


def test_token_rows_use_the_engine_layout_check(tmp_path):
    """The file list refuses what decoding would refuse, with the engine's message."""
    from app.token_files import token_row
    from xy_tokenizer.jobs import JobItem

    cases = {"empty.npy": np.zeros((8, 0), np.int16), "nine.npy": np.zeros((9, 4), np.int16),
             "floats.npy": np.zeros((8, 4), np.float32), "good.npy": np.zeros((3, 25), np.int16)}
    rows = {}
    for name, codes in cases.items():
        np.save(tmp_path / name, codes)
        rows[name] = token_row(JobItem(tmp_path / name, Path(name)), max_levels=8, frame_rate=12.5)
    assert rows["empty.npy"].status == RowStatus.FAILED and "no frames" in rows["empty.npy"].message
    assert rows["nine.npy"].status == RowStatus.FAILED and "9 levels" in rows["nine.npy"].message
    assert rows["floats.npy"].status == RowStatus.FAILED and "integer" in rows["floats.npy"].message
    assert rows["good.npy"].status != RowStatus.FAILED and (rows["good.npy"].levels, rows["good.npy"].frames) == (3, 25)
    assert rows["good.npy"].duration == pytest.approx(2.0)
