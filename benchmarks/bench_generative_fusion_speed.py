"""Milliseconds per forward() of the GMMT generative fusion blocks (rgbt_tracking/nn/fusion).

Every kind (raw, cgan, diffusion) on a template feature (1, 256, 7, 7) and a search feature
(1, 256, 31, 31) of the Siamese tracker; diffusion with 1, 2, 4, 8, 16 and 50 DDIM steps.
Default config (unet_channels 64, unet_levels 2), untrained weights (speed does not depend
on their values), inference mode, a seeded torch.Generator per call. Median of the timed
repeats after warm-up, as wall-clock time and, on CPU, as the CPU time of this process
(time.process_time: with one thread, the cost of the call itself, which on a busy shared
machine is smaller than the wall time spent waiting for a core).

    python benchmarks/bench_generative_fusion_speed.py [--device cpu|cuda] [--threads 1]
        [--repeats 20] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Dict, List, Tuple

import torch

from rgbt_tracking.nn.fusion import build_generative_fusion

CHANNELS = 256
SHAPES: List[Tuple[int, int, int, int]] = [(1, CHANNELS, 7, 7), (1, CHANNELS, 31, 31)]
DIFFUSION_STEPS = [1, 2, 4, 8, 16, 50]
WARMUP = 3


def time_forward(block, shape: Tuple[int, ...], device: str,
                 repeats: int) -> Tuple[float, float]:
    """Median (wall, process CPU) milliseconds of ``block(f_rgb, f_thermal, generator)``
    over ``repeats`` calls."""
    source = torch.Generator().manual_seed(0)
    f_rgb = torch.randn(shape, generator=source).to(device)
    f_thermal = torch.randn(shape, generator=source).to(device)
    generator = torch.Generator(device=device)
    wall, cpu = [], []
    with torch.inference_mode():
        for call in range(WARMUP + repeats):
            generator.manual_seed(call)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started, started_cpu = time.perf_counter(), time.process_time()
            block(f_rgb, f_thermal, generator)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if call >= WARMUP:
                wall.append((time.perf_counter() - started) * 1e3)
                cpu.append((time.process_time() - started_cpu) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (needs a CUDA build)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads on CPU (1: the tracker's setting on a "
                             "shared robot CPU)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda given but torch.cuda.is_available() is False")
    torch.set_num_threads(args.threads)
    variants: List[Tuple[str, str, Dict]] = [("raw", "raw", {}), ("cgan", "cgan", {})]
    variants += [(f"diffusion {steps:>2d} steps", "diffusion", {"sampling_steps": steps})
                 for steps in DIFFUSION_STEPS]
    results: Dict[str, Dict[str, float]] = {}
    names = ["x".join(map(str, shape[1:])) for shape in SHAPES]
    header = f"{'kind':22s}" + "".join(f"{name + ' wall':>16s}{name + ' cpu':>16s}"
                                       for name in names)
    print(f"ms per forward() on {args.device} ({args.threads} thread(s) on CPU)")
    print(header)
    for label, kind, config in variants:
        torch.manual_seed(0)
        block = build_generative_fusion(kind, CHANNELS, config).to(args.device).eval()
        row = {}
        for name, shape in zip(names, SHAPES):
            row[f"{name} wall"], row[f"{name} cpu"] = time_forward(block, shape, args.device,
                                                                   args.repeats)
        results[label] = row
        print(f"{label:22s}" + "".join(f"{ms:16.2f}" for ms in row.values()), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": args.device, "threads": args.threads, "channels": CHANNELS,
                       "repeats": args.repeats, "ms_per_call": results}, handle, indent=2)


if __name__ == "__main__":
    main()
