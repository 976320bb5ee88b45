"""The first-run panel's download box against the loopback Hub of test_download: the registry's
variants grouped by family, licence before download (ticked for non-commercial ones), progress,
Cancel, and expected network errors as one line (no traceback, no crash dialog)."""
from __future__ import annotations

import hashlib
import logging
import sys
import threading

import pytest
from PySide6.QtWidgets import QApplication

from app.first_run import COL_BITRATE, COL_LICENCE, COL_NAME, COL_RATES, COL_SIZE, COL_TOKENS, INSTALLED, \
    DownloadBox, FirstRunPanel
from tests.test_download import (FAKE_FILES, SEMANTIC_REPO, checkpoint_bytes, closed_port, fake_family,  # noqa: F401
                                 hub, installed_tree)
from xy_tokenizer import registry
from xy_tokenizer.io import paths

pytestmark = pytest.mark.gui
TIMEOUT_MS = 60000


@pytest.fixture
def no_crash_dialog(monkeypatch):
    """Fails the test if an exception reaches sys.excepthook or threading.excepthook."""
    reached = []
    monkeypatch.setattr(sys, "excepthook", lambda *info: reached.append(info))
    monkeypatch.setattr(threading, "excepthook", lambda args: reached.append(args))
    yield reached
    assert reached == []


@pytest.fixture(autouse=True)
def _workers_joined(qtbot):
    """Every DownloadBox worker is cancelled and joined after the test, even a failed one (a QThread
    destroyed while running aborts the process)."""
    yield
    for box in QApplication.topLevelWidgets() + [w for w in QApplication.allWidgets() if isinstance(w, DownloadBox)]:
        worker = getattr(box, "worker", None)
        if worker is not None and not worker.is_done():
            worker.cancel()
            worker.wait(20000)


def finish(qtbot, box: DownloadBox, worker) -> None:
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: not box.is_busy(), timeout=5000)


def test_variants_are_listed_by_family_with_rates_bitrate_size_and_licence(qtbot, fake_family):
    box = DownloadBox()
    qtbot.addWidget(box)
    families = [box.variants.topLevelItem(i) for i in range(box.variants.topLevelItemCount())]
    assert [g.text(COL_NAME) for g in families] == [f.label for f in registry.families() if f.variants]
    assert box.variant_ids() == [v.id for v in registry.variants()]
    fake = families[-1]
    assert fake.text(COL_NAME) == "Fake codec" and fake.childCount() == 3
    full = fake.child(0)
    assert full.text(COL_NAME) == "fake_full (fake)"
    assert full.text(COL_RATES) == "16 \u2192 24 kHz" and full.text(COL_TOKENS) == "1 \u00d7 65536 @ 50 Hz"
    assert full.text(COL_BITRATE) == "0.8 kbps" and full.text(COL_LICENCE) == "cc-by-nc-4.0"
    assert full.text(COL_SIZE) == registry.format_size(sum(len(d) for d in FAKE_FILES.values()))
    assert box.selected_variant().id == "xy_tokenizer_16k"  # the default variant is preselected


def test_non_commercial_licence_is_shown_and_must_be_ticked(qtbot, fake_family):
    box = DownloadBox()
    qtbot.addWidget(box)
    box.select_variant("fake_full")
    assert "cc-by-nc-4.0" in box.details.text() and "non-commercial use only" in box.details.text()
    assert "creativecommons.org/licenses/by-nc/4.0" in box.details.text()
    assert f"{SEMANTIC_REPO}/model.safetensors" in box.details.text()
    assert box.accept_licence.isVisibleTo(box) and not box.accept_licence.isChecked()
    assert not box.download_button.isEnabled()

    assert box.start_download() is None
    assert "tick the box" in box.status.text() and fake_family.requests == []

    box.accept_licence.setChecked(True)
    assert box.download_button.isEnabled()
    box.select_variant("fake_lite")  # another variant: no tick needed, and the tick does not carry over
    assert not box.accept_licence.isVisibleTo(box) and box.download_button.isEnabled()
    box.select_variant("fake_full")
    assert not box.accept_licence.isChecked() and not box.download_button.isEnabled()


def test_download_of_a_multi_file_variant_with_progress_then_chosen(qtbot, fake_family, no_crash_dialog):
    panel = FirstRunPanel()
    qtbot.addWidget(panel)
    box = panel.download
    box.select_variant("fake_full")
    box.accept_licence.setChecked(True)
    progress = []
    with qtbot.waitSignal(panel.checkpointChosen, timeout=TIMEOUT_MS) as chosen:
        worker = box.start_download()
        worker.progress.connect(lambda done, total: progress.append((done, total)))
        assert box.cancel_button.isEnabled() and not box.download_button.isEnabled()
        assert not box.variants.isEnabled()
    path, config = chosen.args
    assert config is None and path == paths.models_dir() / "fake_full" / "model.safetensors"
    assert paths.find_default_checkpoint() == path
    total = sum(len(d) for d in FAKE_FILES.values())
    assert progress and progress[-1] == (total, total)
    qtbot.waitUntil(lambda: not box.is_busy(), timeout=5000)
    assert box.download_button.isEnabled() and not box.cancel_button.isEnabled() and box.variants.isEnabled()
    assert str(path) in box.status.text()
    assert box.variants.currentItem().text(COL_SIZE) == INSTALLED


def test_cancel_midway_installs_nothing(qtbot, fake_family, no_crash_dialog):
    box = DownloadBox()
    qtbot.addWidget(box)
    downloaded = []
    box.downloaded.connect(downloaded.append)
    fake_family.release_gets = threading.Event()  # the first body waits until Cancel was pressed
    worker = box.start_download("fake_lite")
    qtbot.waitUntil(lambda: bool(fake_family.gets()), timeout=TIMEOUT_MS)
    with qtbot.waitSignal(worker.cancelled, timeout=TIMEOUT_MS):
        box.cancel()
        assert box.status.text() == "Cancelling\u2026"
        fake_family.release_gets.set()
    qtbot.waitUntil(lambda: not box.is_busy(), timeout=5000)
    assert not downloaded and box.status.text() == "Download cancelled."
    assert paths.find_default_checkpoint() is None
    assert not (paths.models_dir() / "fake_lite").exists()


def _refused(hub, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    return "16k", f"127.0.0.1:{port}"


def _not_found(hub, monkeypatch):
    return "24k", "HTTP 404"


def _offline(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return "16k", "offline mode is on"


def _checksum(hub, monkeypatch):
    hub.advertised_sha256 = hashlib.sha256(b"another file").hexdigest()
    return "16k", "is corrupt: its sha256 is"


@pytest.mark.parametrize("fault", [_refused, _not_found, _offline, _checksum],
                         ids=["refused", "404", "offline", "sha256"])
def test_expected_network_errors_are_one_line_without_traceback(qtbot, hub, monkeypatch, caplog, fault,
                                                                no_crash_dialog):
    variant, expected = fault(hub, monkeypatch)
    box = DownloadBox()
    qtbot.addWidget(box)
    downloaded = []
    box.downloaded.connect(downloaded.append)
    errors = []
    with caplog.at_level(logging.DEBUG):
        worker = box.start_download(variant)
        worker.error.connect(errors.append)
        finish(qtbot, box, worker)
    text = box.status.text()
    assert text.startswith("The download failed: ") and expected in text, text
    assert "Traceback" not in text and "\n" not in text
    assert not any("Traceback" in r.getMessage() or r.exc_info for r in caplog.records)
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)
    assert errors == [] and downloaded == []  # not the worker's error path (that one logs a traceback)
    assert box.download_button.isEnabled() and not box.cancel_button.isEnabled()
    assert installed_tree() == []


def test_open_a_model_folder(qtbot, tmp_path):
    panel = FirstRunPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.checkpointChosen, timeout=5000) as chosen:
        panel.open_checkpoint(tmp_path)
    assert chosen.args == [tmp_path, None]
    assert panel.open_folder_button.text() == "Open folder\u2026"
