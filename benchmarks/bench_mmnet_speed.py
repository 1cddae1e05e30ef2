"""mmnet frames per second on the CPU at 640x512 (thermal only), whole tracker and parts.

Untrained weights of the paper's architecture (speed does not depend on their values).
Rows: the whole online procedure (crops, network, scale choice, template update) for 1, 3
and 5 scales, and per frame of the 3-scale tracker the time of its parts: the shared
backbone on the scale pyramid, the discriminative (CF) branch (correlation of the conv5
template with each scale, plus the CF solve of the template update), the fine-grained
branch (FANet on each scale's conv3 map and its correlation, plus its CF solve), and the
exemplar's backbone pass of the update. The paper reports about 19 fps on a GTX-1080.

    python benchmarks/bench_mmnet_speed.py [--frames 10] [--threads 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
from typing import Dict

import torch

from rgbt_tracking import build_tracker
from rgbt_tracking.data.synthetic import generate_sequence
from rgbt_tracking.eval.speed import median_ms, time_tracker


def tracker_fps(seq, frames: int, **overrides) -> float:
    tracker = build_tracker("mmnet", **overrides)
    return time_tracker(lambda: tracker.initialize(None, seq.thermal[0], seq.boxes[0]),
                        lambda i: tracker.track(None, seq.thermal[i]), frames, warmup=2)


def part_times_ms(repeats: int) -> Dict[str, float]:
    """Median milliseconds per frame of each part of the 3-scale tracker."""
    net = build_tracker("mmnet").net
    size = net.crop_size
    pyramid = torch.rand(3, 1, size, size) * 255
    exemplar = pyramid[:1]
    with torch.inference_mode():
        conv3, conv5 = net.backbone(pyramid / 255 - 0.5)
        templates = net.templates(exemplar)
        z3, z5 = net.backbone(exemplar / 255 - 0.5)

        def dis() -> None:
            net.adjust_dis(torch.nn.functional.conv2d(conv5, templates[0]))
            net.cf_dis(z5)

        def fin() -> None:
            net.adjust_fin(torch.nn.functional.conv2d(net.fanet(conv3), templates[1]))
            net.cf_fin(net.fanet(z3))

        times = {
            "backbone (3 search crops)": median_ms(lambda: net.backbone(pyramid), repeats),
            "discriminative CF branch": median_ms(dis, repeats),
            "fine-grained FANet branch": median_ms(fin, repeats),
            "exemplar backbone (update)": median_ms(lambda: net.backbone(exemplar), repeats),
        }
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seq = generate_sequence(num_frames=max(50, args.frames + 4), seed=1)   # 640x512
    results: Dict[str, float] = {}
    print(f"{'mmnet, CPU, 640x512':40s} {'fps':>8s} {'ms/frame':>9s}")
    for scales in (1, 3, 5):
        fps = tracker_fps(seq, args.frames, num_scales=scales)
        results[f"tracker {scales} scale(s) fps"] = fps
        print(f"{f'whole tracker, {scales} scale(s)':40s} {fps:8.2f} {1000 / fps:9.1f}",
              flush=True)
    for label, ms in part_times_ms(args.repeats).items():
        results[f"{label} ms"] = ms
        print(f"{label:40s} {1000 / ms:8.2f} {ms:9.1f}", flush=True)
    print(f"(CPU: {args.threads} threads; {args.frames} frames after 2 warm-up; parts: "
          f"median of {args.repeats})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
