"""VTUAV (Zhang et al., "Visible-Thermal UAV Tracking: A Large-Scale Benchmark and New
Baseline", CVPR 2022): 1920x1080 RGB-thermal UAV sequences, sparse ground truth.

On-disk layout (public VTUAV readers, e.g. pytracking-style ``VTUAVDataset`` with
``rgb_sub_dir='rgb'``, ``aux_sub_dir='ir'``; the HMFT demo sample in
``shared/data/vtuav_bus1``)::

    <root>/<split>/<seq>/rgb/000000.jpg ...   RGB frames, 6-digit, 0-based
    <root>/<split>/<seq>/ir/000000.jpg ...    thermal frames (``ir_gray/`` in the HMFT
                                              demo sample; both names are accepted)
    <root>/<split>/<seq>/rgb.txt              x y w h, one row per 10th frame
    <root>/<split>/<seq>/ir.txt               x y w h, one row per 10th frame

with ``<split>`` one of ``test_ST``, ``test_LT``, ``train_ST``, ``train_LT`` (pass the split
folder as the root, or the root and ``split="test_ST"``).

Sparse ground truth: row ``k`` of ``rgb.txt``/``ir.txt`` annotates frame ``10 k``; a
sequence of N frames has ``(N - 1) // 10 + 1`` rows. The reader expands them to per-frame
``gt`` with NaN on the frames in between (a file with one row per frame is read as dense).
Rows with zero width or height (target absent) become NaN too. ``gt`` and ``gt_rgb`` are
the RGB boxes, ``gt_thermal`` the thermal boxes (the two cameras are registered; their boxes
differ by a few pixels). Which of the two VTUAV's own evaluation scores against could not
be confirmed; ``gt`` takes ``rgb.txt``. Without images (ground truth only) the sequence
length is taken as ``10 (rows - 1) + 1``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from rgbt_tracking.data.datasets.common import (Reader, first_existing, list_images,
                                                nan_where_empty, read_rows, require_same_length)
from rgbt_tracking.data.sequence import DatasetError, Sequence, SequenceError

NAME = "vtuav"
STEP = 10
THERMAL_FOLDERS = ("ir", "ir_gray")
SPLITS = ("test_ST", "test_LT", "train_ST", "train_LT")


def expand_sparse(rows: np.ndarray, count: int, step: int = STEP) -> np.ndarray:
    """Place row ``k`` of ``rows`` at frame ``k * step`` of a (count, 4) NaN array."""
    out = np.full((count, rows.shape[1]), np.nan)
    out[::step][:len(rows)] = rows
    return out


def _expand(rows: np.ndarray, count: int, path: Path, folder: Path, name: str) -> np.ndarray:
    if len(rows) == count:
        return nan_where_empty(rows)
    expected = (count - 1) // STEP + 1
    if len(rows) != expected:
        raise SequenceError(
            f"sequence {name}: {path} has {len(rows)} rows but {count} images in {folder} "
            f"need {expected} (one per {STEP}th frame) or {count} (one per frame)")
    return expand_sparse(nan_where_empty(rows), count)


def load(folder: Path, with_images: bool = True) -> Sequence:
    """Read one VTUAV sequence folder (``with_images=False``: ground truth only)."""
    folder = Path(folder)
    name = folder.name
    rgb_path = folder / "rgb.txt"
    ir_path = folder / "ir.txt"
    rgb_rows = read_rows(rgb_path, name)
    ir_rows: Optional[np.ndarray] = read_rows(ir_path, name) if ir_path.is_file() else None
    if ir_rows is not None:
        require_same_length(name, (rgb_path, len(rgb_rows)), (ir_path, len(ir_rows)))
    rgb_files: Optional[List[Path]] = None
    thermal_files: Optional[List[Path]] = None
    if with_images:
        rgb_files = list_images(folder / "rgb", name)
        thermal_folder = first_existing([folder / f for f in THERMAL_FOLDERS])
        if thermal_folder is None:
            raise SequenceError(f"sequence {name}: thermal image folder "
                                f"{folder / THERMAL_FOLDERS[0]} (or ir_gray/) is missing")
        thermal_files = list_images(thermal_folder, name)
        if len(thermal_files) != len(rgb_files):
            raise SequenceError(f"sequence {name}: {len(rgb_files)} images in "
                                f"{folder / 'rgb'} but {len(thermal_files)} in {thermal_folder}")
        count = len(rgb_files)
        image_folder = folder / "rgb"
    else:
        count = STEP * (len(rgb_rows) - 1) + 1
        image_folder = folder
    gt_rgb = _expand(rgb_rows, count, rgb_path, image_folder, name)
    gt_thermal = (None if ir_rows is None
                  else _expand(ir_rows, count, ir_path, image_folder, name))
    return Sequence(name=name, dataset=NAME, rgb_files=rgb_files, thermal_files=thermal_files,
                    gt=gt_rgb.copy(), gt_rgb=gt_rgb, gt_thermal=gt_thermal, folder=folder)


def _split_folder(split: str) -> Callable[[Path], List[str]]:
    """Names (``<split>/<seq>``) of the sequences in the split folder ``<root>/<split>``."""
    def names(root: Path) -> List[str]:
        base = root / split
        if not base.is_dir():
            raise DatasetError(f"dataset vtuav: split folder {base} is missing")
        return [f"{split}/{p.name}" for p in base.iterdir()
                if p.is_dir() and (p / "rgb.txt").is_file()]
    return names


READER = Reader(load=load, markers=("rgb.txt", "rgb"),
                named_splits={split: _split_folder(split) for split in SPLITS})
