"""Training of the pix2pix RGB -> thermal translator (Isola et al., CVPR 2017) that
synthesises mfDiMP's thermal training images (Zhang et al., ICCV-W 2019, Sec. 4.2).

Objective (pix2pix Eq. 4), with ``x`` the RGB image, ``y`` the real thermal image,
``G(x)`` the generated one and ``D(x, .)`` the conditional PatchGAN's logit map:

* discriminator: ``L_D = 1/2 [ gan(D(x, y), real) + gan(D(x, G(x)), fake) ]`` (halved, as
  pix2pix does, to slow D down relative to G);
* generator: ``L_G = gan(D(x, G(x)), real) + lambda_L1 * ||y - G(x)||_1`` (lambda_L1 = 100),
  the non-saturating form (G maximises log D rather than minimising log(1 - D)).

``gan`` is the mean over the patch map of ``(logit - t)^2`` ("lsgan", Mao et al. 2017) or of
binary cross-entropy with logits ("vanilla", the paper), with target ``t`` = 1 for real and 0
for fake. Both networks use Adam, lr 2e-4, betas (0.5, 0.999). Images are in [-1, 1].

Training data are aligned RGB/thermal pairs: frames of the sequences that
``data.sources`` names (see :func:`rgbt_tracking.train.sources.open_training_sources`;
``data.cache_dir`` keeps rendered ``generated`` sources) and
the files of ``data.pair_folders`` (``{rgb: DIR, thermal: DIR}``, matching file names, e.g.
LLVIP's ``visible/`` and ``infrared/``). Each sample scales a pair so that its shorter side
is ``data.load_size`` (0: native size), then takes a random ``data.crop_size`` square crop
and flips it horizontally with probability 1/2 (pix2pix's jitter: 286 -> 256 crops), drawn
from a generator seeded by (seed, epoch, index). ``data.validation_pairs`` pairs, evenly
spread over all pairs, are held out for :meth:`Pix2PixTraining.validate` (mean L1 of the
centre crop).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence as Seq, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rgbt_tracking.nn.pix2pix import PatchDiscriminator, UNetGenerator
from rgbt_tracking.train.task import Batch, GradientSync, TrainingTask

LOGGER = logging.getLogger(__name__)

GAN_LOSSES = ("lsgan", "vanilla")


def gan_loss(logits: torch.Tensor, target_is_real: bool, mode: str = "lsgan") -> torch.Tensor:
    """Mean GAN loss of a discriminator logit map against an all-real or all-fake target.

    Args:
        logits: (B, 1, H', W') raw discriminator outputs.
        target_is_real: target 1 (real) or 0 (fake) everywhere.
        mode: ``"lsgan"``: mean of ``(logit - t)^2``; ``"vanilla"``: mean binary
            cross-entropy of ``sigmoid(logit)`` against ``t``.

    Returns:
        scalar tensor.
    """
    target = torch.full_like(logits, 1.0 if target_is_real else 0.0)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    raise ValueError(f"gan_loss mode must be one of {GAN_LOSSES}, got {mode!r}")


class Pix2PixModel(nn.Module):
    """The two pix2pix networks in one module (checkpoint keys ``generator.*`` and
    ``discriminator.*``); ``forward`` is the generator."""

    def __init__(self, generator: UNetGenerator, discriminator: PatchDiscriminator) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [-1, 1] -> (B, 1, H, W) thermal in [-1, 1]."""
        return self.generator(rgb)

    def discriminate(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        """Logit map of ``D(concat(rgb, thermal))``: (B, 1, H', W')."""
        return self.discriminator(torch.cat([rgb, thermal], dim=1))


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------

class _PairFolder:
    """Aligned image pairs of two folders with matching file names (a sequence-like)."""

    def __init__(self, rgb_folder: Path, thermal_folder: Path) -> None:
        from rgbt_tracking.data.datasets.common import IMAGE_EXTENSIONS, natural_key

        for label, folder in (("rgb", rgb_folder), ("thermal", thermal_folder)):
            if not folder.is_dir():
                raise FileNotFoundError(f"data.pair_folders: {label} folder {folder} "
                                        "does not exist")

        def images(folder: Path) -> Dict[str, Path]:
            return {p.stem: p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS}

        rgb, thermal = images(rgb_folder), images(thermal_folder)
        for label, mine, other, other_folder in (("rgb", rgb, thermal, thermal_folder),
                                                 ("thermal", thermal, rgb, rgb_folder)):
            unmatched = sorted(set(mine) - set(other), key=natural_key)
            if unmatched:
                raise ValueError(f"data.pair_folders: {len(unmatched)} {label} images have "
                                 f"no file of the same name in {other_folder} (e.g. "
                                 f"{', '.join(unmatched[:3])})")
        if not rgb:
            raise ValueError(f"data.pair_folders: no images in {rgb_folder}")
        stems = sorted(rgb, key=natural_key)
        self.name = str(rgb_folder)
        self.rgb_files = [rgb[s] for s in stems]
        self.thermal_files = [thermal[s] for s in stems]

    def __len__(self) -> int:
        return len(self.rgb_files)

    def frame(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        import cv2

        rgb = cv2.imread(str(self.rgb_files[index]), cv2.IMREAD_COLOR)
        thermal = cv2.imread(str(self.thermal_files[index]), cv2.IMREAD_UNCHANGED)
        for image, path in ((rgb, self.rgb_files[index]), (thermal, self.thermal_files[index])):
            if image is None:
                raise ValueError(f"data.pair_folders: cannot read image {path}")
        if thermal.ndim == 3:
            thermal = thermal[:, :, 0]
        return cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB), thermal


def thermal_to_unit(thermal: np.ndarray) -> np.ndarray:
    """H x W thermal image as float32 in [0, 1]: uint8 / 255; other types (uint16 raw
    counts, float32 temperatures) min-max scaled per image."""
    if thermal.dtype == np.uint8:
        return thermal.astype(np.float32) / 255.0
    values = thermal.astype(np.float32)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


class AlignedPairDataset(torch.utils.data.Dataset):
    """Crops of aligned RGB/thermal pairs for pix2pix.

    Items: ``{"rgb": (3, S, S) float32, "thermal": (1, S, S) float32}`` in [-1, 1],
    ``S = crop_size``.

    Args:
        sources: sequence-likes with ``__len__`` and ``frame(i) -> (rgb H x W x 3 uint8,
            thermal H x W)``.
        pairs: (M, 2) int64 rows ``(source index, frame index)`` this dataset draws from.
        crop_size: side of the square crops.
        load_size: shorter side the pair is scaled to before cropping (0: native size;
            images shorter than ``crop_size`` are scaled up to it).
        length: number of items per epoch (random mode) -- ignored in fixed mode.
        seed: base seed; item ``i`` of epoch ``e`` uses ``default_rng([seed, e, i])``.
        random: True: random pair order, crops and flips; False: every pair once, centre
            crop, no flip (validation).
    """

    def __init__(self, sources: Seq[Any], pairs: np.ndarray, crop_size: int, load_size: int,
                 length: int, seed: int = 0, random: bool = True) -> None:
        if len(pairs) == 0:
            raise ValueError("AlignedPairDataset: no pairs to draw from")
        self.sources = list(sources)
        self.pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        self.crop_size = int(crop_size)
        self.load_size = int(load_size)
        self.length = int(length) if random else len(self.pairs)
        self.seed = int(seed)
        self.random = random
        self.epoch = 0
        self._order: Tuple[int, Optional[np.ndarray]] = (-1, None)

    def __len__(self) -> int:
        return self.length

    def _pair_index(self, index: int) -> int:
        if not self.random:
            return index
        epoch, order = self._order
        if order is None or epoch != self.epoch:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.pairs))
            self._order = (self.epoch, order)
        return int(order[index % len(order)])

    def _scaled(self, rgb: np.ndarray, thermal: np.ndarray, where: str
                ) -> Tuple[np.ndarray, np.ndarray]:
        import cv2

        if rgb is None or thermal is None:
            raise ValueError(f"{where}: pix2pix needs both an RGB and a thermal image")
        height, width = rgb.shape[:2]
        if thermal.shape[:2] != (height, width):
            thermal = cv2.resize(thermal, (width, height), interpolation=cv2.INTER_LINEAR)
        short = self.load_size if self.load_size > 0 else min(height, width)
        short = max(short, self.crop_size)
        scale = short / min(height, width)
        if scale != 1.0:
            size = (max(self.crop_size, int(round(width * scale))),
                    max(self.crop_size, int(round(height * scale))))
            method = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, size, interpolation=method)
            thermal = cv2.resize(thermal, size, interpolation=method)
        return rgb, thermal

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"AlignedPairDataset: item {index} outside 0..{len(self) - 1}")
        source_index, frame_index = self.pairs[self._pair_index(index)]
        source = self.sources[source_index]
        where = f"{getattr(source, 'name', source_index)} frame {frame_index}"
        rgb, thermal = self._scaled(*source.frame(int(frame_index)), where)
        height, width = rgb.shape[:2]
        size = self.crop_size
        if self.random:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            top = int(rng.integers(0, height - size + 1))
            left = int(rng.integers(0, width - size + 1))
            flip = bool(rng.random() < 0.5)
        else:
            top, left, flip = (height - size) // 2, (width - size) // 2, False
        rgb = rgb[top:top + size, left:left + size]
        thermal = thermal_to_unit(thermal[top:top + size, left:left + size])
        if flip:
            rgb, thermal = rgb[:, ::-1], thermal[:, ::-1]
        rgb_tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()
        thermal_tensor = torch.from_numpy(np.ascontiguousarray(thermal))[None]
        return {"rgb": rgb_tensor / 127.5 - 1.0, "thermal": thermal_tensor * 2.0 - 1.0}


def _pair_folder_sources(entries: Any) -> List[_PairFolder]:
    if not entries:
        return []
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"data.pair_folders must be a list of {{rgb: DIR, thermal: DIR}}, "
                         f"got {type(entries).__name__}")
    folders = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not {"rgb", "thermal"} <= set(entry):
            raise ValueError(f"data.pair_folders[{i}] must be a mapping with keys 'rgb' and "
                             f"'thermal', got {entry!r}")
        folders.append(_PairFolder(Path(entry["rgb"]), Path(entry["thermal"])))
    return folders


def _sequence_sources(specs: Any, cache_dir: Optional[str]) -> List[Any]:
    if not specs:
        return []
    from rgbt_tracking.train.sources import open_training_sources

    sequences = list(open_training_sources(specs, cache_dir))
    for seq in sequences:
        if getattr(seq, "thermal_files", ()) is None:
            raise ValueError(f"data.sources: sequence {seq.name} has no thermal images; "
                             "pix2pix trains on aligned RGB/thermal pairs")
    return sequences


def split_pairs(counts: Seq[int], validation_pairs: int) -> Tuple[np.ndarray, np.ndarray]:
    """All ``(source, frame)`` pairs split into training and held-out validation rows.

    The ``validation_pairs`` held-out rows are evenly spread over the concatenation of all
    sources (``np.linspace`` positions), so that several sources are represented.

    Returns:
        (train (M - V, 2), validation (V, 2)) int64.

    Raises:
        ValueError: no pairs, or not at least one pair left for training.
    """
    total = int(sum(counts))
    if total == 0:
        raise ValueError("pix2pix: no training pairs (data.sources and data.pair_folders "
                         "are empty)")
    if validation_pairs >= total:
        raise ValueError(f"pix2pix: data.validation_pairs={validation_pairs} leaves no "
                         f"training pair out of {total}")
    source = np.repeat(np.arange(len(counts)), counts)
    frame = np.concatenate([np.arange(c) for c in counts])
    rows = np.stack([source, frame], axis=1).astype(np.int64)
    held = np.zeros(total, dtype=bool)
    if validation_pairs > 0:
        held[np.unique(np.linspace(0, total - 1, validation_pairs).round().astype(int))] = True
    return rows[~held], rows[held]


# --------------------------------------------------------------------------------------
# Task
# --------------------------------------------------------------------------------------

class Pix2PixTraining(TrainingTask):
    """pix2pix RGB -> thermal (config sections ``model``, ``data``, ``optim``; see
    ``config/training/pix2pix.yaml``)."""

    name = "pix2pix"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        model = self.config.get("model") or {}
        self.gan_mode = str(model.get("gan_loss", "lsgan"))
        if self.gan_mode not in GAN_LOSSES:
            raise ValueError(f"model.gan_loss must be one of {GAN_LOSSES}, got "
                             f"{self.gan_mode!r}")
        self.lambda_l1 = float(model.get("lambda_l1", 100.0))
        if self.lambda_l1 < 0:
            raise ValueError(f"model.lambda_l1 must be >= 0, got {self.lambda_l1}")
        data = self.config.get("data") or {}
        self.crop_size = int(data.get("crop_size", 256))
        self.load_size = int(data.get("load_size", 0))
        if self.crop_size <= 0 or self.load_size < 0:
            raise ValueError(f"data.crop_size must be > 0 and data.load_size >= 0, got "
                             f"{self.crop_size} and {self.load_size}")
        multiple = 2 ** int(model.get("num_downs", 8))
        if self.crop_size % multiple:
            raise ValueError(f"data.crop_size={self.crop_size} must be a multiple of "
                             f"2**model.num_downs = {multiple}")
        self.validation_pairs = int(data.get("validation_pairs", 4))
        self._splits: Optional[Tuple[List[Any], np.ndarray, np.ndarray]] = None
        self._validation: Optional[AlignedPairDataset] = None

    # -- model and optimisers -------------------------------------------------------------
    def build_model(self) -> Pix2PixModel:
        """A fresh :class:`Pix2PixModel` from ``config["model"]``."""
        model = self.config.get("model") or {}
        norm = str(model.get("norm", "batch"))
        generator = UNetGenerator(in_channels=3, out_channels=1,
                                  num_downs=int(model.get("num_downs", 8)),
                                  base_channels=int(model.get("base_channels", 64)),
                                  norm=norm)
        discriminator = PatchDiscriminator(
            in_channels=4, base_channels=int(model.get("discriminator_channels",
                                                       model.get("base_channels", 64))),
            num_layers=int(model.get("discriminator_layers", 3)), norm=norm)
        return Pix2PixModel(generator, discriminator)

    def build_optimizers(self, model: nn.Module) -> Dict[str, torch.optim.Optimizer]:
        """Adam (lr ``optim.lr``, betas ``(optim.beta1, optim.beta2)``) for each network."""
        optim = self.config.get("optim") or {}
        lr = float(optim.get("lr", 2e-4))
        betas = (float(optim.get("beta1", 0.5)), float(optim.get("beta2", 0.999)))
        inner = _unwrap(model)
        return {"generator": torch.optim.Adam(inner.generator.parameters(), lr=lr, betas=betas),
                "discriminator": torch.optim.Adam(inner.discriminator.parameters(), lr=lr,
                                                  betas=betas)}

    # -- data -------------------------------------------------------------------------------
    def _pairs(self) -> Tuple[List[Any], np.ndarray, np.ndarray]:
        if self._splits is None:
            data = self.config.get("data") or {}
            sources = (_sequence_sources(data.get("sources"), data.get("cache_dir"))
                       + _pair_folder_sources(data.get("pair_folders")))
            train, held = split_pairs([len(s) for s in sources], self.validation_pairs)
            self._splits = (sources, train, held)
        return self._splits

    def build_dataset(self, split: str) -> AlignedPairDataset:
        """``"train"``: random crops, ``trainer.iterations_per_epoch * batch_size *
        world_size`` items per epoch (one per training pair when that is 0); ``"val"``: the
        held-out pairs, centre crops."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        sources, train, held = self._pairs()
        trainer = self.config.get("trainer") or {}
        seed = int(trainer.get("seed", 0))
        if split == "val":
            if len(held) == 0:
                raise ValueError("pix2pix: no validation pairs (data.validation_pairs is 0)")
            return AlignedPairDataset(sources, held, self.crop_size, self.load_size, 0,
                                      seed, random=False)
        iterations = int(trainer.get("iterations_per_epoch", 0))
        length = (iterations * int(trainer.get("batch_size", 1)) * _world_size()
                  if iterations > 0 else len(train))
        return AlignedPairDataset(sources, train, self.crop_size, self.load_size, length, seed)

    # -- losses -----------------------------------------------------------------------------
    def discriminator_losses(self, model: Pix2PixModel, rgb: torch.Tensor, real: torch.Tensor,
                             fake: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``L_D`` (key ``"discriminator"``) and its real/fake halves; ``fake`` is detached."""
        real_term = gan_loss(model.discriminate(rgb, real), True, self.gan_mode)
        fake_term = gan_loss(model.discriminate(rgb, fake.detach()), False, self.gan_mode)
        return {"discriminator": 0.5 * (real_term + fake_term),
                "discriminator_real": real_term, "discriminator_fake": fake_term}

    def generator_losses(self, model: Pix2PixModel, rgb: torch.Tensor, real: torch.Tensor,
                         fake: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``L_G`` (key ``"generator"``), its GAN term and its (unweighted) L1 term."""
        adversarial = gan_loss(model.discriminate(rgb, fake), True, self.gan_mode)
        l1 = F.l1_loss(fake, real)
        return {"generator": adversarial + self.lambda_l1 * l1,
                "generator_gan": adversarial, "generator_l1": l1}

    def compute_losses(self, model: nn.Module, batch: Batch) -> Dict[str, torch.Tensor]:
        """Every loss of one batch without optimising; ``"total"`` is ``L_G`` (the two
        networks are optimised in turn by :meth:`train_step`, never on one sum)."""
        inner = _unwrap(model)
        rgb, real = _inputs(inner, batch)
        fake = inner(rgb)
        losses = self.discriminator_losses(inner, rgb, real, fake)
        losses.update(self.generator_losses(inner, rgb, real, fake))
        losses["total"] = losses["generator"]
        return losses

    def train_step(self, model: nn.Module, batch: Batch,
                   optimizers: Mapping[str, torch.optim.Optimizer],
                   sync_gradients: GradientSync, grad_clip: float = 0.0) -> Dict[str, float]:
        """One pix2pix step: a discriminator update on real and (detached) fake pairs, then
        a generator update against the updated discriminator (whose weights are frozen
        meanwhile). Returns every loss as a float; ``"total"`` is ``L_G``."""
        inner = _unwrap(model)
        rgb, real = _inputs(inner, batch)
        fake = inner(rgb)

        _zero_all(optimizers)
        d_losses = self.discriminator_losses(inner, rgb, real, fake)
        d_losses["discriminator"].backward()
        sync_gradients(model)
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(inner.discriminator.parameters(), grad_clip)
        optimizers["discriminator"].step()

        _zero_all(optimizers)
        inner.discriminator.requires_grad_(False)
        try:
            g_losses = self.generator_losses(inner, rgb, real, fake)
            g_losses["generator"].backward()
        finally:
            inner.discriminator.requires_grad_(True)
        sync_gradients(model)
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(inner.generator.parameters(), grad_clip)
        optimizers["generator"].step()

        losses = {**d_losses, **g_losses, "total": g_losses["generator"]}
        return {key: float(value.detach()) for key, value in losses.items()}

    # -- validation and metadata ----------------------------------------------------------
    def validate(self, model: nn.Module) -> Dict[str, float]:
        """Mean absolute difference between generated and real thermal centre crops of the
        held-out pairs, in the training L1's units (images in [-1, 1]; x 127.5 for grey
        levels), generator in eval mode. Empty when ``data.validation_pairs`` is 0."""
        if self.validation_pairs <= 0:
            return {}
        if self._validation is None:
            self._validation = self.build_dataset("val")
        inner = _unwrap(model)
        was_training = inner.generator.training
        inner.generator.eval()
        total, count = 0.0, 0
        try:
            with torch.no_grad():
                for item in self._validation:
                    rgb, real = _inputs(inner, {k: v[None] for k, v in item.items()})
                    total += float((inner(rgb) - real).abs().mean())
                    count += 1
        finally:
            inner.generator.train(was_training)
        value = total / count
        LOGGER.info("pix2pix validation: mean L1 %.4f on %d held-out pairs", value, count)
        return {"val_l1": value}

    def checkpoint_metadata(self) -> Dict[str, Any]:
        """``{"kind": "pix2pix"}``."""
        return {"kind": "pix2pix"}


def _world_size() -> int:
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        return distributed.get_world_size()
    return 1


def _unwrap(model: nn.Module) -> Pix2PixModel:
    inner = getattr(model, "module", model)
    if not hasattr(inner, "generator") or not hasattr(inner, "discriminator"):
        raise ValueError(f"expected a module with 'generator' and 'discriminator', got "
                         f"{type(inner).__name__}")
    return inner  # type: ignore[return-value]


def _inputs(model: Pix2PixModel, batch: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
    for key, channels in (("rgb", 3), ("thermal", 1)):
        value = batch.get(key)
        if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[1] != channels:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"batch[{key!r}] must be a (B, {channels}, H, W) tensor, got {shape}")
    device = next(model.parameters()).device
    return batch["rgb"].to(device), batch["thermal"].to(device)


def _zero_all(optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
    for optimizer in optimizers.values():
        optimizer.zero_grad(set_to_none=True)
