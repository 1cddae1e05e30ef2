"""Frames-per-second of trackers on the same frames, measured side by side in one run.

Used by ``rgbt-track bench`` and ``benchmarks/``; speed belongs here, never in tests.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from rgbt_tracking.api import build_tracker
from rgbt_tracking.data.synthetic import SyntheticConfig, generate_sequence

Frame = Tuple[np.ndarray, np.ndarray]


def time_tracker(init: Callable[[], None], step: Callable[[int], None], frames: int,
                 warmup: int = 5) -> float:
    """Frames per second of ``step(i)`` over ``frames`` calls after ``warmup`` calls."""
    init()
    for index in range(1, 1 + warmup):
        step(index)
    started = time.perf_counter()
    for index in range(1 + warmup, 1 + warmup + frames):
        step(index)
    return frames / (time.perf_counter() - started)


def median_ms(function: Callable[[], object], repeats: int = 30) -> float:
    """Median wall time of ``function()`` over ``repeats`` calls after one warm-up, in ms."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1e3


def _opencv_tracker(name: str):
    factory = {"CSRT": "TrackerCSRT", "KCF": "TrackerKCF"}[name]
    if hasattr(cv2, factory):
        return getattr(cv2, factory).create()
    return getattr(cv2.legacy, f"{factory}_create")()


def run_speed_comparison(frames: int = 200, width: int = 640, height: int = 512,
                         threads: int = 1, json_path: Optional[Path | str] = None,
                         variants: Sequence[str] = ("response", "feature", "pixel"),
                         rounds: int = 3) -> Dict[str, float]:
    """Time ``dcf`` (both modalities, each fusion level; and each modality alone) against
    OpenCV's CSRT and KCF on RGB, on the same generated frames, and print the ratios.

    Returns:
        label -> frames per second.
    """
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    total = frames + 6
    sequence = generate_sequence(SyntheticConfig(num_frames=total, width=width, height=height,
                                                 seed=1))
    rgb, thermal = sequence.rgb, sequence.thermal
    bgr = [cv2.cvtColor(image, cv2.COLOR_RGB2BGR) for image in rgb]
    box = tuple(float(v) for v in sequence.boxes[0])
    runs: Dict[str, Tuple[Callable[[], None], Callable[[int], None]]] = {}

    def add_dcf(label: str, use_rgb: bool, use_thermal: bool, fusion: str) -> None:
        tracker = build_tracker("dcf", fusion=fusion)
        runs[label] = (
            lambda: tracker.initialize(rgb[0] if use_rgb else None,
                                       thermal[0] if use_thermal else None, box),
            lambda i: tracker.track(rgb[i] if use_rgb else None,
                                    thermal[i] if use_thermal else None))

    def add_opencv(name: str) -> None:
        holder = {}
        int_box = tuple(int(round(v)) for v in box)

        def init() -> None:
            holder["tracker"] = _opencv_tracker(name)
            holder["tracker"].init(bgr[0], int_box)

        runs[f"OpenCV {name} RGB only"] = (init, lambda i: holder["tracker"].update(bgr[i]))

    for fusion in variants:
        add_dcf(f"dcf {fusion} RGB+T", True, True, fusion)
    add_dcf("dcf RGB only", True, False, "response")
    add_dcf("dcf thermal only", False, True, "response")
    add_opencv("CSRT")
    add_opencv("KCF")
    # Rounds interleave the trackers so that a busy spell of a shared machine hits all of
    # them alike; each tracker's best round is reported.
    fps: Dict[str, float] = {label: 0.0 for label in runs}
    for _ in range(rounds):
        for label, (init, step) in runs.items():
            fps[label] = max(fps[label], time_tracker(init, step, frames))

    reference = fps["OpenCV CSRT RGB only"]
    print(f"\nSpeed on {frames} frames of {width}x{height}, {threads} CPU thread(s), best of "
          f"{rounds} interleaved rounds, "
          f"torch {torch.__version__}, OpenCV {cv2.__version__}, {platform.processor() or platform.machine()}")
    print(f"{'tracker':32s} {'fps':>8s} {'x CSRT':>8s}")
    for label, value in fps.items():
        print(f"{label:32s} {value:8.1f} {value / reference:8.2f}")
    if json_path is not None:
        Path(json_path).write_text(json.dumps({"frames": frames, "width": width,
                                               "height": height, "threads": threads,
                                               "fps": fps}, indent=2))
    return fps
