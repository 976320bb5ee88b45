"""Encode/decode speed of the full-size model against the reference's way of working.

Builds the full-size model of a released variant with random weights of the released
shapes (no download), then times one batch of 4, 8 and 12 s clips:

* encode: this engine (windows padded only as far as exactness needs, length-bucketed)
  against the same engine forced to pad every window to 30 s as the reference does; the
  tokens must be identical;
* decode: this engine (each window decoded at its own length) against the reference's
  lockstep batch walk (every clip padded to the longest), and against the reference's
  published timing on a 2-core CPU.

Prints seconds, real-time factors (audio seconds per wall second) and ratios, all measured
in this one run. On a GPU, ``--dtype bfloat16`` also reports bf16-vs-fp32 token agreement.

    python benchmarks/bench_codec.py                      # CPU, float32
    python benchmarks/bench_codec.py --device cuda --dtype bfloat16
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from xy_tokenizer.codecs.xy.codec import XYTokenizerCodec as Codec

#: The reference's timings for this batch on the 2-core CPU (notes, section 7).
REFERENCE_CPU_SECONDS = {"encode": 46.1, "decode": 10.0}
CLIP_SECONDS = (4.0, 8.0, 12.0)


def speechlike(seconds: float, seed: int, rate: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 40 * np.sin(2 * np.pi * 0.5 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 16))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3.0 * t + seed)) ** 2
    return (0.15 * voice * env + 0.005 * rng.standard_normal(len(t))).astype(np.float32)


def timed(fn, sync):
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="16k", help="16k, 24k or 32k (default 16k)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--repeat", type=int, default=1, help="timed repetitions (best is reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    torch.manual_seed(0)
    t0 = time.perf_counter()
    codec = Codec.from_config(args.variant, device=args.device, dtype=args.dtype)
    build_s = time.perf_counter() - t0
    sync = torch.cuda.synchronize if codec.device.type == "cuda" else (lambda: None)
    wavs = [speechlike(s, seed=i) for i, s in enumerate(CLIP_SECONDS)]
    audio_s = sum(CLIP_SECONDS)
    codec.encode([wavs[0][:16000]])  # warm-up (allocations, kernels)

    def best(fn):
        results = [timed(fn, sync) for _ in range(args.repeat)]
        return results[0][0], min(r[1] for r in results)

    codes, enc_s = best(lambda: codec.encode(wavs, batch_size=len(wavs)))
    codes_30, enc30_s = best(lambda: codec.encode(wavs, batch_size=len(wavs), pad_to_window=True))
    identical = all(np.array_equal(a, b) for a, b in zip(codes, codes_30))
    _, dec_s = best(lambda: codec.decode(codes, batch_size=len(codes)))
    _, dec_lock_s = best(lambda: codec.decode(codes, batch_size=len(codes), lockstep=True))

    report = {
        "variant": codec.variant, "device": str(codec.device), "dtype": args.dtype,
        "threads": torch.get_num_threads(), "model_build_s": round(build_s, 2),
        "clips_s": list(CLIP_SECONDS),
        "encode_s": round(enc_s, 3), "encode_30s_padding_s": round(enc30_s, 3),
        "encode_speedup_vs_30s_padding": round(enc30_s / enc_s, 2),
        "encode_tokens_identical": identical,
        "decode_s": round(dec_s, 3), "decode_lockstep_s": round(dec_lock_s, 3),
        "decode_speedup_vs_lockstep": round(dec_lock_s / dec_s, 2),
        "encode_rtf": round(audio_s / enc_s, 2), "decode_rtf": round(audio_s / dec_s, 2),
    }
    if codec.device.type == "cpu":
        report["encode_speedup_vs_reference_timing"] = round(REFERENCE_CPU_SECONDS["encode"] / enc_s, 2)
        report["decode_speedup_vs_reference_timing"] = round(REFERENCE_CPU_SECONDS["decode"] / dec_s, 2)
    if args.dtype != "float32":
        fp32 = Codec.from_config(args.variant, device=args.device, dtype="float32")
        fp32.model.load_state_dict(codec.model.state_dict())  # same weights, full precision
        fp32.model.quantizer.fold()
        ref_codes = fp32.encode(wavs)
        agree = np.mean([np.mean(a == b) for a, b in zip(codes, ref_codes)])
        level0 = np.mean([np.mean(a[0] == b[0]) for a, b in zip(codes, ref_codes)])
        report["tokens_agree_with_float32"] = round(float(agree), 4)
        report["level0_agree_with_float32"] = round(float(level0), 4)

    if args.json:
        print(json.dumps(report))
        return
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
