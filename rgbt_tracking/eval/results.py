"""Tracking results in the benchmarks' text format: one line per frame, ``x y w h``.

RGBT234/LasHeR toolkits and OTB read whitespace- or comma-separated rows; this module
writes whitespace-separated rows with 4 decimals (VOT polygons, 8 numbers a row, are read
as well).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np


def write_results(path: Path | str, boxes: np.ndarray | Sequence[Sequence[float]],
                  overwrite: bool = True) -> Path:
    """Write (N, 4) or (N, 8) rows.

    Args:
        path: output file; its folder is created.
        boxes: per-frame boxes (x, y, w, h) or polygons (x1 y1 ... x4 y4), pixels.
        overwrite: when False, an existing file is an error (FileExistsError).
    """
    path = Path(path)
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] not in (4, 8):
        raise ValueError(f"results for {path} must be (N, 4) or (N, 8), got {array.shape}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, array, fmt="%.4f", delimiter=" ")
    return path


def read_results(path: Path | str) -> np.ndarray:
    """Read a results or ground-truth file (whitespace, comma or tab separated).

    Returns:
        (N, 4) or (N, 8) float64.

    Raises:
        ValueError: a row with another number of values (names file and line).
    """
    path = Path(path)
    rows: List[List[float]] = []
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                values = [float(v) for v in text.replace(",", " ").split()]
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not numbers: {text!r}") from exc
            if len(values) not in (4, 8) or (rows and len(values) != len(rows[0])):
                raise ValueError(f"{path}:{number}: expected 4 or 8 values, got {len(values)}")
            rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no boxes")
    return np.asarray(rows, dtype=np.float64)


def fill_missing_frames(boxes: Sequence[Optional[Sequence[float]]]) -> Tuple[np.ndarray, int]:
    """Replace frames without a box by the previous frame's box.

    A live tracker may publish no box for a frame (target lost, or the frame skipped while
    the tracker was busy); the benchmark protocol needs one box per frame, and holding the
    last estimate is what the tracker itself reports while lost.

    Args:
        boxes: per-frame (x, y, w, h) or None; the first must be a box.

    Returns:
        ((N, 4) boxes, number of frames filled in).
    """
    if not boxes or boxes[0] is None:
        raise ValueError("the first frame needs a box (the initialisation)")
    filled: List[Sequence[float]] = []
    missing = 0
    for box in boxes:
        if box is None:
            filled.append(filled[-1])
            missing += 1
        else:
            filled.append(box)
    return np.asarray(filled, dtype=np.float64), missing
