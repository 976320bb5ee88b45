"""Shared test fixtures: fixture model paths and an isolated user home."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
for _var in ("HF_HUB_OFFLINE", "HF_ENDPOINT"):
    os.environ.pop(_var, None)
# huggingface_hub reads HF_HUB_OFFLINE once, at its first import: import it now, before any
# test sets the variable, so that one test's offline mode does not leak into the others.
import huggingface_hub.constants  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]
#: Reference outputs on tiny models, committed with the tests (see tests/fixtures/README.md).
FIXTURES = ROOT / "tests" / "fixtures"


from tests.pulse import pulse_server, sound_server  # noqa: E402,F401  (session fixtures)


@pytest.fixture(scope="session", autouse=True)
def _sound_server_before_qt(sound_server):
    """Bring the PulseAudio null sink up before any test can make Qt probe for audio."""
    return sound_server


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Point every user folder (settings, models, logs) into this test's tmp dir."""
    home = tmp_path / "xytok-home"
    monkeypatch.setenv("XYTOK_HOME", str(home))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return home


def fixture_dir(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_dir():
        pytest.fail(f"fixture folder {path} is missing from the checkout (tests/fixtures)")
    return path


@pytest.fixture(scope="session")
def tiny16k_dir() -> Path:
    return fixture_dir("tiny16k")


@pytest.fixture(scope="session")
def tiny24k_dir() -> Path:
    return fixture_dir("tiny24k")


@pytest.fixture(scope="session")
def tiny16k_ckpt(tiny16k_dir) -> Path:
    return tiny16k_dir / "model.ckpt"


@pytest.fixture(scope="session")
def tiny24k_ckpt(tiny24k_dir) -> Path:
    return tiny24k_dir / "model.ckpt"


@pytest.fixture(scope="session")
def tiny16k_codec(tiny16k_dir):
    """The tiny 16 kHz fixture model on CPU (shared: loading is cheap but not free)."""
    import xy_tokenizer

    return xy_tokenizer.load(tiny16k_dir / "model.ckpt", config=tiny16k_dir / "config.yaml", device="cpu")


@pytest.fixture(scope="session")
def tiny24k_codec(tiny24k_dir):
    import xy_tokenizer

    return xy_tokenizer.load(tiny24k_dir / "model.ckpt", config=tiny24k_dir / "config.yaml", device="cpu")


def load_manifest(name: str) -> dict:
    return json.loads((FIXTURES / "manifests" / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def xcodec_tiny_expected() -> dict:
    """The X-Codec reference outputs on the tiny fixture (``expected.npz`` as a dict of arrays)."""
    import numpy as np

    with np.load(fixture_dir("xcodec-tiny") / "expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def xcodec_tiny_codec():
    """The tiny X-Codec fixture model on CPU."""
    import xy_tokenizer

    return xy_tokenizer.load(fixture_dir("xcodec-tiny") / "xcodec_tiny.pth", device="cpu")
