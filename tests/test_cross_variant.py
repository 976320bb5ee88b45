"""Tokens of one variant decode with another (the 24/32 kHz releases share tokens), and the
studio says which model decoded what."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.file_list import COL_NAME, COL_STATUS, RowStatus
from app.main_window import MainWindow
from app.provenance import decoded_by, is_cross_variant, model_name, reconstruction_label, token_variant
from app.settings import Settings
from xy_tokenizer.codecs.xy.codec import XYTokenizerCodec as Codec
from xy_tokenizer.jobs import JobItem, JobOptions, run_job
from xy_tokenizer.io.tokens import build_token_meta, save_tokens
from tests.synth import speech_like

JOB_TIMEOUT = 120000


@pytest.fixture(scope="module")
def codes16(tiny16k_codec):
    """Tokens (8, T) of a 2 s clip, made by the tiny 16 kHz model."""
    return tiny16k_codec.encode(speech_like(2.0, seed=31))[0]


@pytest.fixture
def token_file(tmp_path, tiny16k_codec, codes16):
    """tokens16.npy + sidecar written by the 16 kHz model."""
    path = tmp_path / "tokens16.npy"
    save_tokens(path, codes16, build_token_meta(tiny16k_codec, codes16))
    return path


def test_tokens_from_16k_decode_with_24k(tiny16k_codec, tiny24k_codec, codes16):
    audio24 = tiny24k_codec.decode(codes16)[0]
    assert tiny24k_codec.output_sample_rate == 24000
    assert audio24.shape == (codes16.shape[1] * 1920,) and audio24.dtype == np.float32
    assert np.all(np.isfinite(audio24)) and np.abs(audio24).max() > 0
    audio16 = tiny16k_codec.decode(codes16)[0]
    assert audio16.shape == (codes16.shape[1] * 1280,)


def _decode_file(codec, path):
    events = list(run_job(codec, [JobItem(path, path.relative_to(path.parent))], JobOptions(mode="decode")))
    (done,) = [e for e in events if e.kind == "file_done"]
    return done.result


def test_a_decoded_token_file_names_both_variants(tiny16k_codec, tiny24k_codec, token_file, codes16):
    result = _decode_file(tiny24k_codec, token_file)
    assert np.array_equal(result.codes, codes16)
    assert len(result.audio) == codes16.shape[1] * 1920
    assert token_variant(result) == "custom-16k"
    assert is_cross_variant(tiny24k_codec, result)
    assert decoded_by(tiny24k_codec, result) == "tokens from custom-16k decoded with custom-24k (model.ckpt)"
    assert reconstruction_label(tiny24k_codec, result, 8, 8) == (
        "Reconstruction (8/8 levels) \u00b7 tokens from custom-16k decoded with custom-24k (model.ckpt)")
    # the same file decoded by its own variant: no cross-variant note
    same = _decode_file(tiny16k_codec, token_file)
    assert not is_cross_variant(tiny16k_codec, same)
    assert decoded_by(tiny16k_codec, same) == "decoded with custom-16k (model.ckpt)"


def test_token_files_without_a_sidecar_and_models_without_a_file(tiny24k_codec, tiny24k_dir, tmp_path,
                                                                 codes16):
    bare = tmp_path / "bare.npy"
    np.save(bare, codes16.astype(np.int16))
    result = _decode_file(tiny24k_codec, bare)
    assert token_variant(result) is None and not is_cross_variant(tiny24k_codec, result)
    assert model_name(tiny24k_codec) == "custom-24k (model.ckpt)"
    unsaved = Codec.from_config(tiny24k_dir / "config.yaml", device="cpu")     # no checkpoint file
    assert model_name(unsaved) == "custom-24k"


@pytest.mark.gui
def test_the_studio_labels_a_cross_variant_decode(qtbot, tiny24k_dir, token_file, codes16):
    window = MainWindow(Settings(checkpoint=str(tiny24k_dir / "model.ckpt"),
                                 config=str(tiny24k_dir / "config.yaml"), device="cpu"))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.jobs.idle, timeout=JOB_TIMEOUT):
        window.add_paths([token_file])                   # token files decode right away
    (row,) = window.files.rows()
    assert row.status == RowStatus.DECODED and len(row.result.audio) == codes16.shape[1] * 1920
    window.file_view.select_position(0)
    made = "tokens from custom-16k decoded with custom-24k (model.ckpt)"
    assert window.comparison.reconstruction_wave.title() == f"Reconstruction (8/8 levels) \u00b7 {made}"
    assert window.comparison.reconstruction_spec.title() == f"Reconstruction (8/8 levels) \u00b7 {made}"
    assert made in window.files.index(0, COL_NAME).data(Qt.ItemDataRole.ToolTipRole)
    assert made in window.files.index(0, COL_STATUS).data(Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(lambda: f"tokens16.npy: {made}" in window.log_panel.text(), timeout=5000)
    assert window.player.duration() == pytest.approx(codes16.shape[1] * 1920 / 24000)

    with qtbot.waitSignal(window.progressive.reconstructionReady, timeout=JOB_TIMEOUT):
        window.progressive.set_levels(3)
    assert window.comparison.reconstruction_wave.title() == f"Reconstruction (3/8 levels) \u00b7 {made}"
    assert window.player.duration() == pytest.approx(codes16.shape[1] * 1920 / 24000)
    shown = window.progressive.cached(row.uid, 3, window.jobs.codec)
    assert len(shown) == codes16.shape[1] * 1920
    np.testing.assert_allclose(shown, window.jobs.codec.decode(codes16, num_quantizers=3)[0], atol=1e-6)
    window.close()
