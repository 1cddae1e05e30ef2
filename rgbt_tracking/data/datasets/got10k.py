"""GOT-10k (Huang, Zhao, Huang: "GOT-10k: A Large High-Diversity Benchmark for Generic
Object Tracking in the Wild", TPAMI 2019): RGB-only videos, used by mfDiMP (Sec. 4.2) as
the RGB half of its training pairs (the thermal half is synthesised by pix2pix, see
:mod:`rgbt_tracking.data.synthetic_thermal`).

On-disk layout (as downloaded from got-10k.aitestunion.com)::

    <root>/<split>/list.txt                       sequence folder names, one per line
    <root>/<split>/<seq>/00000001.jpg ...         frames, 8-digit, from 1
    <root>/<split>/<seq>/groundtruth.txt          x,y,w,h per line (test: first line only)
    <root>/<split>/<seq>/absence.label            per frame 0/1, 1 = target absent
    <root>/<split>/<seq>/cover.label              per frame 0..8, visible ratio in 1/8
    <root>/<split>/<seq>/cut_by_image.label       per frame 0/1, target cut by the border
    <root>/<split>/<seq>/meta_info.ini            "[METAINFO]" then "key: value" lines
                                                  (object_class, motion_class, ...)

with ``<split>`` one of ``train`` (``GOT-10k_Train_000001`` ...), ``val``
(``GOT-10k_Val_000001``) and ``test`` (``GOT-10k_Test_000001``). The label files and
``meta_info.ini`` are optional (the test split has none).

Conventions here: frames whose ``absence.label`` is 1, and rows of zero width or height,
get a NaN ``gt`` row. A test sequence (one ground-truth row, more frames) has NaN rows after
the first and ``declared_init`` set to the first row. ``attributes`` hold the per-frame
flags ``absence``, ``cut_by_image`` and ``full_occlusion`` (cover 0: nothing visible, the
rule pytracking's GOT-10k reader uses for its ``visible`` flag); the visible ratio itself is
:attr:`Got10kSequence.visible_ratio` (``cover / 8``) and the meta information
:attr:`Got10kSequence.meta`. Sequences are RGB-only: ``thermal_files`` is None.

mfDiMP trains on the training split without the 1000 videos the VOT challenge prohibits;
:func:`open_got10k` takes such a list as ``exclude`` (a text file of sequence names).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from rgbt_tracking.data.datasets.common import (Reader, list_images, nan_where_empty,
                                                parse_numbers, read_lines, read_name_list,
                                                read_rows, require_image_count)
from rgbt_tracking.data.sequence import DatasetError, Sequence, SequenceError

NAME = "got10k"
SPLITS = ("train", "val", "test")
GROUND_TRUTH = "groundtruth.txt"
COVER_LEVELS = 8


@dataclass(eq=False)
class Got10kSequence(Sequence):
    """A GOT-10k sequence: a :class:`Sequence` plus GOT-10k's own annotations.

    Attributes:
        visible_ratio: (N,) float64 visible fraction of the target, ``cover.label / 8``
            (0: fully occluded, 1: more than 90 % visible), or None without ``cover.label``.
        meta: ``meta_info.ini`` as key -> value strings (``object_class``,
            ``motion_class``, ``major_class``, ``root_class``, ...), empty without the file.
    """

    visible_ratio: Optional[np.ndarray] = None
    meta: Dict[str, str] = field(default_factory=dict)


def read_label(path: Path, sequence: str, count: int, maximum: int) -> np.ndarray:
    """One integer in ``0..maximum`` per line, ``count`` lines (a GOT-10k ``*.label``).

    Returns:
        (count,) int64.

    Raises:
        SequenceError: not integers, out of range, or a line count other than ``count``
            (the message names ``file:line``).
    """
    values: List[int] = []
    for number, line in read_lines(path, sequence):
        numbers = parse_numbers(line, path, number, sequence)
        if len(numbers) != 1 or numbers[0] != int(numbers[0]) \
                or not 0 <= numbers[0] <= maximum:
            raise SequenceError(f"sequence {sequence}: {path}:{number}: expected one integer "
                                f"in 0..{maximum}, got {line!r}")
        values.append(int(numbers[0]))
    if len(values) != count:
        raise SequenceError(f"sequence {sequence}: {path} has {len(values)} lines but the "
                            f"sequence has {count} frames")
    return np.asarray(values, dtype=np.int64)


def read_meta_info(path: Path, sequence: str) -> Dict[str, str]:
    """``key: value`` lines of ``meta_info.ini`` (section headers ``[...]`` skipped).

    Raises:
        SequenceError: a line that is neither a header nor ``key: value`` (names file:line).
    """
    meta: Dict[str, str] = {}
    for number, line in read_lines(path, sequence) if path.is_file() else []:
        if line.startswith("[") and line.endswith("]"):
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip():
            raise SequenceError(f"sequence {sequence}: {path}:{number}: expected "
                                f"'key: value', got {line!r}")
        meta[key.strip()] = value.strip()
    return meta


def load(folder: Path, with_images: bool = True) -> Got10kSequence:
    """Read one GOT-10k sequence folder (``with_images=False``: ground truth only).

    Raises:
        SequenceError: missing ``groundtruth.txt`` or image folder, an image count that
            differs from the ground-truth rows (except the one-row test layout), or a
            malformed label file; each message names the file.
    """
    folder = Path(folder)
    name = folder.name
    gt_path = folder / GROUND_TRUTH
    rows = read_rows(gt_path, name)
    rgb_files: Optional[List[Path]] = None
    count = len(rows)
    if with_images:
        rgb_files = list_images(folder, name)
        if len(rows) != 1:
            require_image_count(name, rgb_files, folder, len(rows), gt_path)
        count = len(rgb_files)
    gt = np.full((count, 4), np.nan)
    gt[:len(rows)] = nan_where_empty(rows)
    declared_init = rows[0] if len(rows) < count else None
    attributes: Dict[str, np.ndarray] = {}
    absence_path = folder / "absence.label"
    if absence_path.is_file():
        absent = read_label(absence_path, name, count, 1).astype(bool)
        gt[absent] = np.nan
        attributes["absence"] = absent
    cut_path = folder / "cut_by_image.label"
    if cut_path.is_file():
        attributes["cut_by_image"] = read_label(cut_path, name, count, 1).astype(bool)
    visible_ratio = None
    cover_path = folder / "cover.label"
    if cover_path.is_file():
        cover = read_label(cover_path, name, count, COVER_LEVELS)
        visible_ratio = cover / float(COVER_LEVELS)
        attributes["full_occlusion"] = cover == 0
    return Got10kSequence(name=name, dataset=NAME, rgb_files=rgb_files, thermal_files=None,
                          gt=gt, attributes=attributes, declared_init=declared_init,
                          folder=folder, visible_ratio=visible_ratio,
                          meta=read_meta_info(folder / "meta_info.ini", name))


def split_names(split: str) -> Callable[[Path], List[str]]:
    """Names ``<split>/<seq>`` of a split: ``<root>/<split>/list.txt``, else every folder
    of ``<root>/<split>`` holding a ``groundtruth.txt``."""
    def names(root: Path) -> List[str]:
        base = Path(root) / split
        if not base.is_dir():
            raise DatasetError(f"dataset {NAME}: split folder {base} is missing")
        listing = base / "list.txt"
        if listing.is_file():
            found = read_name_list(listing)
        else:
            found = sorted(p.name for p in base.iterdir()
                           if p.is_dir() and (p / GROUND_TRUTH).is_file())
        return [f"{split}/{n}" for n in found]
    return names


def open_got10k(root: Path | str, split: str = "train", exclude: Optional[Path | str] = None,
                with_images: bool = True) -> List[Got10kSequence]:
    """The sequences of one GOT-10k split, sorted by name, minus an exclusion list.

    Args:
        root: the GOT-10k folder holding ``train/``, ``val/``, ``test/``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        exclude: a text file of sequence names to skip, one per line (e.g. the VOT
            challenge's list of prohibited GOT-10k videos that mfDiMP leaves out).
        with_images: False reads ground truth and labels only.

    Raises:
        DatasetError: unknown split, missing folder, or an exclusion file none of whose
            names is in the split (most likely the wrong file).
        SequenceError: a listed sequence is missing or malformed.
    """
    if split not in SPLITS:
        raise DatasetError(f"dataset {NAME}: unknown split {split!r}; known: "
                           f"{', '.join(SPLITS)}")
    root = Path(root)
    names = split_names(split)(root)
    if exclude is not None:
        exclude_path = Path(exclude)
        if not exclude_path.is_file():
            raise DatasetError(f"dataset {NAME}: exclusion list {exclude_path} does not exist")
        excluded = set(read_name_list(exclude_path))
        kept = [n for n in names if n.split("/", 1)[1] not in excluded]
        if excluded and len(kept) == len(names):
            raise DatasetError(f"dataset {NAME}: none of the {len(excluded)} names in "
                               f"{exclude_path} is a sequence of split {split!r}")
        names = kept
    sequences = []
    for name in names:
        folder = root / name
        if not folder.is_dir():
            raise SequenceError(f"sequence {folder.name}: folder {folder} is missing "
                                f"(listed in {root / split / 'list.txt'})")
        sequences.append(load(folder, with_images))
    return sorted(sequences, key=lambda s: s.name)


READER = Reader(load=load, markers=(GROUND_TRUTH,),
                named_splits={split: split_names(split) for split in SPLITS})
