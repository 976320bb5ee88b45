"""JobWorker: signals, order, errors, cancel, GUI-thread delivery; ModelLoader."""
from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QObject, Signal

from app.worker import JobWorker, ModelLoader, wait_for_detached
from xy_tokenizer.errors import AudioError, Cancelled

pytestmark = pytest.mark.gui
TIMEOUT = 20000


def record(worker: JobWorker) -> list:
    """Every signal of ``worker`` as (name, args, ran_in_main_thread), in arrival order."""
    seen = []
    for name in ("started", "progress", "event", "result", "error", "cancelled", "finished"):
        getattr(worker, name).connect(
            lambda *args, n=name: seen.append((n, args, threading.current_thread() is threading.main_thread())))
    return seen


def run(qtbot, worker: JobWorker) -> list:
    seen = record(worker)
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT):
        worker.start()
    return seen


def test_plain_function_result(qtbot):
    def job(report, is_cancelled):
        report(1, 2)
        report(2, 2)
        return threading.current_thread() is threading.main_thread()

    worker = JobWorker(job)
    seen = run(qtbot, worker)
    assert [s[0] for s in seen] == ["started", "progress", "progress", "result", "finished"]
    assert seen[1][1] == (1.0, 2.0) and seen[2][1] == (2.0, 2.0)
    assert seen[3][1] == (False,), "the job must run off the GUI thread"
    assert all(in_main for _n, _a, in_main in seen), "signals must arrive in the GUI thread"
    assert worker.is_done() and worker.wait(0)


def test_generator_events_and_return_value(qtbot):
    def job(report, is_cancelled):
        def events():
            for i in range(5):
                report(i + 1, 5)
                yield {"i": i}
            return "all done"
        return events()

    seen = run(qtbot, JobWorker(job))
    assert [a[0]["i"] for n, a, _ in seen if n == "event"] == list(range(5))
    names = [s[0] for s in seen]
    assert names.count("progress") == 5
    assert names[-2:] == ["result", "finished"] and seen[-2][1] == ("all done",)


def test_error_becomes_a_message_and_finished_still_fires(qtbot):
    def job(report, is_cancelled):
        raise ValueError("bad thing")

    seen = run(qtbot, JobWorker(job))
    assert [s[0] for s in seen] == ["started", "error", "finished"]
    assert seen[1][1] == ("ValueError: bad thing",)


def test_engine_errors_keep_their_message(qtbot):
    def job(report, is_cancelled):
        raise AudioError("/x.wav: the file is empty (0 bytes)")

    seen = run(qtbot, JobWorker(job))
    assert ("error", ("/x.wav: the file is empty (0 bytes)",)) in [(n, a) for n, a, _ in seen]


def test_cancel_midway(qtbot):
    release = threading.Event()
    steps = []

    def job(report, is_cancelled):
        def events():
            for i in range(10_000):
                if is_cancelled():
                    return "stopped"
                steps.append(i)
                report(i, 10_000)
                yield i
                release.wait(0.01)
        return events()

    worker = JobWorker(job)
    seen = record(worker)
    worker.progress.connect(lambda done, total: worker.cancel())
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT):
        worker.start()
    names = [s[0] for s in seen]
    assert "cancelled" in names and "result" not in names
    assert names[-1] == "finished"
    assert len(steps) < 10_000


def test_cancelled_exception_is_a_cancel(qtbot):
    def job(report, is_cancelled):
        raise Cancelled("stop")

    seen = run(qtbot, JobWorker(job))
    assert [s[0] for s in seen] == ["started", "cancelled", "finished"]


def test_a_worker_runs_once(qtbot):
    worker = JobWorker(lambda report, is_cancelled: 1)
    run(qtbot, worker)
    with pytest.raises(RuntimeError, match="already started"):
        worker.start()


def test_detached_worker_is_joined_later(qtbot):
    gate = threading.Event()

    def job(report, is_cancelled):
        gate.wait(5)
        return 1

    worker = JobWorker(job)
    worker.start()
    assert not worker.wait(10)
    worker.detach()
    assert worker.is_cancel_requested() and worker.parent() is None
    gate.set()
    assert wait_for_detached(5000)


def test_model_loader_loads_the_fixture(qtbot, tiny16k_dir):
    loader = ModelLoader(tiny16k_dir / "model.ckpt", tiny16k_dir / "config.yaml", device="cpu")
    results = []
    loader.result.connect(results.append)
    run(qtbot, loader)
    codec = results[0]
    assert codec.num_quantizers == 8 and codec.output_sample_rate == 16000


def test_model_loader_reports_a_missing_checkpoint(qtbot, tmp_path):
    missing = tmp_path / "nope.ckpt"
    loader = ModelLoader(missing, device="cpu")
    errors = []
    loader.error.connect(errors.append)
    run(qtbot, loader)
    assert len(errors) == 1 and "nope.ckpt" in errors[0]


def test_signal_emission_keeps_bool_references():
    """PySide6 6.12.0 loses a reference to True per emit() (fatal after a few thousand):
    pyproject pins PySide6 below 6.12; this guards against an install that ignores the pin."""
    class Pinger(QObject):
        ping = Signal(int)

    pinger = Pinger()
    received = []
    pinger.ping.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(5000):
        pinger.ping.emit(i)
    assert len(received) == 5000
    assert sys.getrefcount(True) >= before
