"""TaskRunner: serial lanes, lanes side by side, latest request wins, dropped work still
finishes, shutdown cancels and joins."""
from __future__ import annotations

import threading

import pytest

from app.tasks import TaskRunner
from app.worker import JobWorker

pytestmark = pytest.mark.gui
TIMEOUT = 20000


def gated(name: str, log: list, gate: threading.Event | None = None, value=None) -> JobWorker:
    """A worker that records its start and end in ``log`` and, with a gate, waits for it
    (checking cancel every 10 ms)."""
    def job(report, is_cancelled):
        log.append(("run", name))
        while gate is not None and not gate.wait(0.01):
            if is_cancelled():
                log.append(("stopped", name))
                return None
        return value if value is not None else name

    worker = JobWorker(job, name=name)
    for signal in ("started", "result", "cancelled", "finished"):
        getattr(worker, signal).connect(lambda *args, s=signal: log.append((s, name)))
    return worker


def test_a_lane_runs_one_worker_at_a_time_in_order_and_lanes_run_side_by_side(qtbot):
    runner = TaskRunner()
    log: list = []
    gate = threading.Event()
    first = gated("first", log, gate)
    second = gated("second", log)
    other = gated("other", log)
    busy = []
    runner.laneBusy.connect(busy.append)
    runner.submit(first, "a")
    runner.submit(second, "a")
    assert runner.running("a") is first and runner.queued("a") == [second]
    assert not second.is_running()
    with qtbot.waitSignal(other.finished, timeout=TIMEOUT):
        runner.submit(other, "b")                # not behind the gated one
    assert ("started", "second") not in log and first.is_running()
    assert set(runner.live()) == {first}
    with qtbot.waitSignal(runner.laneIdle, timeout=TIMEOUT, check_params_cb=lambda lane: lane == "a"):
        gate.set()
    names = [entry for entry in log if entry[1] in ("first", "second")]
    assert names == [("started", "first"), ("run", "first"), ("result", "first"), ("finished", "first"),
                     ("started", "second"), ("run", "second"), ("result", "second"), ("finished", "second")]
    assert busy.count("a") == 1 and busy.count("b") == 1, "busy once per idle -> busy change"
    assert not runner.is_busy()
    qtbot.waitUntil(lambda: runner.live() == [], timeout=TIMEOUT)     # threads end just after their last signal


def test_latest_request_wins(qtbot):
    runner = TaskRunner()
    log: list = []
    gate = threading.Event()
    running = gated("running", log, gate)
    waiting = gated("waiting", log)
    latest = gated("latest", log)
    runner.submit(running, "p", key="k")
    runner.submit(waiting, "p", key="k")
    assert runner.queued("p") == [waiting]
    runner.submit(latest, "p", key="k", cancel_running=True)
    # the waiting one was dropped at once: cancelled then finished, never started
    assert [e for e in log if e[1] == "waiting"] == [("cancelled", "waiting"), ("finished", "waiting")]
    assert waiting.is_done() and running.is_cancel_requested()
    with qtbot.waitSignal(latest.finished, timeout=TIMEOUT):
        pass
    assert ("cancelled", "running") in log and ("result", "running") not in log
    assert ("result", "latest") in log
    assert ("run", "waiting") not in log


def test_unwanted_work_is_dropped_when_its_turn_comes(qtbot):
    runner = TaskRunner()
    log: list = []
    gate = threading.Event()
    wanted = {"value": True}
    head = gated("head", log, gate)
    maybe = gated("maybe", log)
    runner.submit(head, "w")
    runner.submit(maybe, "w", wanted=lambda: wanted["value"])
    wanted["value"] = False
    with qtbot.waitSignal(runner.laneIdle, timeout=TIMEOUT):
        gate.set()
    assert [e for e in log if e[1] == "maybe"] == [("cancelled", "maybe"), ("finished", "maybe")]


def test_front_goes_before_the_queued_ones(qtbot):
    runner = TaskRunner()
    log: list = []
    gate = threading.Event()
    workers = [gated(name, log, gate if name == "head" else None) for name in ("head", "back", "front")]
    runner.submit(workers[0], "f")
    runner.submit(workers[1], "f")
    runner.submit(workers[2], "f", front=True)
    assert runner.queued("f") == [workers[2], workers[1]]
    with qtbot.waitSignal(runner.laneIdle, timeout=TIMEOUT):
        gate.set()
    assert [n for kind, n in log if kind == "run"] == ["head", "front", "back"]


def test_shutdown_drops_the_queue_cancels_and_joins_and_refuses_new_work(qtbot):
    runner = TaskRunner()
    log: list = []
    never = threading.Event()
    running = [gated(f"run{i}", log, never) for i in range(3)]
    for index, worker in enumerate(running):
        runner.submit(worker, f"lane{index}")
    queued = gated("queued", log)
    runner.submit(queued, "lane0")
    tracked = gated("tracked", log, never)
    tracked.start()
    runner.track(tracked)
    qtbot.waitUntil(lambda: sum(kind == "run" for kind, _ in log) == 4, timeout=TIMEOUT)
    assert len(runner.live()) == 4
    assert runner.shutdown(5000) == [], "every worker stopped at its next check and was joined"
    assert all(w.wait(0) for w in running + [tracked])
    assert [e for e in log if e[1] == "queued"] == [("cancelled", "queued"), ("finished", "queued")]
    qtbot.waitUntil(lambda: all(w.is_done() for w in running + [tracked]), timeout=TIMEOUT)
    assert all(("cancelled", w.name) in log and ("finished", w.name) in log for w in running + [tracked])
    late = gated("late", log)
    runner.submit(late, "lane0")
    assert late.is_done() and ("run", "late") not in log and ("cancelled", "late") in log
