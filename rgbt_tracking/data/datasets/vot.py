"""VOT-RGBT 2019/2020 and VOT-TIR 2015/2016 in the VOT toolkit's sequence format.

Layout (the VOT toolkit's ``vot/dataset/vot.py`` and ``vot/region/io.py``,
github.com/votchallenge/toolkit)::

    <root>/list.txt                 sequence names (restricts the sequences)
    <root>/<seq>/sequence           optional metadata, ``key=value`` lines; ``channels.color``
                                    / ``channels.ir`` give a folder or a pattern such as
                                    ``color/%08d.jpg`` (frames numbered from 1)
    <root>/<seq>/color/00000001.jpg RGB frames (default when ``sequence`` says nothing)
    <root>/<seq>/ir/00000001.jpg    thermal frames
    <root>/<seq>/groundtruth.txt    one region per line, comma separated
    <root>/<seq>/<tag>.tag          per-frame tags, ``1``/``0`` per line (``.label`` too)

VOT-RGBT tags are e.g. ``camera_motion``, ``illum_change``, ``motion_change``,
``size_change``, ``occlusion``; VOT-TIR2015's stack lists ``camera_motion``,
``illum_change``, ``occlusion``, ``size``, ``motion``, ``empty``. Tags are read from
whatever ``*.tag`` files exist; a shorter file is padded with False (as the toolkit does).

VOT-TIR sequences in the legacy format keep their thermal frames directly in the
sequence folder (``<seq>/00000001.png``); the reader takes ``channels.ir``, else
``channels.color``, else ``ir/``, else ``color/``, else the images in the folder itself.

Regions (``groundtruth.txt``), as the toolkit parses them:

* 4 numbers ``x,y,w,h``: a rectangle; ``gt`` is the rectangle, ``polygons`` its corners
  ``(x, y), (x + w, y), (x + w, y + h), (x, y + h)``;
* 2n >= 6 numbers: a polygon (VOT-RGBT's rotated boxes have 8); ``gt`` is its axis-aligned
  bounding box from the corners' min/max, ``(min x, min y, max x - min x, max y - min y)``
  (not the area-preserving box some trackers initialise from); ``polygons`` holds it
  when it has 4 corners, else NaN;
* ``m<x0>,<y0>,<w>,<h>,<rle...>``: a mask (VOT2020 style) given as a run-length code over
  the ``w x h`` patch at ``(x0, y0)``, runs alternating 0s and 1s starting with 0s;
  ``gt`` is the tight box of its pixels ``(x, y, w, h)`` with ``w`` = number of pixel
  columns; ``polygons`` NaN. An empty mask gives NaN;
* 1 number: a special code (no region), NaN.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from rgbt_tracking.data.datasets.common import (Reader, list_images, parse_numbers, read_lines,
                                                read_tag_files, require_image_count)
from rgbt_tracking.data.sequence import Sequence, SequenceError

NAN_BOX = (np.nan,) * 4
NAN_POLYGON = (np.nan,) * 8


def read_properties(path: Path) -> Dict[str, str]:
    """``key=value`` lines of a VOT ``sequence`` file ({} when the file is absent)."""
    if not path.is_file():
        return {}
    properties: Dict[str, str] = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            properties[key.strip()] = value.strip()
    return properties


def _mask_box(values: List[str], path: Path, number: int, sequence: str) -> Tuple[float, ...]:
    try:
        numbers = [int(float(v)) for v in values]
    except ValueError as exc:
        raise SequenceError(f"sequence {sequence}: {path}:{number}: bad mask encoding") from exc
    if len(numbers) < 4:
        raise SequenceError(f"sequence {sequence}: {path}:{number}: mask needs x0,y0,w,h,rle")
    x0, y0, width, height = numbers[:4]
    runs = np.asarray(numbers[4:], dtype=np.int64)
    if width < 0 or height < 0 or np.any(runs < 0) or runs.sum() > width * height:
        raise SequenceError(f"sequence {sequence}: {path}:{number}: mask runs do not fit "
                            f"its {width}x{height} patch")
    flat = np.zeros(width * height, dtype=bool)
    ends = np.cumsum(runs)
    starts = ends - runs
    for start, end in zip(starts[1::2], ends[1::2]):
        flat[start:end] = True
    mask = flat.reshape(height, width)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return NAN_BOX
    return (float(x0 + cols[0]), float(y0 + rows[0]),
            float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1))


def parse_region(line: str, path: Path, number: int,
                 sequence: str) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """One ground-truth line -> ((x, y, w, h), (x1, y1, ..., x4, y4)), NaN where absent."""
    if line.startswith("m"):
        return _mask_box(line[1:].split(","), path, number, sequence), NAN_POLYGON
    values = parse_numbers(line, path, number, sequence)
    if len(values) == 1:
        return NAN_BOX, NAN_POLYGON
    if len(values) == 4:
        x, y, w, h = values
        return (x, y, w, h), (x, y, x + w, y, x + w, y + h, x, y + h)
    if len(values) >= 6 and len(values) % 2 == 0:
        xs, ys = values[0::2], values[1::2]
        box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        return box, tuple(values) if len(values) == 8 else NAN_POLYGON
    raise SequenceError(f"sequence {sequence}: {path}:{number}: not a VOT region "
                        f"(1, 4 or an even number >= 6 of values): {line!r}")


def read_regions(path: Path, sequence: str) -> Tuple[np.ndarray, np.ndarray]:
    """``groundtruth.txt`` -> ((N, 4) boxes, (N, 8) polygons)."""
    boxes: List[Tuple[float, ...]] = []
    polygons: List[Tuple[float, ...]] = []
    for number, line in read_lines(path, sequence):
        box, polygon = parse_region(line, path, number, sequence)
        boxes.append(box)
        polygons.append(polygon)
    if not boxes:
        raise SequenceError(f"sequence {sequence}: ground-truth file {path} is empty")
    return np.asarray(boxes, dtype=np.float64), np.asarray(polygons, dtype=np.float64)


def _pattern_files(folder: Path, pattern: str, sequence: str) -> List[Path]:
    files: List[Path] = []
    index = 1
    while True:
        try:
            path = folder / (pattern % index)
        except (TypeError, ValueError) as exc:
            raise SequenceError(f"sequence {sequence}: bad channel pattern {pattern!r} in "
                                f"{folder / 'sequence'}") from exc
        if not path.is_file():
            break
        files.append(path)
        index += 1
    if not files:
        raise SequenceError(f"sequence {sequence}: no image matches {folder / pattern}")
    return files


def channel_files(folder: Path, channel: str, sequence: str,
                  properties: Dict[str, str]) -> Optional[List[Path]]:
    """Frames of ``channel`` (``color`` or ``ir``): from ``sequence`` metadata, else the
    folder named after the channel; None when neither exists."""
    spec = properties.get(f"channels.{channel}")
    if spec is not None:
        spec = spec.replace("\\", "/")
        if "%" in spec:
            return _pattern_files(folder, spec, sequence)
        return list_images(folder / spec, sequence)
    if (folder / channel).is_dir():
        return list_images(folder / channel, sequence)
    return None


def _read(folder: Path) -> Tuple[Path, np.ndarray, np.ndarray, Dict[str, np.ndarray],
                                 Dict[str, str]]:
    properties = read_properties(folder / "sequence")
    gt_path = folder / properties.get("groundtruth", "groundtruth.txt")
    boxes, polygons = read_regions(gt_path, folder.name)
    return gt_path, boxes, polygons, read_tag_files(folder, folder.name, len(boxes)), properties


def load_rgbt(folder: Path, with_images: bool = True) -> Sequence:
    """Read one VOT-RGBT sequence (``color`` and ``ir`` channels)."""
    folder = Path(folder)
    name = folder.name
    gt_path, boxes, polygons, tags, properties = _read(folder)
    rgb_files = thermal_files = None
    if with_images:
        rgb_files = channel_files(folder, "color", name, properties)
        thermal_files = channel_files(folder, "ir", name, properties)
        for label, files in (("color", rgb_files), ("ir", thermal_files)):
            if files is None:
                raise SequenceError(f"sequence {name}: image folder {folder / label} is missing")
            require_image_count(name, files, files[0].parent, len(boxes), gt_path)
    return Sequence(name=name, dataset="vot-rgbt", rgb_files=rgb_files,
                    thermal_files=thermal_files, gt=boxes, polygons=polygons,
                    attributes=tags, folder=folder)


def load_tir(folder: Path, with_images: bool = True) -> Sequence:
    """Read one VOT-TIR sequence (a single thermal channel)."""
    folder = Path(folder)
    name = folder.name
    gt_path, boxes, polygons, tags, properties = _read(folder)
    thermal_files = None
    if with_images:
        thermal_files = (channel_files(folder, "ir", name, properties)
                         or channel_files(folder, "color", name, properties)
                         or list_images(folder, name))
        require_image_count(name, thermal_files, thermal_files[0].parent, len(boxes), gt_path)
    return Sequence(name=name, dataset="vot-tir", rgb_files=None, thermal_files=thermal_files,
                    gt=boxes, polygons=polygons, attributes=tags, folder=folder)


RGBT_READER = Reader(load=load_rgbt, markers=("groundtruth.txt", "color", "ir"))
TIR_READER = Reader(load=load_tir, markers=("groundtruth.txt",))
