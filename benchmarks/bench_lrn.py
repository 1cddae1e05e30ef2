"""Local response normalisation on the CPU: rgbt_tracking.nn.lrn against
torch.nn.LocalResponseNorm, side by side in one run, on VGG-M's conv1 / conv2 maps of
MDNet's crops (MDNet's constants: size 5, alpha 5e-4, beta 0.75, k 2), median of 20 calls.

    python benchmarks/bench_lrn.py [--threads 2]
"""
import argparse

import torch

from rgbt_tracking.eval.speed import median_ms
from rgbt_tracking.nn.lrn import LocalResponseNorm

# (name, shape): conv1 (96 channels, after ReLU) and conv2 (256 channels) of a 107-px
# target crop (RT-MDNet's 1-target crop) and of a 2.5x larger candidate crop
SHAPES = (("conv1, 107 px crop", (1, 96, 51, 51)), ("conv2, 107 px crop", (1, 256, 12, 12)),
          ("conv1, 480 px crop", (1, 96, 237, 237)), ("conv2, 480 px crop", (1, 256, 58, 58)))

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reference = torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    ours = LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, shape in SHAPES:
            x = torch.relu(torch.randn(shape, generator=generator)) * 50.0
            torch_ms = median_ms(lambda: reference(x), repeats=20)
            ours_ms = median_ms(lambda: ours(x), repeats=20)
            print(f"{name:22s} {str(shape):20s} torch {torch_ms:7.2f} ms, ours {ours_ms:7.2f} ms "
                  f"({torch_ms / ours_ms:.1f}x)")
