"""Candidate and training-sample boxes: MDNet's ``SampleGenerator`` and IoU selection.

MDNet (Nam & Han, CVPR 2016, Sec. 3.3-3.4) draws boxes around a reference box
(x, y, w, h) of mean side ``s = (w + h) / 2``:

``gaussian``: centre offsets ``trans * s * clip(0.5 n, -1, 1)`` per axis and a size
    factor ``scale ** clip(0.5 n, -1, 1)`` (n standard normal): the 256 tracking
    candidates (trans 0.6, scale 1.05) and the positives (trans 0.1, scale 1.3);
``uniform``: centre offsets ``trans * s * u`` and size factor ``scale ** u``,
    u uniform in [-1, 1]: negatives and bounding-box-regression samples;
``whole``: boxes anywhere in the image, sizes ``scale ** u`` times the reference and
    centres uniform over the image (MDNet's "whole" negatives).

``aspect`` (> 1) additionally changes the aspect ratio by ``aspect ** u`` (width times the
square root, height divided by it). Every box is then clipped as py-MDNet does: width and
height within [``min_size``, image side - ``min_size``] (when the image allows), the
centre inside the image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from rgbt_tracking.core.box import iou

KINDS = ("gaussian", "uniform", "whole")


@dataclass(frozen=True)
class SampleGenerator:
    """One of MDNet's sample distributions (see the module docstring).

    Attributes:
        kind: "gaussian", "uniform" or "whole".
        trans: centre spread in units of the mean box side.
        scale: base of the size factor (>= 1).
        aspect: base of the aspect-ratio factor (1: aspect kept).
        min_size: smallest width / height in pixels after clipping.
    """

    kind: str = "gaussian"
    trans: float = 0.6
    scale: float = 1.05
    aspect: float = 1.0
    min_size: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"sample generator kind must be one of {KINDS}, got {self.kind!r}")
        if not self.trans >= 0 or not self.scale >= 1.0 or not self.aspect >= 1.0:
            raise ValueError(f"sample generator needs trans >= 0, scale >= 1, aspect >= 1; got "
                             f"trans={self.trans}, scale={self.scale}, aspect={self.aspect}")

    def with_trans(self, trans: float) -> "SampleGenerator":
        """The same generator with another ``trans`` (MDNet widens it on failure)."""
        return SampleGenerator(self.kind, float(trans), self.scale, self.aspect, self.min_size)

    def __call__(self, box: Sequence[float], count: int, image_size: Tuple[int, int],
                 rng: np.random.Generator) -> np.ndarray:
        """``count`` boxes (count, 4) x y w h around ``box`` inside an image of
        ``image_size`` (width, height) pixels."""
        ref = np.asarray(box, dtype=np.float64)
        if ref.shape != (4,) or not np.all(np.isfinite(ref)) or ref[2] <= 0 or ref[3] <= 0:
            raise ValueError(f"reference box must be finite (x, y, w, h) with w, h > 0, "
                             f"got {box!r}")
        count = int(count)
        if count < 0:
            raise ValueError(f"sample count must be >= 0, got {count}")
        width, height = float(image_size[0]), float(image_size[1])
        centre = ref[:2] + ref[2:] / 2.0
        mean_side = ref[2:].mean()
        if self.kind == "gaussian":
            shift = np.clip(0.5 * rng.standard_normal((count, 2)), -1.0, 1.0)
            size_exp = np.clip(0.5 * rng.standard_normal((count, 1)), -1.0, 1.0)
        else:
            shift = rng.uniform(-1.0, 1.0, (count, 2))
            size_exp = rng.uniform(-1.0, 1.0, (count, 1))
        sizes = ref[2:][None, :] * self.scale ** size_exp
        if self.aspect > 1.0:
            ratio = np.sqrt(self.aspect ** rng.uniform(-1.0, 1.0, (count, 1)))
            sizes = sizes * np.concatenate([ratio, 1.0 / ratio], axis=1)
        if self.kind == "whole":
            centres = rng.uniform(0.0, 1.0, (count, 2)) * np.array([width, height])
        else:
            centres = centre[None, :] + self.trans * mean_side * shift
        limit = np.array([width, height])
        low = np.minimum(self.min_size, limit / 2.0)
        sizes = np.clip(sizes, low, np.maximum(limit - self.min_size, low))
        centres = np.clip(centres, 0.0, limit - 1.0)
        return np.concatenate([centres - sizes / 2.0, sizes], axis=1)


def sample_by_overlap(generator: SampleGenerator, box: Sequence[float], count: int,
                      iou_range: Tuple[float, float], image_size: Tuple[int, int],
                      rng: np.random.Generator, max_rounds: int = 20) -> np.ndarray:
    """``count`` boxes of ``generator`` whose IoU with ``box`` lies in ``iou_range``.

    Kept: ``low <= IoU < high`` when ``high < 1`` (negatives: [0, 0.5) in training, M5L
    Sec. IV-A; [0, 0.3) for online updates, MDNet) and ``low <= IoU`` when ``high >= 1``
    (positives: MDNet's [0.7, 1]).

    Boxes are drawn in rounds of twice the missing count (MDNet draws a multiple of the
    request and keeps the ones in range) for at most ``max_rounds`` rounds; fewer than
    ``count`` boxes come back only when the range is (nearly) unreachable.

    Returns:
        (k, 4) boxes, k <= count, in the order drawn.
    """
    low, high = float(iou_range[0]), float(iou_range[1])
    if not 0.0 <= low <= high:
        raise ValueError(f"iou_range must satisfy 0 <= low <= high, got {iou_range!r}")
    kept = []
    have = 0
    for _round in range(max_rounds):
        if have >= count:
            break
        drawn = generator(box, max(2 * (count - have), 16), image_size, rng)
        overlap = iou(drawn, np.asarray(box, dtype=np.float64)[None, :])
        inside = (overlap >= low) & ((overlap <= high) if high >= 1.0 else (overlap < high))
        chosen = drawn[inside][:count - have]
        kept.append(chosen)
        have += len(chosen)
    if not kept:
        return np.zeros((0, 4))
    return np.concatenate(kept, axis=0)[:count]


def generator_from_config(spec: Sequence, name: str = "sampler",
                          min_size: Optional[float] = None) -> SampleGenerator:
    """A generator from a preset entry ``[kind, trans, scale]`` or ``[kind, trans, scale,
    aspect]``.

    Raises:
        ValueError: another shape (the message names ``name``).
    """
    if not isinstance(spec, (list, tuple)) or len(spec) not in (3, 4):
        raise ValueError(f"{name} must be [kind, trans, scale] or [kind, trans, scale, aspect], "
                         f"got {spec!r}")
    aspect = float(spec[3]) if len(spec) == 4 else 1.0
    extra = {} if min_size is None else {"min_size": float(min_size)}
    return SampleGenerator(str(spec[0]), float(spec[1]), float(spec[2]), aspect, **extra)
