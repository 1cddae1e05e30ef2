"""Benchmark registry: open a benchmark folder as a list of lazily loaded Sequences.

>>> sequences = open_dataset("rgbt234", "/data/RGBT234")            # doctest: +SKIP
>>> seq = load_sequence("vtuav", "/data/VTUAV/test_ST/bus_001")    # doctest: +SKIP
>>> truth = load_ground_truth_only("lasher", rgbt_gt / "LasHeR", split="test")  # doctest: +SKIP

One module per benchmark documents its on-disk layout and ground-truth conventions
(:mod:`.gtot`, :mod:`.rgbt`, :mod:`.lasher`, :mod:`.vtuav`, :mod:`.vot`, :mod:`.thermal`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

from rgbt_tracking.data.datasets import got10k, gtot, lasher, rgbt, thermal, vot, vtuav
from rgbt_tracking.data.datasets.common import Reader, first_existing, read_name_list
from rgbt_tracking.data.sequence import DatasetError, Sequence, SequenceError

DATASETS: Dict[str, Reader] = {
    "gtot": gtot.READER,
    "rgbt210": rgbt.RGBT210_READER,
    "rgbt234": rgbt.RGBT234_READER,
    "lasher": lasher.READER,
    "vtuav": vtuav.READER,
    "vot-rgbt": vot.RGBT_READER,
    "ptb-tir": thermal.PTB_TIR_READER,
    "lsotb-tir": thermal.LSOTB_TIR_READER,
    "vot-tir": vot.TIR_READER,
    "got10k": got10k.READER,
}

# Files that list sequences or attributes, never a sequence's own ground truth.
_NOT_SEQUENCE_FILES = frozenset({"list.txt", "SequencesName.txt", "lashertest.txt",
                                  "Attributes_order.txt"})


def _reader(name: str) -> Reader:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def _split_names(name: str, reader: Reader, root: Path,
                 split: Optional[str]) -> Optional[Tuple[List[str], str]]:
    if split is None:
        return None
    if split in reader.named_splits:
        return reader.named_splits[split](root), f"split {split!r}"
    path = Path(split)
    if path.is_file():
        return read_name_list(path), str(path)
    known = ", ".join(reader.named_splits) or "none"
    raise DatasetError(f"dataset {name}: split {split!r} is not a named split ({known}) "
                       f"and not a file")


def _is_sequence_folder(path: Path, reader: Reader) -> bool:
    return (path.is_dir() and not path.name.startswith(".")
            and any((path / marker).exists() for marker in reader.markers))


def load_sequence(name: str, folder: Path | str) -> Sequence:
    """Read one sequence folder of benchmark ``name`` (images listed, not read).

    Raises:
        DatasetError: unknown benchmark name.
        SequenceError: missing folder or malformed sequence (message names the file).
    """
    reader = _reader(name)
    folder = Path(folder)
    if not folder.is_dir():
        raise SequenceError(f"sequence {folder.name}: folder {folder} does not exist")
    return reader.load(folder, True)


def open_dataset(name: str, root: Path | str, split: Optional[str] = None) -> List[Sequence]:
    """All sequences of a benchmark folder, sorted by name.

    Args:
        name: a key of :data:`DATASETS`.
        root: the folder holding the sequence folders (or an evaluation toolkit's folder
            for PTB-TIR / LSOTB-TIR, whose sequences lie in ``tirsequences/``/``sequences/``).
        split: None (the names in ``<root>/list.txt`` when there is one, else every folder
            that looks like a sequence), a named split of the benchmark (``"test"`` for
            LasHeR; ``"test_ST"``, ``"test_LT"``, ... for VTUAV), or a text file of names.

    Raises:
        DatasetError: unknown name or split, missing root, no sequence found.
        SequenceError: a listed sequence is missing or malformed.
    """
    reader = _reader(name)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset {name}: root folder {root} does not exist")
    base = first_existing([root / sub for sub in reader.sequence_subfolders]) or root
    listed = _split_names(name, reader, root, split)
    if listed is None and (base / "list.txt").is_file():
        listed = read_name_list(base / "list.txt"), str(base / "list.txt")
    if listed is None:
        folders = [p for p in base.iterdir() if _is_sequence_folder(p, reader)]
    else:
        names, source = listed
        folders = [base / n for n in names]
        for folder in folders:
            if not folder.is_dir():
                raise SequenceError(f"sequence {folder.name}: folder {folder} is missing "
                                    f"(listed in {source})")
    if not folders:
        raise DatasetError(f"dataset {name}: no sequence folders in {base}")
    return sorted((reader.load(folder, True) for folder in folders), key=lambda s: s.name)


def load_ground_truth_only(name: str, gt_root: Path | str,
                           split: Optional[str] = None) -> List[Sequence]:
    """Sequences with ground truth and attributes but no image files, sorted by name.

    ``gt_root`` is either a benchmark folder without its images (the same per-sequence
    files), or one dataset folder of the ``rgbt`` package's ``gt_file/`` (version 1.0.1)::

        gt_file/GTOT/SequencesName.txt, groundtruth/<seq>/{groundTruth_v,groundTruth_i,init}.txt
        gt_file/RGBT210/SequencesName.txt, groundtruth/<seq>/init.txt, attr_txt/<ATTR>.txt
        gt_file/RGBT234/rgbt234_gt/<seq>/{visible,infrared,init}.txt, attr_txt/<ATTR>.txt
        gt_file/LasHeR/lasher_gt/<seq>.txt, lashertest.txt, AttriSeqsTxt/<seq>.txt

    or a folder of ``<seq>.txt`` files (LasHeR's ``lasher_gt/``, the PTB-TIR/LSOTB-TIR
    toolkits' ``tiranno/``/``anno/``). Sequence names come from ``split``, else the
    benchmark's name list in ``gt_root`` (``SequencesName.txt``), else every sequence found.
    VTUAV without images is taken to end on its last annotated frame.

    Raises:
        DatasetError: unknown name or split, missing root, nothing found.
        SequenceError: a listed sequence is missing or malformed.
    """
    reader = _reader(name)
    gt_root = Path(gt_root)
    if not gt_root.is_dir():
        raise DatasetError(f"dataset {name}: ground-truth folder {gt_root} does not exist")
    base = first_existing([gt_root / sub for sub in reader.gt_subfolders]) or gt_root
    listed = _split_names(name, reader, gt_root, split)
    if listed is None:
        name_list = first_existing([gt_root / n for n in reader.name_lists + ("list.txt",)])
        if name_list is not None:
            listed = read_name_list(name_list), str(name_list)
    if listed is None:
        names = sorted(p.name for p in base.iterdir() if _is_sequence_folder(p, reader))
        if not names and reader.load_flat is not None:
            names = sorted(p.stem for p in base.glob("*.txt")
                           if p.name not in _NOT_SEQUENCE_FILES)
        source = str(base)
    else:
        names, source = listed
    if not names:
        raise DatasetError(f"dataset {name}: no ground truth found in {base}")
    sequences = []
    for sequence_name in names:
        folder = base / sequence_name
        flat = base / f"{sequence_name}.txt"
        if folder.is_dir():
            sequences.append(reader.load(folder, False))
        elif reader.load_flat is not None and flat.is_file():
            sequences.append(reader.load_flat(flat))
        else:
            where = f"{folder} or {flat}" if reader.load_flat is not None else str(folder)
            raise SequenceError(f"sequence {sequence_name}: no ground truth at {where} "
                                f"(listed in {source})")
    return sorted(sequences, key=lambda s: s.name)


__all__ = ["DATASETS", "DatasetError", "SequenceError", "load_ground_truth_only",
           "load_sequence", "open_dataset"]
