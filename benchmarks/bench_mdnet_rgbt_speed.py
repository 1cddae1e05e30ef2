"""m5l and cmi frames per second on the CPU at 640x512 (RGB + thermal), whole tracker and parts.

Untrained weights of the papers' architecture (speed does not depend on their values) and
the presets' online procedure (256 candidates, updates, bounding-box regression). Rows:

* the whole tracker per frame (median frame time over ``--frames`` frames after 2 warm-up
  frames; the first-frame fine-tuning is not counted) for m5l and cmi with each
  interaction mode;
* the parts of one frame's candidate scoring (RT-MDNet's batched read: one crop around
  the previous target covering all 256 candidates, target at 107 px): the two backbone
  passes (RGB and thermal VGG-M conv1-3), the fusion (M5L attention / CMI interaction),
  the RoIAlign of the 256 boxes (3 x 3, max) and the fc4-fc6 pass on them.

A tracked frame also reads the update samples (a second crop) on success and runs the
short- / long-term updates (every 10 frames, or on failure): the whole-tracker figure
includes them, the parts do not.

    python benchmarks/bench_mdnet_rgbt_speed.py [--frames 10] [--threads 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Dict, List, Tuple

import numpy as np
import torch

from rgbt_tracking import build_tracker
from rgbt_tracking.core.images import validate_pair
from rgbt_tracking.data.synthetic import generate_sequence
from rgbt_tracking.eval.speed import median_ms
from rgbt_tracking.trackers.mdnet_rgbt.online import MDNetRGBTTracker, network_images
from rgbt_tracking.trackers.mdnet_rgbt.scene import boxes_to_rois, plan_crop

VARIANTS = (("m5l", {}), ("cmi", {"interaction": "pixel"}), ("cmi", {"interaction": "relation"}),
            ("cmi", {"interaction": "both"}))


def frame_times(seq, frames: int, name: str,
                **overrides) -> Tuple[List[float], MDNetRGBTTracker]:
    """Seconds per tracked frame (after initialisation and 2 warm-up frames), and the
    tracker."""
    tracker = build_tracker(name, **overrides)
    tracker.initialize(seq.rgb[0], seq.thermal[0], seq.boxes[0])
    times = []
    for i in range(1, frames + 3):
        start = time.perf_counter()
        tracker.track(seq.rgb[i], seq.thermal[i])
        if i > 2:
            times.append(time.perf_counter() - start)
    return times, tracker


def part_times_ms(seq, tracker: MDNetRGBTTracker, repeats: int) -> Dict[str, float]:
    """Median milliseconds of each part of one frame's batched candidate scoring (on frame
    1, around the first box, with an initialised tracker)."""
    images = network_images(validate_pair(seq.rgb[1], seq.thermal[1]))
    box = np.asarray(seq.boxes[0], dtype=np.float64)
    height, width = seq.rgb[1].shape[:2]
    samples = tracker.sampler(box, 256, (width, height),
                              np.random.default_rng(0))
    crop = plan_crop(samples, box[2:], tracker.target_px, tracker.roi_padding,
                     int(tracker.params["max_crop_px"]))
    rgb, thermal = tracker._crop_tensor(images[0], crop), tracker._crop_tensor(images[1], crop)
    net, head = tracker.net, tracker.head
    rois = torch.from_numpy(boxes_to_rois(crop.boxes_to_crop(samples), tracker.roi_padding)).float()
    with torch.inference_mode():
        rgb_map, thermal_map = net.conv_features(rgb, thermal)
        fused = net.fuse(rgb_map, thermal_map)
        features = net.pool(fused, rois)
        return {
            f"crop {crop.size[0]}x{crop.size[1]}: backbones (RGB + thermal)":
                median_ms(lambda: net.conv_features(rgb, thermal), repeats),
            "fusion": median_ms(lambda: net.fuse(rgb_map, thermal_map), repeats),
            "RoIAlign of 256 boxes": median_ms(lambda: net.pool(fused, rois), repeats),
            "fc4-fc6 on 256 boxes": median_ms(lambda: head(features), repeats),
        }


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
    print(f"{'m5l / cmi, CPU, 640x512':52s} {'fps':>7s} {'ms':>8s}")
    for name, overrides in VARIANTS:
        label = name + "".join(f" {v}" for v in overrides.values())
        times, tracker = frame_times(seq, args.frames, name, **overrides)
        ms = 1000.0 * statistics.median(times)
        results[f"{label} tracker ms/frame"] = ms
        print(f"{label + ': whole tracker (median frame)':52s} {1000 / ms:7.2f} {ms:8.1f}",
              flush=True)
        for part, part_ms in part_times_ms(seq, tracker, args.repeats).items():
            results[f"{label} {part} ms"] = part_ms
            print(f"{'  ' + part:52s} {'':7s} {part_ms:8.1f}", flush=True)
    print(f"(CPU: {args.threads} threads; {args.frames} frames after 2 warm-up; parts: "
          f"median of {args.repeats})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
