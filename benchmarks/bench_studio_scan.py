"""How long the studio's window stops answering while a dropped folder is listed.

Run from the repository root: ``python -m benchmarks.bench_studio_scan [--files 2000 20000]``
(offscreen: ``QT_QPA_PLATFORM=offscreen``). For each size it writes that many short WAVs in
20 subfolders, then measures in one run:

* ``gui thread``: the scan done where issue 10 found it, on the GUI thread (the whole scan
  is one freeze: its duration is the longest gap);
* ``studio``: ``MainWindow.add_paths`` as a drop calls it (walk and headers on the task
  runner's ``scan`` lane, rows added in batches), with the longest gap between the ticks of a
  10 ms timer from the drop until the last row is listed.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

TICK_MS = 10
SUBFOLDERS = 20


def make_folder(root: Path, count: int) -> Path:
    clip = (0.1 * np.sin(np.arange(800) / 8)).astype(np.float32)
    for index in range(count):
        folder = root / f"d{index % SUBFOLDERS:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(str(folder / f"f{index:05d}.wav"), clip, 16000)
    return root


def gui_thread_scan(root: Path) -> float:
    """Seconds the GUI thread is busy when it scans the folder itself."""
    from app.token_files import scan_paths

    start = time.perf_counter()
    rows = [row for batch in scan_paths([root]) for row in batch.rows]
    assert rows
    return time.perf_counter() - start


def studio_scan(app: QApplication, root: Path) -> tuple[float, float, int]:
    """(longest event-loop gap s, seconds until listed, rows) of a drop on the studio window."""
    from app.main_window import MainWindow
    from app.settings import Settings

    window = MainWindow(Settings())
    window.show()
    for _ in range(5):
        app.processEvents()
    gaps, last = [], [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    done = []
    window.pathsAdded.connect(done.append)
    start = time.perf_counter()
    timer.start()
    window.add_paths([root])
    last[0] = time.perf_counter()
    while not done:
        app.processEvents()
    took = time.perf_counter() - start
    timer.stop()
    rows = window.files.rowCount()
    window.close()
    return max(gaps), took, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    print(f"{'files':>7} {'gui-thread freeze':>18} {'studio longest gap':>19} {'listed in':>10} {'ratio':>6}")
    for count in args.files:
        with tempfile.TemporaryDirectory() as tmp:
            root = make_folder(Path(tmp) / "many", count)
            freeze = gui_thread_scan(root)
            gap, took, rows = studio_scan(app, root)
            if rows != count:
                raise SystemExit(f"listed {rows} of {count} files")
            print(f"{count:>7} {freeze * 1000:>15.0f} ms {gap * 1000:>16.0f} ms {took:>8.2f} s {freeze / gap:>5.1f}x")


if __name__ == "__main__":
    main()
