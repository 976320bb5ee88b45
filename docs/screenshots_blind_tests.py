"""Screenshots of the blind-test screens (docs/screenshot-abx.png, -abx-result.png, -mushra.png,
-listening-results.png).

Run under a bare X server from the repository root::

    Xvfb :98 -screen 0 1280x800x24 &
    DISPLAY=:98 python docs/screenshots_blind_tests.py

Builds the screens on real reconstructions (the tiny XY-Tokenizer and X-Codec fixture models
of tests/fixtures), answers a few trials, and captures the whole X screen with ImageMagick's
``import -window root`` after each screen is shown.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import xy_tokenizer  # noqa: E402
from app.blind_tests.abx_dialog import AbxDialog  # noqa: E402
from app.blind_tests.inputs import BlindClip  # noqa: E402
from app.blind_tests.mushra_dialog import MushraDialog  # noqa: E402
from app.blind_tests.results_dialog import ResultsDialog  # noqa: E402
from tests.synth import speech_like  # noqa: E402

RATE = 16000


def clips() -> list[BlindClip]:
    fixtures = ROOT / "tests" / "fixtures"
    codecs = {"xy-tiny16k": xy_tokenizer.load(fixtures / "tiny16k" / "model.ckpt",
                                              config=fixtures / "tiny16k" / "config.yaml", device="cpu"),
              "xcodec-tiny": xy_tokenizer.load(fixtures / "xcodec-tiny" / "xcodec_tiny.pth", device="cpu")}
    out = []
    for seed in (0, 3):
        audio = speech_like(3.0, RATE, seed=seed)
        audio = audio + np.float32(0.02) * np.random.default_rng(seed).standard_normal(audio.size).astype(np.float32)
        recs = {label: (codec.decode(codec.encode(audio, RATE))[0], codec.output_sample_rate, codec.bitrate)
                for label, codec in codecs.items()}
        out.append(BlindClip(f"speaker{seed + 1}.wav", (audio, RATE), recs))
    return out


def capture(app: QApplication, dialog, path: Path) -> None:
    dialog.move(0, 0)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    QTest.qWaitForWindowExposed(dialog)
    QTest.qWait(400)
    subprocess.run(["import", "-window", "root", "-crop", f"{dialog.frameGeometry().width()}x"
                    f"{dialog.frameGeometry().height()}+0+0", str(path)], check=True)
    print("wrote", path)


def main() -> None:
    app = QApplication(sys.argv[:1])
    docs = ROOT / "docs"
    data = clips()
    with tempfile.TemporaryDirectory() as tmp:
        abx = AbxDialog(data[0], folder=Path(tmp), seed=12, rater="demo")
        abx.trials_spin.setValue(16)
        abx.start()
        for i in range(4):
            abx.answer(abx.session.trials[i].x)
        abx.player.select("X")
        capture(app, abx, docs / "screenshot-abx.png")
        abx.close()

        mushra = MushraDialog(data, folder=Path(tmp), seed=5, rater="demo")
        mushra.start()
        for position, value in enumerate((92, 35, 64)):
            mushra.sliders[position].setValue(value)
        mushra.player.select("2")
        capture(app, mushra, docs / "screenshot-mushra.png")
        # finish the session (and an ABX one) for the results view
        for ratings in ({"reference": 100, "anchor": 22, "xy-tiny16k": 41, "xcodec-tiny": 63},
                        {"reference": 95, "anchor": 15, "xy-tiny16k": 52, "xcodec-tiny": 70}):
            for position, condition in enumerate(mushra.session.trials[mushra.index].order):
                mushra.sliders[position].setValue(ratings[condition])
            mushra.next_trial()
        mushra.close()
        for i in range(4, 16):
            abx.answer(abx.session.trials[i].x if i % 4 else "A")
        capture(app, abx, docs / "screenshot-abx-result.png")
        abx.close()
        results = ResultsDialog(folder=Path(tmp))
        capture(app, results, docs / "screenshot-listening-results.png")


if __name__ == "__main__":
    main()
