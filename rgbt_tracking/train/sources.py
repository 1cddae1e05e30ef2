"""What a task trains on: benchmark sequences and generated synthetic sequences.

A training configuration lists its sources in ``data.sources``; each entry is one of

``{"dataset": NAME, "root": PATH, "split": SPLIT}``
    every sequence of a benchmark folder through
    :func:`rgbt_tracking.data.datasets.open_dataset` (``split`` optional: a named split or
    a file of sequence names);
``{"dataset": "got10k", "root": PATH, "split": "train", "exclude": FILE,
"thermal_generator": CKPT}``
    an RGB-only benchmark with synthetic thermal frames from a pix2pix checkpoint of
    ``rgbt-track train pix2pix`` (the mfDiMP paper's training data); ``exclude`` lists
    GOT-10k sequence names to leave out (the paper drops the VOT-prohibited videos);
``{"generated": {"count": K, "seed": S, ...}}``
    K synthetic sequences (:mod:`rgbt_tracking.data.synthetic`), sequence ``k`` with seed
    ``S + k``; any other key is a :class:`~rgbt_tracking.data.synthetic.SyntheticConfig`
    field (``width``, ``height``, ``num_frames``, ``target_size``, ...).

Generated sequences take seconds each to render, so they are kept in memory (per process)
and, with a ``cache_dir``, in ``synthetic-<key>.npz`` files named by a hash of their
configuration. A cache file is only ever created, never replaced: one whose stored
configuration differs from the expected one is an error, not overwritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Protocol, Tuple, runtime_checkable

import numpy as np

from rgbt_tracking.data.synthetic import SyntheticConfig, SyntheticSequence, generate_sequence

FramePair = Tuple[Optional[np.ndarray], Optional[np.ndarray]]

_DATASET_KEYS = ("dataset", "root", "split", "exclude", "thermal_generator")
_CACHE_VERSION = 1
_GENERATED: Dict[str, SyntheticSequence] = {}


@runtime_checkable
class TrainingSequence(Protocol):
    """One annotated RGB-T sequence a sampler draws frames from.

    :class:`rgbt_tracking.data.sequence.Sequence` satisfies it (images read from disk on
    demand), as does :class:`SyntheticTrainingSequence` (images in memory).
    """

    name: str

    def __len__(self) -> int: ...

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) float64 x y w h, pixels; NaN rows where the frame has no usable box."""

    def frame(self, index: int) -> FramePair:
        """(rgb H x W x 3 uint8 RGB order | None, thermal H x W | None) of frame ``index``."""


def valid_frames(sequence: TrainingSequence) -> np.ndarray:
    """(N,) bool: frames whose box is finite with positive width and height."""
    boxes = np.asarray(sequence.boxes, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(boxes), axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


class SyntheticTrainingSequence:
    """A :class:`~rgbt_tracking.data.synthetic.SyntheticSequence` as a training sequence.

    Args:
        synthetic: the generated sequence (frames held in memory).
        name: defaults to ``synthetic-seed<seed>``.
    """

    def __init__(self, synthetic: SyntheticSequence, name: Optional[str] = None) -> None:
        self.synthetic = synthetic
        self.name = name if name is not None else f"synthetic-seed{synthetic.config.seed}"

    def __len__(self) -> int:
        return len(self.synthetic)

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) float64 ground truth, x y w h pixels."""
        return self.synthetic.boxes

    def frame(self, index: int) -> FramePair:
        """(rgb H x W x 3 uint8, thermal H x W uint8) of frame ``index``."""
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"sequence {self.name}: frame {index} outside 0..{count - 1}")
        return self.synthetic.rgb[index], self.synthetic.thermal[index]

    def __repr__(self) -> str:
        return f"SyntheticTrainingSequence({self.name!r}, {len(self)} frames)"


def _cache_key(config: SyntheticConfig) -> Tuple[str, str]:
    """(canonical JSON of the configuration, 16-hex-digit hash of it)."""
    text = json.dumps({"cache_version": _CACHE_VERSION, "config": config.to_dict()},
                      sort_keys=True)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _save_npz(sequence: SyntheticSequence, key_text: str, path: Path) -> None:
    extra = {"events": {k: list(v) for k, v in sequence.events.items()},
             "distractors": sorted(sequence.distractors)}
    arrays = {"rgb": np.stack(sequence.rgb), "thermal": np.stack(sequence.thermal),
              "boxes": sequence.boxes, "stamps": sequence.stamps,
              "occluded_fraction": sequence.occluded_fraction,
              "key": np.array(key_text), "extra": np.array(json.dumps(extra))}
    arrays.update({f"distractor_{k}": v for k, v in sequence.distractors.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
    try:
        np.savez(temporary, **arrays)
        if path.exists():       # written meanwhile by another process: keep that one
            return
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def _load_npz(path: Path, key_text: str, config: SyntheticConfig) -> SyntheticSequence:
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = str(data["key"])
            arrays = {name: data[name] for name in data.files if name != "key"}
        extra = json.loads(str(arrays["extra"]))
        names = list(extra["distractors"])
        distractors = {k: arrays[f"distractor_{k}"] for k in names}
        events = {k: (int(v[0]), int(v[1])) for k, v in extra["events"].items()}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"cache file {path} is not a readable synthetic sequence "
                         f"({exc}); delete it to regenerate") from None
    if stored != key_text:
        raise ValueError(f"cache file {path} holds another configuration than expected "
                         f"({stored} != {key_text}); it is left alone: delete it or use "
                         "another cache_dir")
    return SyntheticSequence(
        rgb=list(arrays["rgb"]), thermal=list(arrays["thermal"]), boxes=arrays["boxes"],
        stamps=arrays["stamps"], events=events,
        occluded_fraction=arrays["occluded_fraction"], distractors=distractors,
        config=config)


def generated_sequence(config: SyntheticConfig, cache_dir: Optional[Path | str] = None
                       ) -> SyntheticTrainingSequence:
    """The synthetic sequence of ``config``, from memory, ``cache_dir`` or rendered.

    Raises:
        ValueError: the cache file for this configuration exists but holds something else
            or is unreadable (named; it is never overwritten).
    """
    key_text, key = _cache_key(config)
    name = f"synthetic-seed{config.seed}-{key[:8]}"
    if key not in _GENERATED:
        path = None if cache_dir is None else Path(cache_dir) / f"synthetic-{key}.npz"
        if path is not None and path.exists():
            _GENERATED[key] = _load_npz(path, key_text, config)
        else:
            _GENERATED[key] = generate_sequence(config)
            if path is not None:
                _save_npz(_GENERATED[key], key_text, path)
    return SyntheticTrainingSequence(_GENERATED[key], name=name)


def clear_generated_cache() -> None:
    """Forget the generated sequences held in memory (files in cache folders stay)."""
    _GENERATED.clear()


def _generated_configs(spec: Any, where: str) -> List[SyntheticConfig]:
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: 'generated' must be a mapping with count, seed and "
                         f"SyntheticConfig fields, got {spec!r}")
    fields = dict(spec)
    count = fields.pop("count", 1)
    seed = fields.pop("seed", 0)
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"{where}: generated.count must be an integer >= 1, got {count!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{where}: generated.seed must be an integer >= 0, got {seed!r}")
    try:
        return [SyntheticConfig.from_dict({**fields, "seed": seed + k}) for k in range(count)]
    except ValueError as exc:
        raise ValueError(f"{where}: generated: {exc}") from None


def open_training_sources(specs: List[Mapping[str, Any]],
                          cache_dir: Optional[Path | str] = None) -> List[TrainingSequence]:
    """All training sequences of ``specs`` (see the module docstring), in spec order.

    Raises:
        ValueError: a spec that is not a mapping, has unknown keys, lacks ``root``, or
            has bad generator settings (each message names the spec by its position).
        rgbt_tracking.data.sequence.DatasetError: (a ValueError) unknown benchmark, missing
            folder or split.
    """
    from rgbt_tracking.data.datasets import open_dataset

    if not isinstance(specs, (list, tuple)) or not specs:
        raise ValueError(f"training sources must be a non-empty list of specs, got {specs!r}")
    sequences: List[TrainingSequence] = []
    for position, spec in enumerate(specs):
        where = f"training source #{position}"
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {spec!r}")
        if "generated" in spec:
            unknown = sorted(set(spec) - {"generated"})
            if unknown:
                raise ValueError(f"{where}: a generated source takes only the key "
                                 f"'generated', got also {', '.join(unknown)}")
            sequences.extend(generated_sequence(config, cache_dir)
                             for config in _generated_configs(spec["generated"], where))
        elif "dataset" in spec:
            unknown = sorted(set(spec) - set(_DATASET_KEYS))
            if unknown:
                raise ValueError(f"{where}: unknown keys {', '.join(unknown)}; a dataset "
                                 f"source takes {', '.join(_DATASET_KEYS)}")
            if "root" not in spec:
                raise ValueError(f"{where}: dataset {spec['dataset']!r} needs 'root'")
            if spec.get("exclude"):
                if spec["dataset"] != "got10k":
                    raise ValueError(f"{where}: 'exclude' is supported for got10k only")
                from rgbt_tracking.data.datasets.got10k import open_got10k

                opened = list(open_got10k(Path(str(spec["root"])), spec.get("split") or "train",
                                          exclude=Path(str(spec["exclude"]))))
            else:
                opened = list(open_dataset(str(spec["dataset"]), Path(str(spec["root"])),
                                           split=spec.get("split")))
            if spec.get("thermal_generator"):
                # RGB-only data (GOT-10k): thermal frames from a pix2pix generator
                # (mfDiMP Sec. 4.2), cached as PNG next to the other caches.
                from rgbt_tracking.data.synthetic_thermal import with_synthetic_thermal

                thermal_cache = None if cache_dir is None else Path(cache_dir) / "synthetic_thermal"
                opened = list(with_synthetic_thermal(opened, str(spec["thermal_generator"]),
                                                     cache_dir=thermal_cache))
            sequences.extend(opened)
        else:
            raise ValueError(f"{where}: expected a 'dataset' or a 'generated' key, got "
                             f"{', '.join(map(str, spec)) or 'none'}")
    return sequences
