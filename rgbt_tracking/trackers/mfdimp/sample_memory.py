"""DiMP's training-sample memory: a fixed number of feature maps with decaying weights.

The first-frame (augmented) samples start with equal weights; each new sample gets weight
``learning_rate`` (of the total) while the others decay by ``1 - learning_rate``. When the
memory is full the later sample with the lowest weight is replaced; the first-frame samples
are never replaced and together keep at least ``min_initial_weight`` of the total (DiMP's
``init_samples_minimum_weight``), so the model never forgets the annotated target.
"""
from __future__ import annotations

from typing import List, Optional

import torch


class SampleMemory:
    """Training samples of one classifier branch.

    Args:
        capacity: number of samples kept (DiMP: 50).
        min_initial_weight: lower bound of the first-frame samples' total weight.
    """

    def __init__(self, capacity: int, min_initial_weight: float = 0.25) -> None:
        if capacity < 1:
            raise ValueError(f"sample memory capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.min_initial_weight = min_initial_weight
        self.features: Optional[torch.Tensor] = None    # (capacity, C, H, W)
        self.boxes: Optional[torch.Tensor] = None       # (capacity, 4)
        self.weights = torch.zeros(0)
        self.count = 0
        self.num_initial = 0

    def initialise(self, features: torch.Tensor, boxes: torch.Tensor) -> None:
        """First-frame samples: (N, C, H, W) features, (N, 4) boxes; N < capacity."""
        n = features.shape[0]
        if n >= self.capacity:
            raise ValueError(f"{n} initial samples do not fit a memory of {self.capacity}")
        self.features = features.new_zeros((self.capacity,) + tuple(features.shape[1:]))
        self.boxes = boxes.new_zeros((self.capacity, 4))
        self.weights = features.new_zeros(self.capacity)
        self.features[:n] = features
        self.boxes[:n] = boxes
        self.weights[:n] = 1.0 / n
        self.count = n
        self.num_initial = n

    def add(self, feature: torch.Tensor, box: torch.Tensor, learning_rate: float) -> int:
        """Insert one sample ((C, H, W), (4,)); returns the slot it took."""
        if self.features is None or self.boxes is None:
            raise RuntimeError("SampleMemory.add before initialise")
        w = self.weights
        w[:self.count] *= 1.0 - learning_rate
        if self.count < self.capacity:
            slot = self.count
            self.count += 1
        else:
            candidates = w.clone()
            candidates[:self.num_initial] = float("inf")   # the first frame is never replaced
            slot = int(torch.argmin(candidates))
        w[slot] = learning_rate
        if self.num_initial and w[:self.num_initial].sum() < self.min_initial_weight:
            initial = w[:self.num_initial]
            others = w[self.num_initial:self.count]
            initial *= self.min_initial_weight / max(float(initial.sum()), 1e-12)
            rest = float(others.sum())
            if rest > 0:
                others *= (1.0 - self.min_initial_weight) / rest
        w[:self.count] /= w[:self.count].sum()
        self.features[slot] = feature
        self.boxes[slot] = box
        return slot

    def samples(self) -> List[torch.Tensor]:
        """[features (n, C, H, W), boxes (n, 4), weights (n,) summing to 1] of the filled slots."""
        assert self.features is not None and self.boxes is not None
        n = self.count
        return [self.features[:n], self.boxes[:n], self.weights[:n]]
