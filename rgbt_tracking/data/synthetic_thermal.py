"""RGB-only sequences with synthetic thermal images from a trained pix2pix generator.

mfDiMP (Zhang et al., ICCV-W 2019, Sec. 4.2) trains on GOT-10k videos whose thermal
images are synthesised by pix2pix; :class:`SyntheticThermalSequence` does that on demand,
frame by frame, and caches the translated frames as PNG files::

    <cache_dir>/<sequence name>/<rgb file stem>.png     (8-bit grey, same size as the RGB)
    <cache_dir>/<sequence name>/generator.txt           fingerprint of the generator weights

An existing cache file is reused, never overwritten; a cache folder written by another
generator (other fingerprint) is refused, so a stale cache is never mixed with new frames.

>>> generator = load_thermal_generator("runs/pix2pix/checkpoint_e0200.pth")   # doctest: +SKIP
>>> sequences = with_synthetic_thermal(open_got10k(root, "train"),            # doctest: +SKIP
...                                    "runs/pix2pix/checkpoint_e0200.pth", "cache/got10k_tir")
"""
from __future__ import annotations

import hashlib
import os
import weakref
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence as Seq, Tuple

import numpy as np
import torch

from rgbt_tracking.nn.pix2pix import UNetGenerator, translate_rgb_to_thermal

PIX2PIX_TASK = "pix2pix"
FINGERPRINT_FILE = "generator.txt"

_FINGERPRINTS: "weakref.WeakKeyDictionary[torch.nn.Module, str]" = weakref.WeakKeyDictionary()


def generator_fingerprint(generator: torch.nn.Module) -> str:
    """SHA-1 of the generator's parameters and buffers (computed once per module object;
    a generator trained further after the first call keeps its first fingerprint)."""
    if generator in _FINGERPRINTS:
        return _FINGERPRINTS[generator]
    digest = hashlib.sha1()
    for key, value in sorted(generator.state_dict().items()):
        digest.update(key.encode())
        tensor = value.detach().cpu().contiguous()
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes()
                      if tensor.numel() else b"")
    _FINGERPRINTS[generator] = digest.hexdigest()
    return _FINGERPRINTS[generator]


def _build_generator(model_config: Dict[str, Any]) -> UNetGenerator:
    return UNetGenerator(in_channels=int(model_config.get("in_channels", 3)),
                         out_channels=int(model_config.get("out_channels", 1)),
                         num_downs=int(model_config.get("num_downs", 8)),
                         base_channels=int(model_config.get("base_channels", 64)),
                         norm=str(model_config.get("norm", "batch")))


def read_pix2pix_checkpoint(checkpoint_path: Path | str, device: str = "cpu"
                            ) -> Tuple[UNetGenerator, Dict[str, Any]]:
    """The generator of a pix2pix training checkpoint (eval mode, on ``device``) and the
    checkpoint's training configuration.

    Raises:
        FileNotFoundError: the checkpoint does not exist (named).
        ValueError: not a checkpoint, its ``task`` is not ``"pix2pix"``, or its weights do
            not fit the generator described by ``config["model"]``.
    """
    from rgbt_tracking.train.checkpoint import load_checkpoint

    path = Path(checkpoint_path)
    if not path.is_file():
        raise FileNotFoundError(f"pix2pix checkpoint {path} does not exist")
    data = load_checkpoint(path, map_location="cpu", expected_task=PIX2PIX_TASK)
    config = data["config"]
    model_config = config.get("model") or {}
    if not isinstance(model_config, dict):
        raise ValueError(f"{path}: config['model'] must be a mapping, got "
                         f"{type(model_config).__name__}")
    generator = _build_generator(model_config)
    prefix = "generator."
    state = {key[len(prefix):]: value for key, value in data["model"].items()
             if key.startswith(prefix)}
    if not state:
        raise ValueError(f"{path}: the model state has no 'generator.*' weights")
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path}: generator weights do not fit config['model'] "
                         f"{model_config}: {exc}") from None
    return generator.to(device).eval(), config


def load_thermal_generator(checkpoint_path: Path | str, device: str = "cpu") -> UNetGenerator:
    """The trained RGB -> thermal generator of a pix2pix checkpoint, in eval mode.

    Raises:
        FileNotFoundError: the checkpoint does not exist (named).
        ValueError: the checkpoint's task is not ``"pix2pix"`` or its weights do not fit.
    """
    return read_pix2pix_checkpoint(checkpoint_path, device)[0]


class SyntheticThermalSequence:
    """An RGB sequence whose :meth:`frame` adds a generator-made thermal image.

    Every attribute other than those below (``gt``, ``attributes``, ``init_box``,
    ``valid_frames``, ...) is the wrapped sequence's. A thermal image the wrapped sequence
    may have is ignored.

    Args:
        sequence: a sequence with ``name``, ``__len__``, ``boxes`` and ``frame(i) -> (rgb,
            thermal)`` whose RGB images are H x W x 3 uint8 (e.g. a GOT-10k sequence).
        generator: a trained :class:`UNetGenerator` (3 -> 1 channels).
        device: where the generator runs.
        cache_dir: folder for translated frames (``<cache_dir>/<name>/``), or None.
        short_side: working scale passed to
            :func:`~rgbt_tracking.nn.pix2pix.translate_rgb_to_thermal`.

    Raises:
        ValueError: the generator does not map 3 channels to 1, or the cache folder holds
            frames of another generator.
    """

    def __init__(self, sequence: Any, generator: UNetGenerator, device: str = "cpu",
                 cache_dir: Optional[Path | str] = None,
                 short_side: Optional[int] = None) -> None:
        if generator.in_channels != 3 or generator.out_channels != 1:
            raise ValueError(f"generator must map 3 channels to 1, it maps "
                             f"{generator.in_channels} to {generator.out_channels}")
        self.sequence = sequence
        self.generator = generator
        self.device = device
        self.short_side = short_side
        self.cache_folder = None if cache_dir is None else Path(cache_dir) / str(sequence.name)
        self._cache_checked = False

    def __getattr__(self, name: str) -> Any:
        if name == "sequence":   # not yet set (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.sequence, name)

    def __len__(self) -> int:
        return len(self.sequence)

    @property
    def name(self) -> str:
        """The wrapped sequence's name."""
        return str(self.sequence.name)

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) x y w h ground truth of the wrapped sequence."""
        return self.sequence.boxes

    def cache_path(self, index: int) -> Optional[Path]:
        """PNG file of frame ``index`` (named like its RGB file), or None without a cache."""
        if self.cache_folder is None:
            return None
        files = getattr(self.sequence, "rgb_files", None)
        stem = Path(files[index]).stem if files is not None else f"{index + 1:08d}"
        return self.cache_folder / f"{stem}.png"

    def frame(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """(rgb H x W x 3 uint8, synthetic thermal H x W uint8) of frame ``index``.

        Raises:
            ValueError: the wrapped frame has no RGB image, or a cached file is unreadable
                or of another size than the RGB image (the file is named, never replaced).
        """
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"sequence {self.name}: frame {index} outside 0..{count - 1}")
        index %= count
        rgb, _ = self.sequence.frame(index)
        if rgb is None:
            raise ValueError(f"sequence {self.name}: frame {index} has no RGB image to "
                             "translate into thermal")
        path = self.cache_path(index)
        if path is not None:
            self._check_cache_folder()
            if path.is_file():
                return rgb, self._read_cached(path, rgb.shape[:2])
        thermal = translate_rgb_to_thermal(self.generator, rgb, self.device, self.short_side)
        if path is not None:
            thermal = self._write_cached(path, thermal)
        return rgb, thermal

    def frames(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Yield :meth:`frame` of every frame in order."""
        for index in range(len(self)):
            yield self.frame(index)

    # -- cache --------------------------------------------------------------------------
    def _check_cache_folder(self) -> None:
        if self._cache_checked:
            return
        assert self.cache_folder is not None
        self.cache_folder.mkdir(parents=True, exist_ok=True)
        fingerprint = generator_fingerprint(self.generator)
        marker = self.cache_folder / FINGERPRINT_FILE
        if not marker.is_file():
            _write_new_file(marker, (fingerprint + "\n").encode())
        stored = marker.read_text().strip()
        if stored != fingerprint:
            raise ValueError(f"cache folder {self.cache_folder} holds frames of another "
                             f"generator (fingerprint {stored} in {marker}, this generator "
                             f"is {fingerprint}); use another cache_dir or delete it")
        self._cache_checked = True

    def _read_cached(self, path: Path, shape: Tuple[int, int]) -> np.ndarray:
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"sequence {self.name}: cached thermal frame {path} is not a "
                             "readable image; delete it to have it written again")
        if image.shape != tuple(shape):
            raise ValueError(f"sequence {self.name}: cached thermal frame {path} is "
                             f"{image.shape[1]}x{image.shape[0]}, the RGB frame is "
                             f"{shape[1]}x{shape[0]}")
        return image

    def _write_cached(self, path: Path, thermal: np.ndarray) -> np.ndarray:
        """Write ``thermal`` unless another writer got there first; return the file's image."""
        import cv2

        ok, encoded = cv2.imencode(".png", thermal)
        if not ok:
            raise ValueError(f"sequence {self.name}: cannot encode thermal frame for {path}")
        if _write_new_file(path, encoded.tobytes()):
            return thermal
        return self._read_cached(path, thermal.shape)


def _write_new_file(path: Path, payload: bytes) -> bool:
    """Create ``path`` with ``payload`` atomically; False (nothing written) if it exists.

    The bytes go to a temporary file that is then hard-linked to ``path``, which fails
    rather than replaces when ``path`` exists (another process wrote it meanwhile). On a
    file system without hard links the file is created exclusively and written in place.
    """
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_bytes(payload)
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    except OSError:
        try:
            with open(path, "xb") as handle:
                handle.write(payload)
            return True
        except FileExistsError:
            return False
    finally:
        temporary.unlink()


def with_synthetic_thermal(sequences: Seq[Any], checkpoint: Path | str,
                           cache_dir: Optional[Path | str] = None,
                           device: str = "cpu") -> List[SyntheticThermalSequence]:
    """Wrap RGB-only sequences so that each frame comes with a synthetic thermal image.

    The generator of the pix2pix ``checkpoint`` is loaded once and shared; frames are
    translated at the scale the generator was trained at (the checkpoint's
    ``config["data"]["load_size"]`` as the shorter side, when set).

    Raises:
        FileNotFoundError: the checkpoint does not exist.
        ValueError: not a pix2pix checkpoint.
    """
    generator, config = read_pix2pix_checkpoint(checkpoint, device)
    load_size = (config.get("data") or {}).get("load_size")
    short_side = int(load_size) if load_size else None
    return [SyntheticThermalSequence(seq, generator, device, cache_dir, short_side)
            for seq in sequences]
