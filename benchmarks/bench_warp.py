"""Cost of warping a thermal image into the RGB geometry (alignment_node's per-frame work):
OpenCV on the CPU and torch grid_sample (CPU here; CUDA when available), at 640x512 and
1920x1080, median of 30 warps.

    python benchmarks/bench_warp.py
"""
import numpy as np
import torch

from rgbt_tracking.eval.speed import median_ms
from rgbt_tracking.alignment.calibration_file import Calibration
from rgbt_tracking.alignment.warp import ThermalWarper


if __name__ == "__main__":
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    homography = np.array([[1.02, 0.01, 6.0], [-0.01, 1.01, -4.0], [1e-6, 0.0, 1.0]])
    backends = [("opencv", "cpu")]
    backends.append(("torch", "cuda" if torch.cuda.is_available() else "cpu"))
    for width, height in ((640, 512), (1920, 1080)):
        calibration = Calibration(model="homography", homography=homography,
                                  rgb_size=(width, height), thermal_size=(width, height),
                                  error_px=0.0, date="", method="benchmark")
        thermal = rng.integers(0, 255, (height, width), dtype=np.uint8)
        figures = []
        for backend, device in backends:
            warper = ThermalWarper(calibration, device=device, backend=backend)
            figures.append(f"{backend}/{device} {median_ms(lambda: warper.warp(thermal)):.2f} ms")
        print(f"{width}x{height} uint8, one CPU thread: " + ", ".join(figures))
