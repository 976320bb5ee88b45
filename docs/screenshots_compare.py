"""Build the studio with three tiny codecs (XY-Tokenizer and X-Codec fixtures, the test FSQ family) and one clip, run
"Reconstruct with codecs", and save screenshots of the comparison screens.

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 python docs/screenshots_compare.py docs/

Writes ``screenshot-studio.png`` (the main model's tab after "Reconstruct all" on three clips and
a damaged file, codebook dock), ``screenshot-compare.png`` (the window: stacked views, source bar, Codecs dock),
``screenshot-compare-scores.png`` (the Codec scores dock) and ``compare-metric-vs-bitrate.png``
(the exported plot). With ``--grab`` the window is grabbed by Qt instead of ``import -window root``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"


def wait(app: QApplication, condition, timeout_s: float = 300.0) -> None:
    loop_timer = QTimer()
    loop_timer.setSingleShot(True)
    loop_timer.start(int(timeout_s * 1000))
    while not condition():
        if not loop_timer.isActive():
            raise SystemExit("timed out waiting for the studio")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--grab", action="store_true", help="grab the window with Qt (no X server needed)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv)
    from app.main_window import MainWindow
    from app.settings import Settings
    from tests.synth import speech_like, write

    clip = Path(tempfile.mkdtemp()) / "speech.wav"
    write(clip, speech_like(2.0, 16000, seed=3), 16000)
    others = [clip.parent / "set" / "speaker2.flac", clip.parent / "set" / "speaker3.wav"]
    write(others[0], speech_like(3.0, 44100, seed=4), 44100)
    write(others[1], speech_like(1.5, 22050, seed=5), 22050)
    (clip.parent / "set" / "damaged.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt not really audio")
    settings = Settings()
    settings.device = "cpu"
    settings.checkpoint = str(FIXTURES / "tiny16k" / "model.ckpt")
    settings.config = str(FIXTURES / "tiny16k" / "config.yaml")
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()
    window.bench.add_checkpoint(FIXTURES / "tiny16k" / "model.ckpt", FIXTURES / "tiny16k" / "config.yaml",
                                label="XY-tiny16k")
    window.bench.add_checkpoint(FIXTURES / "xcodec-tiny" / "xcodec_tiny.pth", label="X-Codec-tiny")
    from tests.families import fsq          # a test-only FSQ family (1 x 65,536 codes), like NeuCodec
    from xy_tokenizer import registry

    registry.register_family(fsq.FAMILY)
    window.bench.add_checkpoint(fsq.save_checkpoint(clip.parent / "fsq.safetensors"), label="FSQ-toy")
    added = []
    window.pathsAdded.connect(added.extend)
    window.add_paths([clip])
    wait(app, lambda: added)
    window.add_paths([clip.parent / "set"])
    wait(app, lambda: len(window.files.rows()) >= 4)
    window.reconstruct_all()
    wait(app, lambda: all(r.status.name in ("DONE", "FAILED") for r in window.files.rows())
         and not window.tasks.is_busy("jobs"))
    window.file_view.select_position(0)
    window.view_tabs.setCurrentIndex(0)
    window.panels["codebookDock"].raise_()
    for _ in range(30):
        app.processEvents()
    shoot_main = args.out / "screenshot-studio.png"
    if args.grab:
        window.grab().save(str(shoot_main))
    else:
        subprocess.run(["import", "-window", "root", str(shoot_main)], check=True)
    print("wrote", shoot_main)
    window.reconstruct_with_codecs([added[0].uid])
    wait(app, lambda: not window.bench.is_busy() and window.source_bar.isVisible()
         and len(window.bench_view.specs) == 4)
    window.panels["logDock"].hide()
    window.panels["codecsDock"].raise_()
    window.resizeDocks([window.panels["codecsDock"]], [560], Qt.Orientation.Horizontal)
    window.splitter.setSizes([300, 1000])
    window.listen_to(2)
    window.comparison.timeline.set_region((0.5, 1.2))
    window.act_loop.setChecked(True)
    for _ in range(20):
        app.processEvents()

    def shoot(name: str, widget=None) -> None:
        path = args.out / name
        if args.grab or widget is not None:
            (widget or window).grab().save(str(path))
        else:
            subprocess.run(["import", "-window", "root", str(path)], check=True)
        print("wrote", path)

    shoot("screenshot-compare.png")
    window.bench_view.show_waves.setChecked(False)   # spectrograms only: every view fits, FSQ digits at the bottom
    window.bench_view.log_freq.setChecked(True)
    window.bench_view.token_codec.setCurrentText("FSQ-toy")
    for _ in range(10):
        app.processEvents()
    shoot("screenshot-compare-logfreq.png", window.bench_view)
    scores = window.panels["benchMetricsDock"]
    scores.raise_()
    scores.setFloating(True)
    scores.resize(1000, 650)
    for _ in range(10):
        app.processEvents()
    shoot("screenshot-compare-scores.png", scores)
    scores.export_png(args.out / "compare-metric-vs-bitrate.png")
    window.close()


if __name__ == "__main__":
    main()
