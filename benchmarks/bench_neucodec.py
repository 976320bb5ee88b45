"""Speed and memory of NeuCodec / X-Codec2 at full size (random weights of the released shapes).

* encode / decode real-time factors (audio seconds per wall second) of one ``--seconds`` clip
  (default 10 s) on the chosen device (CUDA when present, else CPU), after one warm-up call;
* peak RSS (``resource.getrusage``, in a fresh subprocess) of a long input (default 10 minutes)
  encoded and decoded through the windowed path, against the same process's RSS after building
  the model: the difference is what the audio costs, bounded by the window;
* the ratio against the ``neucodec`` pip package when it imports here (it needs torchtune,
  torchao < 0.18, vector-quantize-pytorch and torchaudio); otherwise the reason it could not run.

One run on the 2-core CPU box (torch 2.13, float32, 2 threads, otherwise idle): NeuCodec 10 s clip
encode 6.3 s (RTF 1.6), decode 1.0 s (RTF 9.8); X-Codec2 the same (6.3 s / 1.0 s). 10-minute
NeuCodec input, 30 s / 4 s windows, batch 4: peak RSS 7.0 GB (3.1 GB after building), encode 886 s
and decode 151 s under load from other jobs. 1-minute input: +1.27 GB with 10 s windows against
+3.36 GB in one 60 s pass. The neucodec pip package is not installed (it needs torchaudio and
torchtune/torchao), so no ratio against it.

    python benchmarks/bench_neucodec.py                       # both families, CPU or CUDA
    python benchmarks/bench_neucodec.py --variant neucodec --long-minutes 0   # skip the RSS run
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xy_tokenizer.codecs.neucodec.loader import from_variant  # noqa: E402

RATE = 16000


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated test signal at 16 kHz, ``(S,)`` float32, peak about 0.3."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.4 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    x = voice * envelope + 0.05 * rng.standard_normal(t.shape)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_codec(variant: str, device: str, seconds: float, dtype: str) -> dict:
    t0 = time.perf_counter()
    codec = from_variant(variant, device=device, dtype=dtype, seed=0)
    build = time.perf_counter() - t0
    wav = speechlike(seconds)
    codec.encode(wav[: RATE * 2])  # warm-up
    t0 = time.perf_counter()
    codes = codec.encode(wav)[0]
    enc = time.perf_counter() - t0
    codec.decode(codes[:, :100])
    t0 = time.perf_counter()
    audio = codec.decode(codes)[0]
    dec = time.perf_counter() - t0
    return {"variant": variant, "device": codec.device, "dtype": codec.precision, "build_s": round(build, 1),
            "params_M": round(sum(p.numel() for p in codec.net.parameters()) / 1e6, 1),
            "clip_s": seconds, "encode_s": round(enc, 2), "decode_s": round(dec, 2),
            "encode_rtf": round(seconds / enc, 2), "decode_rtf": round(seconds / dec, 2),
            "tokens": int(codes.shape[-1]), "output_samples": int(audio.shape[0])}


def rss_child(variant: str, device: str, minutes: float, window: float, overlap: float) -> None:
    """Runs in a subprocess: build, note RSS, encode + decode a long input windowed, print JSON."""
    codec = from_variant(variant, device=device, seed=0)
    codec.encode(speechlike(2.0))
    base = _max_rss_mb()
    wav = speechlike(minutes * 60.0)
    t0 = time.perf_counter()
    codes = codec.encode(wav, window=window, overlap=overlap)[0]
    enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    codec.decode(codes, window=window, overlap=overlap)
    dec = time.perf_counter() - t0
    print(json.dumps({"variant": variant, "minutes": minutes, "window_s": window, "overlap_s": overlap,
                      "rss_after_build_mb": round(base), "peak_rss_mb": round(_max_rss_mb()),
                      "audio_cost_mb": round(_max_rss_mb() - base), "encode_s": round(enc, 1),
                      "decode_s": round(dec, 1)}))


def reference_ratio(ours: dict, seconds: float) -> str:
    try:
        from neucodec import NeuCodec  # noqa: F401
    except Exception as exc:  # the package or one of its heavy dependencies is missing
        return f"neucodec pip package not usable here ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    return ("neucodec imports, but its from_pretrained downloads the release (1.2 GB + 2.3 GB); "
            "this offline benchmark does not time it")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", choices=("neucodec", "xcodec2", "both"), default="both")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--long-minutes", type=float, default=10.0, help="0 skips the peak-RSS run")
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--overlap", type=float, default=4.0)
    ap.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    variants = ("neucodec", "xcodec2") if args.variant == "both" else (args.variant,)
    if args.rss_child:
        rss_child(variants[0], args.device, args.long_minutes, args.window, args.overlap)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for variant in variants:
        result = time_codec(variant, args.device, args.seconds, args.dtype)
        print(json.dumps(result))
        if variant == "neucodec":
            print("reference:", reference_ratio(result, args.seconds))
        if args.long_minutes > 0:
            out = subprocess.run([sys.executable, __file__, "--rss-child", "--variant", variant, "--device", args.device,
                                  "--long-minutes", str(args.long_minutes), "--window", str(args.window),
                                  "--overlap", str(args.overlap)], capture_output=True, text=True)
            print(out.stdout.strip() or f"RSS run failed: {out.stderr.strip().splitlines()[-1:]}")


if __name__ == "__main__":
    main()
