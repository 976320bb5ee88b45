"""Local pipeline throughput: read-ahead + writes behind the model against the plain loop.

Writes many short clips (FLAC at 44.1 kHz, so reading means decoding and resampling), then
encodes them with ``run_job`` twice per round: ``prefetch=False`` (read, model, write one after
the other on one thread) and ``prefetch=True`` (the default: the next files are read on a
background thread while the model runs, outputs written behind it). Prints files/s and
audio-hours per hour for both and their ratio, all from this one run (best of ``--rounds``),
and checks that both wrote identical tokens.

    python benchmarks/bench_pipeline.py                          # tiny fixture model, CPU
    python benchmarks/bench_pipeline.py --model 16k --device cuda --files 400 --seconds 4
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))           # the engine of this checkout, whatever is installed
TINY = ROOT / "tests" / "fixtures" / "tiny16k"


def speechlike(seconds: float, seed: int, rate: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 40 * np.sin(2 * np.pi * 0.5 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 16))
    envelope = np.clip(np.sin(2 * np.pi * 3 * t + seed), 0, None)
    return (0.3 * voice * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def load_codec(model: str, device: str, dtype: str):
    import xy_tokenizer
    from xy_tokenizer.codecs.xy.codec import XYTokenizerCodec

    if model == "tiny":
        return xy_tokenizer.load(TINY / "model.ckpt", config=TINY / "config.yaml", device=device, dtype=dtype)
    return XYTokenizerCodec.from_config(model, device=device, dtype=dtype)     # released shapes, random weights


def run(codec, items, out: Path, batch_size: int, prefetch: bool) -> tuple[float, float, int]:
    from xy_tokenizer.jobs import JobOptions, run_job

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    summary = None
    for event in run_job(codec, items, JobOptions("encode", out_dir=out, batch_size=batch_size,
                                                  keep_arrays=False), prefetch=prefetch):
        if event.summary is not None:
            summary = event.summary
    elapsed = time.perf_counter() - start
    if summary.failed:
        raise SystemExit(f"{summary.failed} files failed: {summary.failures[:3]}")
    return elapsed, summary.audio_seconds, summary.done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="tiny (the test fixture) or a released variant: 16k, 24k, 32k "
                                                       "(random weights)")
    parser.add_argument("--files", type=int, default=240)
    parser.add_argument("--seconds", type=float, default=1.5, help="length of each clip")
    parser.add_argument("--rate", type=int, default=44100, help="sample rate of the FLAC files")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="plain/prefetch pairs; the best of each is kept")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from xy_tokenizer.jobs import collect_inputs

    codec = load_codec(args.model, args.device, args.dtype)
    with tempfile.TemporaryDirectory(prefix="xytok-bench-") as tmp:
        root = Path(tmp)
        for i in range(args.files):
            length = args.seconds * (0.6 + 0.8 * (i % 5) / 4)           # 0.6x .. 1.4x: some padding to sort out
            path = root / "in" / f"d{i % 10}" / f"clip{i:05d}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, speechlike(length, i, args.rate), args.rate)
        items, _ = collect_inputs([root / "in"])
        run(codec, items[: args.batch_size * 2], root / "warm", args.batch_size, True)      # first-call costs
        best = {False: None, True: None}
        for _ in range(args.rounds):
            for prefetch in (False, True):
                elapsed, audio, done = run(codec, items, root / f"out-{prefetch}", args.batch_size, prefetch)
                if best[prefetch] is None or elapsed < best[prefetch][0]:
                    best[prefetch] = (elapsed, audio, done)
        for npy in (root / "out-False").rglob("*.npy"):
            twin = root / "out-True" / npy.relative_to(root / "out-False")
            if not np.array_equal(np.load(npy), np.load(twin)):
                raise SystemExit(f"tokens differ for {npy.name}")
    report = {"model": codec.variant, "device": str(codec.device), "files": args.files,
              "clip_seconds": args.seconds, "source_rate": args.rate, "batch_size": args.batch_size}
    for prefetch, (elapsed, audio, done) in best.items():
        key = "prefetch" if prefetch else "plain"
        report[key] = {"seconds": round(elapsed, 3), "files_per_second": round(done / elapsed, 2),
                       "audio_hours_per_hour": round(audio / elapsed, 1)}
    report["speedup"] = round(best[False][0] / best[True][0], 3)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.files} FLAC clips of ~{args.seconds:g} s at {args.rate} Hz, {codec.variant} on {codec.device}, "
          f"batch {args.batch_size}, best of {args.rounds}:")
    for key in ("plain", "prefetch"):
        r = report[key]
        print(f"  {key:9s} {r['seconds']:8.2f} s  {r['files_per_second']:8.1f} files/s  "
              f"{r['audio_hours_per_hour']:8.1f} audio-hours per hour")
    print(f"  prefetch / plain throughput: {report['speedup']:.2f}x (identical tokens)")


if __name__ == "__main__":
    main()
