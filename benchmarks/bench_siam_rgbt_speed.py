"""siam_rgbt and gmmt frames per second at 640x512, per fusion model and DDIM step count.

Untrained weights (speed does not depend on their values), the trackers' presets
(ResNet-18 to layer3 at stride 8, 127 / 255 pixel patches). Per frame: two search crops,
two backbones, the fusion (gmmt: one generative-block pass on the 31x31 search features
per DDIM step; the template is fused once at initialisation), the head and the
post-processing, i.e. the whole online procedure. Also prints the milliseconds of one
fusion of the search features alone, so the step count's share of a frame shows.

    python benchmarks/bench_siam_rgbt_speed.py [--frames 20] [--device cpu] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
from typing import Dict, List, Tuple

import torch

from rgbt_tracking import build_tracker
from rgbt_tracking.data.synthetic import generate_sequence
from rgbt_tracking.eval.speed import median_ms, time_tracker

STEPS = (1, 2, 4, 8, 16)


def variants() -> List[Tuple[str, str, Dict]]:
    """(label, tracker name, overrides) of every measured configuration."""
    out: List[Tuple[str, str, Dict]] = [("siam_rgbt (concat + conv)", "siam_rgbt", {}),
                                        ("gmmt raw", "gmmt", {"fusion_model": "raw"}),
                                        ("gmmt cgan", "gmmt", {"fusion_model": "cgan"})]
    out += [(f"gmmt diffusion {s} step{'s' if s > 1 else ''}", "gmmt",
             {"fusion_model": "diffusion", "generative": {"sampling_steps": s}}) for s in STEPS]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seq = generate_sequence(num_frames=max(50, args.frames + 6), seed=1)
    results: Dict[str, Dict[str, float]] = {}
    for label, name, overrides in variants():
        torch.manual_seed(0)
        tracker = build_tracker(name, device=args.device, **overrides)

        def init() -> None:
            tracker.initialize(seq.rgb[0], seq.thermal[0], seq.boxes[0])

        def step(index: int) -> None:
            tracker.track(seq.rgb[index], seq.thermal[index])

        fps = time_tracker(init, step, args.frames, warmup=3)
        features = torch.randn(1, tracker.net.channels, 31, 31, device=args.device)
        with torch.inference_mode():
            fuse_ms = median_ms(lambda: tracker._fuse(features, features), repeats=5)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        results[label] = {"fps": fps, "fusion_ms": fuse_ms}
        print(f"{label:30s} {fps:6.2f} fps   fusion of 31x31 search features {fuse_ms:7.1f} ms",
              flush=True)
    print(f"({args.device}, {args.threads} threads; {args.frames} frames of 640x512 after 3 "
          "warm-up)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
