"""One benchmark sequence: file lists, ground truth and attributes; images read on demand.

A :class:`Sequence` holds paths only; :meth:`Sequence.frame` reads one RGB/thermal pair
with OpenCV when asked, so opening a whole benchmark costs a directory listing and a few
text files per sequence.

Conventions (the same for every benchmark reader in :mod:`rgbt_tracking.data.datasets`):

* boxes are ``(x, y, w, h)``: top-left corner and size in pixels, float64;
* a frame without a usable box (not annotated, target absent, an invalid row by the
  benchmark's own rule) has a row of NaN;
* RGB images are returned ``H x W x 3`` uint8 in RGB order; thermal images ``H x W``,
  uint8 or uint16 as stored (a 3-channel grey JPEG gives its first channel; a 16-bit PNG
  stays uint16; a float TIFF stays float32).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

# cv2 is imported lazily in _read: reading ground truth must not need OpenCV.

FramePair = Tuple[Optional[np.ndarray], Optional[np.ndarray]]


class DatasetError(ValueError):
    """A benchmark folder is unusable (missing root, unknown split, bad list file)."""


class SequenceError(DatasetError):
    """One sequence is malformed; the message names the sequence and the file."""


@dataclass(eq=False)
class Sequence:
    """A benchmark sequence with lazily loaded images.

    Attributes:
        name: sequence name (its folder name).
        dataset: registry name of the benchmark (``"gtot"``, ``"lasher"``, ...).
        rgb_files: per-frame RGB image paths, or None (thermal-only benchmark, or ground
            truth without images).
        thermal_files: per-frame thermal image paths, or None.
        gt: (N, 4) float64 ``x y w h`` pixels, the benchmark's primary ground truth; NaN
            rows where a frame is not annotated or invalid.
        gt_rgb: (N, 4) per-modality ground truth of the RGB images, where the benchmark
            has one (GTOT, RGBT210/234, LasHeR, VTUAV), else None.
        gt_thermal: (N, 4) ground truth of the thermal images, or None.
        polygons: (N, 8) ``x1 y1 ... x4 y4`` VOT regions (rectangles as their corners),
            NaN rows where a frame has no 4-corner region; None for other benchmarks.
        attributes: name -> (N,) bool per-frame flags; per-sequence flags are broadcast
            to every frame. Empty when the benchmark provides none.
        declared_init: (4,) the box the benchmark declares for initialisation (first row
            of ``init.txt``), or None to use the first valid ``gt`` row.
        folder: the sequence folder it was read from (None when built in memory).
    """

    name: str
    dataset: str
    rgb_files: Optional[List[Path]]
    thermal_files: Optional[List[Path]]
    gt: np.ndarray
    gt_rgb: Optional[np.ndarray] = None
    gt_thermal: Optional[np.ndarray] = None
    polygons: Optional[np.ndarray] = None
    attributes: Dict[str, np.ndarray] = field(default_factory=dict)
    declared_init: Optional[np.ndarray] = None
    folder: Optional[Path] = None

    def __post_init__(self) -> None:
        self.gt = self._boxes(self.gt, "gt", 4)
        count = len(self.gt)
        if self.gt_rgb is not None:
            self.gt_rgb = self._boxes(self.gt_rgb, "gt_rgb", 4, count)
        if self.gt_thermal is not None:
            self.gt_thermal = self._boxes(self.gt_thermal, "gt_thermal", 4, count)
        if self.polygons is not None:
            self.polygons = self._boxes(self.polygons, "polygons", 8, count)
        for label, files in (("rgb_files", self.rgb_files), ("thermal_files", self.thermal_files)):
            if files is not None and len(files) != count:
                raise SequenceError(
                    f"sequence {self.name}: {len(files)} {label} but {count} ground-truth rows")
        if self.rgb_files is not None:
            self.rgb_files = [Path(p) for p in self.rgb_files]
        if self.thermal_files is not None:
            self.thermal_files = [Path(p) for p in self.thermal_files]
        flags: Dict[str, np.ndarray] = {}
        for key, values in self.attributes.items():
            array = np.asarray(values, dtype=bool)
            if array.shape != (count,):
                raise SequenceError(f"sequence {self.name}: attribute {key!r} has shape "
                                    f"{array.shape}, expected ({count},)")
            flags[key] = array
        self.attributes = flags
        if self.declared_init is not None:
            self.declared_init = np.asarray(self.declared_init, dtype=np.float64).reshape(4)

    def _boxes(self, values: np.ndarray, label: str, columns: int,
               count: Optional[int] = None) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != columns:
            raise SequenceError(f"sequence {self.name}: {label} must be (N, {columns}), "
                                f"got {array.shape}")
        if count is not None and len(array) != count:
            raise SequenceError(f"sequence {self.name}: {label} has {len(array)} rows, "
                                f"gt has {count}")
        return array

    def __len__(self) -> int:
        return len(self.gt)

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) x y w h ground truth (the name VOT's supervised runner reads)."""
        return self.gt

    @property
    def tags(self) -> Dict[str, np.ndarray]:
        """Per-frame attribute flags (VOT calls them tags)."""
        return self.attributes

    @property
    def has_images(self) -> bool:
        """Whether any image files are attached (False for ground truth only)."""
        return self.rgb_files is not None or self.thermal_files is not None

    @property
    def init_box(self) -> Tuple[float, float, float, float]:
        """Initialisation box ``(x, y, w, h)``: ``declared_init`` or the first valid gt row.

        Raises:
            SequenceError: no ``declared_init`` and no row of ``gt`` with positive size.
        """
        if self.declared_init is not None:
            return tuple(float(v) for v in self.declared_init)  # type: ignore[return-value]
        valid = np.flatnonzero(self.valid_frames())
        if valid.size == 0:
            raise SequenceError(f"sequence {self.name}: no valid ground-truth box to start from")
        return tuple(float(v) for v in self.gt[valid[0]])  # type: ignore[return-value]

    def valid_frames(self) -> np.ndarray:
        """(N,) bool: frames whose ``gt`` row is finite with positive width and height."""
        finite = np.all(np.isfinite(self.gt), axis=1)
        with np.errstate(invalid="ignore"):
            return finite & (self.gt[:, 2] > 0) & (self.gt[:, 3] > 0)

    def frame(self, index: int) -> FramePair:
        """Read frame ``index``.

        Returns:
            (rgb, thermal): rgb H x W x 3 uint8 in RGB order, thermal H x W (uint8,
            uint16 or float32 as stored); either is None when the sequence has no files
            of that modality.

        Raises:
            IndexError: ``index`` outside ``[0, len)``.
            SequenceError: an image file is missing or unreadable (names it).
        """
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"sequence {self.name}: frame {index} outside 0..{count - 1}")
        index %= count
        rgb = None if self.rgb_files is None else self._read(self.rgb_files[index], thermal=False)
        thermal = (None if self.thermal_files is None
                   else self._read(self.thermal_files[index], thermal=True))
        return rgb, thermal

    def frames(self) -> Iterator[FramePair]:
        """Yield ``frame(i)`` for every frame in order (images read one pair at a time)."""
        for index in range(len(self)):
            yield self.frame(index)

    def _read(self, path: Path, thermal: bool) -> np.ndarray:
        import cv2

        kind = "thermal" if thermal else "RGB"
        if not path.is_file():
            raise SequenceError(f"sequence {self.name}: {kind} image {path} is missing")
        flags = cv2.IMREAD_UNCHANGED if thermal else cv2.IMREAD_COLOR
        image = cv2.imread(str(path), flags)
        if image is None:
            raise SequenceError(f"sequence {self.name}: cannot read {kind} image {path}")
        if not thermal:
            return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if image.ndim == 3:
            image = image[:, :, 0]
        if image.dtype not in (np.uint8, np.uint16, np.float32):
            raise SequenceError(f"sequence {self.name}: thermal image {path} has unsupported "
                                f"pixel type {image.dtype}")
        return np.ascontiguousarray(image)
