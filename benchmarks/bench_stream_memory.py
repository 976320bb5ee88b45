"""Peak memory of decoding a long token file in a job: streamed to disk window by window vs in memory.

Run from the repository root: ``python -m benchmarks.bench_stream_memory [--tokens 6000 12000 24000]``.
Uses the tiny 16 kHz fixture model (tests/fixtures/tiny16k) and random codes; the peak is what
``tracemalloc`` sees (numpy buffers; torch's own allocator is not traced). A streamed decode's
peak stays about one chunk whatever the length; an in-memory decode grows with the output.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

import xy_tokenizer
from xy_tokenizer.io.tokens import save_tokens
from xy_tokenizer.jobs import JobItem, JobOptions, run_job

TINY = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tiny16k"


def peak_of_decode(codec, path: Path, out: Path, stream_seconds: float) -> tuple[float, float]:
    """(peak traced MB, seconds) of a decode job of ``path`` into ``out``."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        events = list(run_job(codec, [JobItem(path, Path(path.name))],
                              JobOptions("decode", out_dir=out, keep_arrays=False, stream_seconds=stream_seconds)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if not any(e.kind == "file_done" for e in events):
        raise SystemExit(f"the decode of {path} failed: {[e.message for e in events if e.message]}")
    return peak / 1e6, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[6000, 12000, 24000])
    args = parser.parse_args()
    codec = xy_tokenizer.load(TINY / "model.ckpt", config=TINY / "config.yaml", device="cpu")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"{'tokens':>7} {'output MB':>10} {'streamed MB':>12} {'in memory MB':>13}")
        for count in args.tokens:
            path = root / f"t{count}.npy"
            save_tokens(path, rng.integers(0, codec.codebook_size, (codec.num_quantizers, count)),
                        {"codebook_size": codec.codebook_size})
            streamed, _ = peak_of_decode(codec, path, root / f"s{count}", stream_seconds=0.0)
            whole, _ = peak_of_decode(codec, path, root / f"m{count}", stream_seconds=float("inf"))
            output = count * codec.output_samples_per_token * 4 / 1e6
            print(f"{count:>7} {output:>10.1f} {streamed:>12.1f} {whole:>13.1f}")


if __name__ == "__main__":
    main()
