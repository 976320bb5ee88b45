"""X-Codec speed and memory, full-size model with random weights of the released shapes.

Builds ``from_variant`` (no download) and reports, on CPU (and on CUDA when present):

* encode and decode of one ``--seconds`` clip (default 10 s): wall seconds and real-time
  factor (RTF = wall seconds per audio second; below 1 is faster than real time);
* peak resident memory (``ru_maxrss``) of a fresh subprocess that builds the model and then
  encodes and decodes a ``--long-minutes`` input (default 10 min) on the windowed path
  (30 s windows), against the same process's peak right after building the model.

    python benchmarks/bench_xcodec.py                       # CPU, 10 s clip, 10 min RSS run
    python benchmarks/bench_xcodec.py --long-minutes 2      # shorter memory run
    python benchmarks/bench_xcodec.py --variant xcodec_wavlm_mls --dtype bfloat16
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

from xy_tokenizer.codecs.xcodec import loader

SAMPLE_RATE = 16000


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated test signal ``(16000 * seconds,)`` float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 110 + 40 * np.sin(2 * np.pi * 0.5 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 16))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3.0 * t + seed)) ** 2
    return (0.15 * voice * env + 0.005 * rng.standard_normal(len(t))).astype(np.float32)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def speed(variant: str, device: str, dtype: str, seconds: float) -> dict:
    codec = loader.from_variant(variant, device=device, dtype=dtype)
    wav = speechlike(seconds)
    codec.encode(speechlike(1.0))  # warm-up (allocations, kernels)
    _sync(device)
    start = time.perf_counter()
    codes = codec.encode(wav)[0]
    _sync(device)
    enc = time.perf_counter() - start
    start = time.perf_counter()
    audio = codec.decode(codes)[0]
    _sync(device)
    dec = time.perf_counter() - start
    return {"variant": variant, "device": device, "dtype": dtype, "seconds": seconds, "frames": int(codes.shape[1]),
            "encode_s": round(enc, 2), "encode_rtf": round(enc / seconds, 3),
            "decode_s": round(dec, 2), "decode_rtf": round(dec / seconds, 3), "output_samples": int(audio.size),
            "threads": torch.get_num_threads()}


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def long_child(variant: str, dtype: str, minutes: float) -> dict:
    """In a fresh process: build, then encode + decode ``minutes`` of audio on the windowed path."""
    codec = loader.from_variant(variant, device="cpu", dtype=dtype)
    after_build = _max_rss_mb()
    wav = speechlike(minutes * 60)
    windows = []
    start = time.perf_counter()
    codes = codec.encode(wav, progress=lambda d, t: windows.append((d, t)))[0]
    enc = time.perf_counter() - start
    after_encode = _max_rss_mb()
    start = time.perf_counter()
    audio = codec.decode(codes)[0]
    dec = time.perf_counter() - start
    return {"minutes": minutes, "encode_windows": windows[-1][1], "frames": int(codes.shape[1]),
            "output_samples": int(audio.size), "encode_s": round(enc, 1), "decode_s": round(dec, 1),
            "peak_rss_after_build_mb": round(after_build), "peak_rss_after_encode_mb": round(after_encode),
            "peak_rss_mb": round(_max_rss_mb())}


def long_run(variant: str, dtype: str, minutes: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--variant", variant, "--dtype", dtype,
           "--long-minutes", str(minutes)]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if run.returncode != 0:
        raise SystemExit(f"memory run failed:\n{run.stderr[-4000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="xcodec_hubert_librispeech")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length for the speed run")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="input length of the memory run (0: skip)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(long_child(args.variant, args.dtype, args.long_minutes)))
        return
    results = [speed(args.variant, "cpu", args.dtype, args.seconds)]
    if torch.cuda.is_available():
        results.append(speed(args.variant, "cuda", args.dtype, args.seconds))
    for r in results:
        print(f"{r['device']:>5} {r['dtype']}: {r['seconds']:g} s clip ({r['frames']} frames): "
              f"encode {r['encode_s']} s (RTF {r['encode_rtf']}), decode {r['decode_s']} s (RTF {r['decode_rtf']}), "
              f"{r['threads']} threads")
    if args.long_minutes > 0:
        mem = long_run(args.variant, args.dtype, args.long_minutes)
        print(f"  cpu windowed {mem['minutes']:g} min: {mem['encode_windows']} encode windows, encode {mem['encode_s']} s, "
              f"decode {mem['decode_s']} s; peak RSS {mem['peak_rss_after_build_mb']} MB after building, "
              f"{mem['peak_rss_after_encode_mb']} MB after encode, {mem['peak_rss_mb']} MB after decode")
        results.append({"memory": mem})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
