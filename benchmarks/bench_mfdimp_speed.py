"""mfdimp frames per second: ResNet-18 and ResNet-50, fusion levels, CPU (and CUDA fp32 /
fp16 where a GPU is present), on the same generated 640x512 frames.

Untrained weights (speed does not depend on their values). Per frame: two backbones (one
for pixel fusion), the classifier, IoU-Net refinement (10 boxes, 5 steps) and the
scheduled model updates, i.e. the whole online procedure. The GPU target is >= 30 fps for
ResNet-18 feature fusion at fp16.

    python benchmarks/bench_mfdimp_speed.py [--frames 40] [--threads 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Dict, List, Tuple

import torch

from rgbt_tracking import build_tracker
from rgbt_tracking.data.synthetic import generate_sequence

#: (label, overrides): DiMP-18 samples 288 px, DiMP-50 352 px.
VARIANTS: List[Tuple[str, Dict]] = [
    ("resnet18 feature", {"backbone": "resnet18", "fusion": "feature",
                          "image_sample_size": 288}),
    ("resnet18 response", {"backbone": "resnet18", "fusion": "response",
                           "image_sample_size": 288}),
    ("resnet18 pixel", {"backbone": "resnet18", "fusion": "pixel", "image_sample_size": 288}),
    ("resnet18 thermal only", {"backbone": "resnet18", "fusion": "none", "modality": "thermal",
                               "image_sample_size": 288}),
    ("resnet50 feature", {"backbone": "resnet50", "fusion": "feature",
                          "image_sample_size": 352, "network": {"feature_dim": 512}}),
]


def measure(overrides: Dict, device: str, half: bool, frames: int, seq) -> float:
    tracker = build_tracker("mfdimp", device=device, half_precision=half, **overrides)
    tracker.initialize(seq.rgb[0], seq.thermal[0], seq.boxes[0])
    for i in range(1, 4):                                  # warm-up
        tracker.track(seq.rgb[i], seq.thermal[i])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    for i in range(4, 4 + frames):
        tracker.track(seq.rgb[i], seq.thermal[i])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seq = generate_sequence(num_frames=max(50, args.frames + 4), seed=1)
    setups = [("cpu", False)]
    if torch.cuda.is_available():
        setups += [("cuda", False), ("cuda", True)]
    results: Dict[str, float] = {}
    for device, half in setups:
        tag = f"{device} {'fp16' if half else 'fp32'}"
        for label, overrides in VARIANTS:
            fps = measure(overrides, device, half, args.frames, seq)
            results[f"{label} [{tag}]"] = fps
            print(f"{label:24s} {tag:10s} {fps:7.1f} fps", flush=True)
    print(f"(CPU: {args.threads} threads; {args.frames} frames of 640x512 after 3 warm-up)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
