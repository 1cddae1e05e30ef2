"""dcf (RGB+T, each fusion level) against OpenCV CSRT/KCF (RGB) on the same 640x512 frames,
one CPU thread. Target: dcf with both modalities >= 3x CSRT's frames per second.

    python benchmarks/bench_dcf_speed.py [--frames 200] [--threads 1]
"""
import argparse

from rgbt_tracking.eval.speed import run_speed_comparison

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    fps = run_speed_comparison(frames=args.frames, threads=args.threads, json_path=args.json)
    ratio = fps["dcf response RGB+T"] / fps["OpenCV CSRT RGB only"]
    print(f"\ndcf response RGB+T / CSRT RGB: {ratio:.2f}x (target >= 3x)")
