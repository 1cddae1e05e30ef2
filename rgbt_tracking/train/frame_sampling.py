"""Which frames of which sequence make one training sample.

* :func:`sample_frame_sets`: DiMP / mfDiMP train and test frame sets. The mfDiMP paper
  (Zhang et al., ICCV-W 2019, Sec. 3) builds ``M_train`` and ``M_test`` of ``N_frames``
  frames each from the first and second halves of a video segment; we follow pytracking's
  DiMP sampler in its "causal" mode: a valid base frame, the train frames among the valid
  frames at most ``max_gap`` before it (the base itself is one of them), the test frames
  among the valid frames at most ``max_gap`` after it. Unlike pytracking, the gap is never
  widened when a base has no valid frame after it: such bases are simply not drawn.
* :func:`sample_pair`: one template and one search frame at most ``max_gap`` apart (SiamFC,
  Bertinetto et al. 2016, Sec. 2.2: pairs from the same video at most T frames apart).
* :func:`pick_sequence`: a sequence index drawn with probability proportional to its length
  (long sequences are not under-sampled).

All randomness comes from the ``numpy.random.Generator`` passed in, so a sample is a pure
function of the generator's seed (datasets seed it from the item index and the epoch).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np


def _valid_mask(valid: np.ndarray) -> np.ndarray:
    mask = np.asarray(valid)
    if mask.ndim != 1:
        raise ValueError(f"valid must be a 1-D (N,) array of flags, got shape {mask.shape}")
    if mask.dtype != bool:
        raise ValueError(f"valid must be a bool array, got dtype {mask.dtype}")
    return mask


def _positive(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _draw(candidates: np.ndarray, count: int, rng: np.random.Generator) -> List[int]:
    """``count`` of ``candidates``: without replacement when there are enough."""
    replace = len(candidates) < count
    return sorted(int(i) for i in rng.choice(candidates, size=count, replace=replace))


def sample_frame_sets(valid: np.ndarray, rng: np.random.Generator, num_train: int,
                      num_test: int, max_gap: int
                      ) -> Optional[Tuple[List[int], List[int]]]:
    """Train and test frame indices of one DiMP-style sample (causal mode).

    Args:
        valid: (N,) bool, frames with a usable box.
        rng: the generator all draws come from.
        num_train, num_test: frames per set (>= 1).
        max_gap: frames (>= 1); train frames lie in ``[base - max_gap, base]``, test
            frames in ``[base + 1, base + max_gap]``.

    Returns:
        (train, test), each sorted ascending; ``train`` contains the base frame, every
        train index is smaller than every test index, and all are valid frames. Frames
        repeat only when the window holds fewer valid frames than requested. None when
        no valid frame has a valid frame at most ``max_gap`` after it.

    Raises:
        ValueError: ``valid`` not a 1-D bool array, or a count or gap below 1.
    """
    mask = _valid_mask(valid)
    num_train = _positive("num_train", num_train)
    num_test = _positive("num_test", num_test)
    max_gap = _positive("max_gap", max_gap)
    count = len(mask)
    if count < 2:
        return None
    cumulative = np.concatenate([[0], np.cumsum(mask)])   # cumulative[i] = valid in [0, i)
    frames = np.arange(count)
    ahead = cumulative[np.minimum(frames + max_gap + 1, count)] - cumulative[frames + 1]
    bases = np.flatnonzero(mask & (ahead > 0))
    if bases.size == 0:
        return None
    base = int(rng.choice(bases))
    before = np.flatnonzero(mask[max(0, base - max_gap):base]) + max(0, base - max_gap)
    after = np.flatnonzero(mask[base + 1:base + max_gap + 1]) + base + 1
    extra = num_train - 1
    if extra and before.size < extra:           # too few: repeat frames, base included
        before = np.append(before, base)
    train = [base] + (_draw(before, extra, rng) if extra else [])
    return sorted(train), _draw(after, num_test, rng)


def sample_pair(valid: np.ndarray, rng: np.random.Generator, max_gap: int
                ) -> Optional[Tuple[int, int]]:
    """A (template, search) pair of two different valid frames at most ``max_gap`` apart.

    The search frame may come before or after the template (SiamFC draws both orders).

    Returns:
        (template, search) frame indices, or None when no two valid frames are within
        ``max_gap`` of each other.

    Raises:
        ValueError: ``valid`` not a 1-D bool array, or ``max_gap`` below 1.
    """
    mask = _valid_mask(valid)
    max_gap = _positive("max_gap", max_gap)
    count = len(mask)
    cumulative = np.concatenate([[0], np.cumsum(mask)])
    frames = np.arange(count)
    low = np.maximum(frames - max_gap, 0)
    high = np.minimum(frames + max_gap + 1, count)
    neighbours = cumulative[high] - cumulative[low] - mask   # valid frames around, not self
    templates = np.flatnonzero(mask & (neighbours > 0))
    if templates.size == 0:
        return None
    template = int(rng.choice(templates))
    window = np.flatnonzero(mask[low[template]:high[template]]) + low[template]
    window = window[window != template]
    return template, int(rng.choice(window))


def pick_sequence(lengths: Sequence[int], rng: np.random.Generator) -> int:
    """Index of a sequence drawn with probability ``length / sum(lengths)``.

    Raises:
        ValueError: empty list, a negative length, or all lengths zero.
    """
    sizes = np.asarray(lengths, dtype=np.float64)
    if sizes.ndim != 1 or sizes.size == 0:
        raise ValueError(f"lengths must be a non-empty list of sequence lengths, got {lengths!r}")
    if np.any(sizes < 0) or not np.all(np.isfinite(sizes)):
        raise ValueError(f"sequence lengths must be finite and >= 0, got {lengths!r}")
    total = sizes.sum()
    if total <= 0:
        raise ValueError("every sequence has length 0: nothing to sample from")
    return int(rng.choice(sizes.size, p=sizes / total))
