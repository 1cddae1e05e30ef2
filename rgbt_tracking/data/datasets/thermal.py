"""Thermal-only benchmarks in OTB style: PTB-TIR and LSOTB-TIR (``rgb_files`` is None).

PTB-TIR (Liu et al., TMM 2019; toolkit github.com/QiaoLiuHit/PTB-TIR_Evaluation_toolkit),
60 sequences. The toolkit's ``configSeqs.m`` reads ``tirsequences/<seq>/img/%08d.jpg``
(from 1), its ground truth is ``tiranno/<seq>.txt`` (``x,y,w,h`` per line) and its
per-sequence attributes ``tiranno/att/<seq>.txt`` (one line of 10 flags, named in its
``run_evaluation.m``).

LSOTB-TIR (Liu et al., ACM MM 2020; toolkit github.com/QiaoLiuHit/LSOTB-TIR), evaluation
set of 120 sequences. The toolkit reads ``sequences/<seq>/img/%04d.jpg`` (from 1), ground
truth ``anno/<seq>.txt`` (``x,y,w,h``) and attributes ``anno/att/<seq>.txt`` (one line of 16
flags: 12 challenges and 4 scenarios, named in its ``run_evaluation.m``). Python readers of
the downloaded evaluation set also find ``<seq>/groundtruth*.txt`` next to ``img/``.

Accepted layouts, for both:

* the toolkit's: ``<root>/tirsequences|sequences/<seq>/img/`` with
  ``<root>/tiranno|anno/<seq>.txt`` (pass the toolkit folder as root);
* a folder of sequences ``<root>/<seq>/img/`` with ``<seq>/groundtruth_rect.txt``,
  ``<seq>/groundtruth.txt`` or ``<seq>/<seq>.txt``;
* ground truth only: a folder of ``<seq>.txt`` files (the toolkit's ``tiranno/``,
  ``anno/``).

PTB-TIR's per-frame XML annotations (``<seq>/anno/*.xml``) are not read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from rgbt_tracking.data.datasets.common import (Reader, broadcast, first_existing, list_images,
                                                read_flag_row, read_rows, require_image_count)
from rgbt_tracking.data.sequence import Sequence, SequenceError


@dataclass(frozen=True)
class ThermalLayout:
    """Where one thermal benchmark keeps its files."""

    dataset: str
    sequences_folder: str
    annotation_folder: str
    attribute_names: Tuple[str, ...]


PTB_TIR = ThermalLayout(
    dataset="ptb-tir", sequences_folder="tirsequences", annotation_folder="tiranno",
    attribute_names=("deformation", "occlusion", "scale_variation", "background_clutter",
                     "low_resolution", "fast_motion", "motion_blur", "out_of_view",
                     "intensity_variation", "thermal_crossover"))

LSOTB_TIR = ThermalLayout(
    dataset="lsotb-tir", sequences_folder="sequences", annotation_folder="anno",
    attribute_names=("deformation", "occlusion", "distractor", "background_clutter",
                     "out_of_view", "scale_variation", "fast_motion", "motion_blur",
                     "thermal_crossover", "intensity_variation", "low_resolution",
                     "aspect_ratio_variation", "vehicle_mounted", "drone_mounted",
                     "surveillance", "hand_held"))


def _attributes(layout: ThermalLayout, gt_path: Path, name: str,
                count: int) -> Dict[str, np.ndarray]:
    path = gt_path.parent / "att" / f"{name}.txt"
    if gt_path.stem != name or not path.is_file():
        return {}
    return broadcast(read_flag_row(path, name, layout.attribute_names), count)


def _ground_truth_path(layout: ThermalLayout, folder: Path) -> Optional[Path]:
    name = folder.name
    return first_existing([folder / "groundtruth_rect.txt", folder / "groundtruth.txt",
                           folder / f"{name}.txt",
                           folder.parent.parent / layout.annotation_folder / f"{name}.txt"])


def load_sequence(layout: ThermalLayout, folder: Path, with_images: bool = True) -> Sequence:
    """Read one PTB-TIR / LSOTB-TIR sequence folder."""
    folder = Path(folder)
    name = folder.name
    gt_path = _ground_truth_path(layout, folder)
    if gt_path is None:
        raise SequenceError(
            f"sequence {name}: no ground truth (looked for {folder / 'groundtruth_rect.txt'}, "
            f"groundtruth.txt, {name}.txt and "
            f"{folder.parent.parent / layout.annotation_folder / (name + '.txt')})")
    boxes = read_rows(gt_path, name)
    thermal_files = None
    if with_images:
        thermal_files = list_images(folder / "img", name)
        require_image_count(name, thermal_files, folder / "img", len(boxes), gt_path)
    return Sequence(name=name, dataset=layout.dataset, rgb_files=None,
                    thermal_files=thermal_files, gt=boxes,
                    attributes=_attributes(layout, gt_path, name, len(boxes)), folder=folder)


def load_flat(layout: ThermalLayout, path: Path) -> Sequence:
    """Ground truth only, from one ``<seq>.txt`` of the toolkit's annotation folder."""
    path = Path(path)
    boxes = read_rows(path, path.stem)
    return Sequence(name=path.stem, dataset=layout.dataset, rgb_files=None, thermal_files=None,
                    gt=boxes, attributes=_attributes(layout, path, path.stem, len(boxes)))


def _reader(layout: ThermalLayout) -> Reader:
    return Reader(load=lambda folder, with_images=True: load_sequence(layout, folder, with_images),
                  markers=("img", "groundtruth_rect.txt", "groundtruth.txt"),
                  sequence_subfolders=(layout.sequences_folder,),
                  load_flat=lambda path: load_flat(layout, path),
                  gt_subfolders=(layout.annotation_folder,))


PTB_TIR_READER = _reader(PTB_TIR)
LSOTB_TIR_READER = _reader(LSOTB_TIR)
