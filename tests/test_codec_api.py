"""The public Python API: shapes, rates, resampling, validation, progress and cancel."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import xy_tokenizer
from xy_tokenizer import AudioError, Cancelled, TokenFileError, XYTokenizerError


def speechlike(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 * (1 + np.sin(2 * np.pi * 2.5 * t))
    return (0.2 * voice * env + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_round_trip_shapes_and_facts(tiny24k_codec):
    codec = tiny24k_codec
    assert (codec.input_sample_rate, codec.output_sample_rate) == (16000, 24000)
    assert codec.frame_rate == 12.5 and codec.num_quantizers == 8 and codec.codebook_size == 128
    assert codec.variant == "custom-24k" and codec.output_samples_per_token == 1920
    wave = speechlike(3.3)
    codes = codec.encode([wave])
    assert len(codes) == 1 and codes[0].shape == (8, len(wave) // 1280)
    assert codes[0].min() >= 0 and codes[0].max() < codec.codebook_size
    audio = codec.decode(codes)
    assert audio[0].dtype == np.float32 and audio[0].shape == (codes[0].shape[1] * 1920,)
    assert np.isfinite(audio[0]).all()


def test_single_array_and_torch_input(tiny16k_codec):
    wave = speechlike(2.0)
    a = tiny16k_codec.encode(wave)[0]
    b = tiny16k_codec.encode([torch.from_numpy(wave)])[0]
    c = tiny16k_codec.encode([wave[None, :]])[0]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_other_rates_are_resampled(tiny16k_codec):
    import soxr

    wave44 = soxr.resample(speechlike(2.5), 16000, 44100).astype(np.float32)
    codes = tiny16k_codec.encode([wave44], sample_rate=44100)[0]
    assert codes.shape == (8, round(len(wave44) * 16000 / 44100) // 1280)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_decode_first_k_levels(tiny16k_codec, k):
    codes = tiny16k_codec.encode([speechlike(2.0)])[0]
    full = tiny16k_codec.decode([codes[:k]])[0]
    same = tiny16k_codec.decode([codes], num_quantizers=k)[0]
    assert full.shape == (codes.shape[1] * 1280,)
    np.testing.assert_allclose(full, same, atol=1e-6)


def test_too_short_clip_says_so(tiny16k_codec):
    with pytest.raises(AudioError, match="shorter than one token.*0.08 s"):
        tiny16k_codec.encode([np.zeros(1279, np.float32)])
    assert tiny16k_codec.encode([np.zeros(1280, np.float32)])[0].shape == (8, 1)


def test_invalid_audio_rejected(tiny16k_codec):
    bad = speechlike(1.0)
    bad[100] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        tiny16k_codec.encode([bad])
    with pytest.raises(AudioError, match="mono"):
        tiny16k_codec.encode([np.zeros((2, 16000), np.float32)])


@pytest.mark.parametrize("codes, message", [
    (np.zeros((9, 5), np.int64), "levels"),
    (np.zeros((8, 5), np.float32), "integer"),
    (np.full((8, 5), 128), "outside"),
    (np.full((8, 5), -1), "outside"),
    (np.zeros((8, 0), np.int64), "no frames"),
    (np.zeros(5, np.int64), "shape"),
])
def test_invalid_codes_rejected(tiny16k_codec, codes, message):
    with pytest.raises(TokenFileError, match=message):
        tiny16k_codec.decode([codes])


def test_progress_per_window_and_cancel(tiny16k_codec):
    waves = [speechlike(65.0), speechlike(5.0, seed=1)]
    calls = []
    tiny16k_codec.encode(waves, batch_size=1, progress=lambda d, t: calls.append((d, t)))
    # 65 s: windows at 0, 20, 40, 60 s; 5 s: one window.
    assert calls == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    seen = []

    def cancel():
        return len(seen) >= 2

    with pytest.raises(Cancelled):
        tiny16k_codec.encode(waves, batch_size=1, progress=lambda d, t: seen.append(d), cancel=cancel)
    assert seen == [0, 1]


def test_decode_progress_and_cancel(tiny16k_codec):
    codes = [np.zeros((8, 600), np.int64)]  # windows at 0, 250, 500 tokens
    calls = []
    audio = tiny16k_codec.decode(codes, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)
    assert audio[0].shape == (600 * 1280,)
    with pytest.raises(Cancelled):
        tiny16k_codec.decode(codes, cancel=lambda: True)


def test_overlap_is_configurable(tiny16k_codec):
    wave = speechlike(45.0)
    default = tiny16k_codec.encode([wave])[0]
    less = tiny16k_codec.encode([wave], overlap=6.4)[0]
    assert default.shape == less.shape
    np.testing.assert_array_equal(default[:, :250], less[:, :250])
    with pytest.raises(XYTokenizerError, match="overlap"):
        tiny16k_codec.encode([wave], overlap=30)
    with pytest.raises(XYTokenizerError, match="whole number of tokens"):
        tiny16k_codec.encode([wave], overlap=0.05)


def test_reduced_precision_keeps_quantizer_in_float32(tiny16k_dir):
    codec = xy_tokenizer.load(tiny16k_dir / "model.ckpt", config=tiny16k_dir / "config.yaml",
                              device="cpu", dtype="bfloat16")
    assert codec.model.semantic_encoder.conv1.weight.dtype == torch.bfloat16
    assert codec.model.quantizer.quantizers[0].codebook.dtype == torch.float32
    assert codec.model.quantizer.input_proj.folded.dtype == torch.float32
    codes = codec.encode([speechlike(2.0)])[0]
    assert codes.shape == (8, 25)
    assert np.isfinite(codec.decode([codes])[0]).all()


def test_unknown_device_and_dtype(tiny16k_dir):
    with pytest.raises(XYTokenizerError, match="dtype"):
        xy_tokenizer.load(tiny16k_dir / "model.ckpt", config=tiny16k_dir / "config.yaml", dtype="int8")
    if not torch.cuda.is_available():
        with pytest.raises(XYTokenizerError, match="CUDA is not available"):
            xy_tokenizer.load(tiny16k_dir / "model.ckpt", config=tiny16k_dir / "config.yaml", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu_tokens(tiny16k_dir, tiny16k_codec):
    gpu = xy_tokenizer.load(tiny16k_dir / "model.ckpt", config=tiny16k_dir / "config.yaml", device="cuda")
    wave = speechlike(12.0)
    a, b = gpu.encode([wave])[0], tiny16k_codec.encode([wave])[0]
    assert (a == b).mean() >= 0.999


def test_engine_import_loads_no_qt():
    code = (
        "import sys, xy_tokenizer\n"
        "import importlib, pkgutil\n"
        "names = [m.name for m in pkgutil.walk_packages(xy_tokenizer.__path__, 'xy_tokenizer.')]\n"
        "assert 'xy_tokenizer.codecs.xy.model' in names and 'xy_tokenizer.cli.info' in names, names\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_costly_options_are_named_by_their_family(tiny16k_codec):
    """Only XY-Tokenizer's own rule speaks about its overlap; the interface default is silent."""
    from tests.families import toy

    assert any("375" in w for w in tiny16k_codec.encode_warnings(overlap=29.92))
    assert tiny16k_codec.encode_warnings(overlap=10) == [] and tiny16k_codec.encode_warnings() == []
    assert toy.from_variant("toy_rvq_8k").encode_warnings(overlap=29.92) == []
