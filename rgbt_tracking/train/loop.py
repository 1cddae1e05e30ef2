"""The training loop shared by every learned model (:func:`run_training`).

One call trains a :class:`~rgbt_tracking.train.task.TrainingTask` for
``trainer.epochs`` epochs, in one process or in each process of a ``torchrun`` job:

1. :func:`~rgbt_tracking.train.distributed.init_distributed` joins the process group (if
   any); every generator is seeded from ``trainer.seed`` and the model built, moved to the
   device and copied from rank 0 to all ranks, then the optimisers and schedulers built.
2. Each epoch: every generator (python, numpy, torch) is reseeded from ``(seed, rank,
   epoch)``; the task's ``set_epoch`` is told the epoch; a :class:`ShardedSampler` gives
   each rank a disjoint share of a per-epoch permutation of the training set; batches of
   ``trainer.batch_size`` per process (``drop_last``) go through ``task.train_step`` with
   gradient averaging over the ranks; at most ``trainer.iterations_per_epoch`` steps
   (0 = the whole share). The dataset should hold at least ``iterations_per_epoch x
   batch_size x world_size`` samples; with fewer, the epoch ends with the data.
3. After the epoch: the losses are averaged over its steps and over the ranks, the
   schedulers step, rank 0 runs ``task.validate`` and appends a record to
   ``training_log.jsonl``; every ``trainer.checkpoint_every`` epochs and after the last,
   rank 0 writes ``checkpoint_eNNNN.pth`` and redraws ``training_log.png``.

Because every epoch reseeds every generator, a run resumed from a checkpoint draws the
same numbers as an uninterrupted one, whatever the number of processes; the checkpoint
also keeps rank 0's generator states for the record. Epochs are numbered from 1;
``checkpoint_eNNNN`` holds NNNN completed epochs.

Resuming reads the checkpoint on every rank, so with several machines ``out_dir`` must be
on a file system they all see.
"""
from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional

import numpy as np
import torch

from rgbt_tracking.eval.progress import progress as progress_bar
from rgbt_tracking.train import checkpoint as checkpoints
from rgbt_tracking.train.distributed import (
    DistributedContext,
    all_reduce_mean,
    average_gradients,
    barrier,
    broadcast_module,
    cleanup,
    init_distributed,
)
from rgbt_tracking.train.task import TrainingTask
from rgbt_tracking.train.training_log import LOG_NAME, PLOT_NAME, TrainingLog, plot_training_log


@dataclass
class TrainerSettings:
    """The ``trainer`` section of a training configuration (see the task module)."""

    epochs: int
    batch_size: int
    iterations_per_epoch: int = 0
    seed: int = 0
    num_workers: int = 0
    log_every: int = 0
    checkpoint_every: int = 1
    grad_clip: float = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TrainerSettings":
        """Read and check ``config["trainer"]``; unknown keys are left to the task.

        Raises:
            ValueError: a missing section or required key, or a value of the wrong type
                or range (named with its key).
        """
        section = config.get("trainer")
        if not isinstance(section, Mapping):
            raise ValueError("training configuration has no 'trainer' mapping (epochs, "
                             "batch_size, ...)")
        values: Dict[str, Any] = {}
        minimum = {"epochs": 0, "batch_size": 1, "iterations_per_epoch": 0, "seed": 0,
                   "num_workers": 0, "log_every": 0, "checkpoint_every": 1}
        for key, low in minimum.items():
            if key not in section:
                if key in ("epochs", "batch_size"):
                    raise ValueError(f"training configuration lacks trainer.{key}")
                continue
            value = section[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"trainer.{key} must be an integer >= {low}, got {value!r}")
            values[key] = value
        if "grad_clip" in section:
            clip = section["grad_clip"]
            if isinstance(clip, bool) or not isinstance(clip, (int, float)) or clip < 0:
                raise ValueError(f"trainer.grad_clip must be a number >= 0, got {clip!r}")
            values["grad_clip"] = float(clip)
        return cls(**values)


@dataclass
class TrainingSummary:
    """What :func:`run_training` did.

    Attributes:
        epochs_done: completed epochs (including those of a resumed checkpoint).
        last_losses: the last epoch's losses averaged over its steps and the ranks (empty
            when no epoch ran in this call and the log has none).
        checkpoint: the newest checkpoint file (written by rank 0), or None.
        log: ``training_log.jsonl``.
        plot: ``training_log.png`` (drawn at each checkpoint), or None if never drawn.
    """

    epochs_done: int
    last_losses: Dict[str, float] = field(default_factory=dict)
    checkpoint: Optional[Path] = None
    log: Optional[Path] = None
    plot: Optional[Path] = None


class ShardedSampler(torch.utils.data.Sampler):
    """Indices of a per-epoch random permutation, split into disjoint shares per rank.

    Epoch ``e``'s permutation is the same on every rank (seeded by ``(seed, e)``); rank
    ``r`` takes positions ``r, r + W, r + 2W, ...`` of its first ``W * (n // W)`` entries,
    so all ranks get ``n // W`` indices and, with a per-rank batch ``B``, step ``k``'s
    batches of all ranks together are positions ``k*W*B .. (k+1)*W*B - 1``: the batch a
    single process with batch ``W*B`` would see.
    """

    def __init__(self, length: int, rank: int, world_size: int, seed: int) -> None:
        if length < 0 or not 0 <= rank < world_size:
            raise ValueError(f"ShardedSampler: bad length {length} / rank {rank} / world "
                             f"size {world_size}")
        self.length, self.rank, self.world_size, self.seed = length, rank, world_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]
        generator = torch.Generator().manual_seed(int(state))
        order = torch.randperm(self.length, generator=generator)
        usable = len(self) * self.world_size
        return iter(order[:usable][self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        return self.length // self.world_size


def seed_everything(seed: int, rank: int = 0, epoch: int = 0) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and CUDA) from
    ``(seed, rank, epoch)`` through ``numpy.random.SeedSequence``."""
    words = np.random.SeedSequence([seed, rank, epoch]).generate_state(2)
    random.seed(int(words[0]))
    np.random.seed(int(words[1]))
    torch.manual_seed(int(words[0]) << 32 | int(words[1]))


def _seed_worker(worker_id: int) -> None:
    """DataLoader worker start: numpy and random follow torch's per-worker seed."""
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


def _capture_rng(seed: int) -> Dict[str, Any]:
    """Generator states as plain values and tensors (loadable with weights_only)."""
    numpy_state = np.random.get_state(legacy=False)
    state: Dict[str, Any] = {
        "seed": int(seed),
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": {"bit_generator": numpy_state["bit_generator"],
                  "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]),
                  "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: Mapping[str, Any]) -> None:
    if not state:
        return
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state({"bit_generator": numpy_state["bit_generator"],
                         "state": {"key": numpy_state["key"].numpy().astype(np.uint32),
                                   "pos": numpy_state["pos"]},
                         "has_gauss": numpy_state["has_gauss"],
                         "gauss": numpy_state["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=device.type == "cuda")
    if isinstance(value, Mapping):
        return {key: _to_device(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(item, device) for item in value)
    return value


class _RunningLossLabel:
    """Progress-bar description that shows the running mean of the total loss."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.mean: Optional[float] = None

    def __format__(self, spec: str) -> str:
        text = self.prefix if self.mean is None else f"{self.prefix} loss {self.mean:.4g}"
        return format(text, spec)

    def __str__(self) -> str:
        return format(self, "")


def _prepare_out_dir(out_dir: Path, resume: bool) -> Optional[Path]:
    """The checkpoint to resume from (None for a fresh run); refuse to overwrite."""
    latest = checkpoints.latest_checkpoint(out_dir)
    log_path = out_dir / LOG_NAME
    if resume:
        if latest is None:
            raise FileNotFoundError(f"nothing to resume: no checkpoint_eNNNN.pth in {out_dir}")
        return latest
    if latest is not None or log_path.exists():
        found = latest.name if latest is not None else LOG_NAME
        raise ValueError(f"output folder {out_dir} already holds a training run ({found}); "
                         "resume it (--resume) or choose another folder")
    return None


def _check_resumable(data: Mapping[str, Any], path: Path, task: TrainingTask,
                     optimizers: Mapping[str, Any], schedulers: Mapping[str, Any]) -> None:
    if data["task"] != task.name:
        raise ValueError(f"{path} was written by task {data['task']!r}, not {task.name!r}")
    model_now = checkpoints.plain_config(task.config.get("model", {}), "model")
    if data["config"].get("model", {}) != model_now:
        raise ValueError(f"{path}: its 'model' configuration differs from the one given "
                         f"now; resume with the same model settings "
                         f"(checkpoint: {data['config'].get('model')}, now: {model_now})")
    for label, have in (("optimizers", optimizers), ("schedulers", schedulers)):
        if set(data[label]) != set(have):
            raise ValueError(f"{path}: {label} {sorted(data[label])} in the checkpoint, "
                             f"{sorted(have)} built now")


def _learning_rates(optimizers: Mapping[str, torch.optim.Optimizer]) -> Dict[str, float]:
    return {name: float(opt.param_groups[0]["lr"]) for name, opt in optimizers.items()
            if opt.param_groups}


def _plain_figures(values: Mapping[str, Any], source: str) -> Dict[str, float]:
    out = {}
    for key, value in values.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{source} returned {key!r}={value!r}, not a number") from None
    return out


def run_training(task: TrainingTask, out_dir: Path | str, resume: bool = False,
                 device: str = "cpu", progress: bool = True) -> TrainingSummary:
    """Train ``task`` into ``out_dir`` (see the module docstring for what happens).

    Args:
        task: the task, holding the merged configuration.
        out_dir: folder of checkpoints, ``training_log.jsonl`` and ``training_log.png``.
        resume: continue from the newest checkpoint in ``out_dir`` (model, optimisers,
            schedulers, epoch, generator states; the log continues, records of epochs
            after the checkpoint are dropped).
        device: ``"cpu"`` or ``"cuda"`` (under torchrun each process takes
            ``cuda:LOCAL_RANK``).
        progress: show a progress bar with the running loss (rank 0 only).

    Returns:
        The :class:`TrainingSummary` (the same on every rank).

    Raises:
        ValueError: a fresh run into a folder that holds a run already (named), a bad
            ``trainer`` section, a checkpoint of another task or model configuration, a
            training set too small for one batch per rank.
        FileNotFoundError: ``resume`` without a checkpoint in ``out_dir``.
        RuntimeError: a loss that is not finite (epoch named).
    """
    settings = TrainerSettings.from_config(task.config)
    checkpoints.plain_config(task.config)     # fail now, not at the first checkpoint
    out_dir = Path(out_dir)
    resume_from = _prepare_out_dir(out_dir, resume)
    context = init_distributed(device)
    try:
        return _train(task, settings, out_dir, resume_from, context, progress)
    finally:
        cleanup(context)


def _train(task: TrainingTask, settings: TrainerSettings, out_dir: Path,
           resume_from: Optional[Path], context: DistributedContext,
           show_progress: bool) -> TrainingSummary:
    seed_everything(settings.seed)
    model = task.build_model().to(context.device)
    broadcast_module(model, context)
    optimizers = task.build_optimizers(model)
    schedulers = task.build_schedulers(optimizers)
    log = TrainingLog(out_dir / LOG_NAME)
    start_epoch = 0
    iterations: Optional[int] = 0
    latest: Optional[Path] = None
    last_losses: Dict[str, float] = {}
    if resume_from is not None:
        data = checkpoints.load_checkpoint(resume_from)
        _check_resumable(data, resume_from, task, optimizers, schedulers)
        model.load_state_dict(data["model"])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(data["optimizers"][name])
        for name, scheduler in schedulers.items():
            scheduler.load_state_dict(data["schedulers"][name])
        _restore_rng(data["rng"])
        start_epoch, latest = int(data["epoch"]), resume_from
        if context.is_main:
            log.truncate_after(start_epoch)
        done = [r for r in (log.records() if log.path.exists() else [])
                if r.get("kind") == "epoch" and r.get("epoch") == start_epoch]
        iterations = int(done[-1]["iterations"]) if done else None   # None: from steps
        if done:
            last_losses = dict(done[-1].get("losses", {}))
        barrier(context)

    dataset = task.build_dataset("train")
    sampler = ShardedSampler(len(dataset), context.rank, context.world_size, settings.seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=settings.batch_size, sampler=sampler,
        num_workers=settings.num_workers, drop_last=True, worker_init_fn=_seed_worker,
        pin_memory=context.device.type == "cuda")
    steps = len(loader)
    if settings.iterations_per_epoch > 0:
        steps = min(steps, settings.iterations_per_epoch)
    if steps == 0:
        raise ValueError(f"task {task.name}: the training set has {len(dataset)} samples, "
                         f"fewer than batch_size {settings.batch_size} x "
                         f"{context.world_size} process(es): no step per epoch")
    if iterations is None:
        iterations = start_epoch * steps

    def sync(module: torch.nn.Module) -> None:
        average_gradients(module, context)

    plot_path: Optional[Path] = None
    for epoch in range(start_epoch + 1, settings.epochs + 1):
        started = time.time()
        seed_everything(settings.seed, context.rank, epoch)
        task.set_epoch(dataset, epoch)
        sampler.set_epoch(epoch)
        model.train()
        rates = _learning_rates(optimizers)
        sums: Dict[str, float] = {}
        counts: Dict[str, int] = {}
        label = _RunningLossLabel(f"epoch {epoch}/{settings.epochs}")
        batches: Any = itertools.islice(loader, steps)
        if context.is_main and show_progress:
            # The label formats to "epoch E/N loss L" whenever the bar redraws.
            batches = progress_bar(batches, total=steps, desc=label)  # type: ignore[arg-type]
        for step, batch in enumerate(batches, start=1):
            losses = task.train_step(model, _to_device(batch, context.device), optimizers,
                                     sync, settings.grad_clip)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value)
                counts[key] = counts.get(key, 0) + 1
            if "total" in sums:
                label.mean = sums["total"] / counts["total"]
            if context.is_main and settings.log_every and step % settings.log_every == 0:
                log.append({"kind": "progress", "epoch": epoch, "iteration": step,
                            "losses": {k: sums[k] / counts[k] for k in sorted(sums)},
                            "time": time.time()})
        iterations += steps
        last_losses = all_reduce_mean({k: sums[k] / counts[k] for k in sums}, context)
        bad = sorted(k for k, v in last_losses.items() if not math.isfinite(v))
        if bad:
            raise RuntimeError(f"task {task.name}: loss {', '.join(bad)} is not finite in "
                               f"epoch {epoch} ({last_losses})")
        for scheduler in schedulers.values():
            scheduler.step()
        if context.is_main:
            model.eval()
            figures = _plain_figures(task.validate(model), f"{type(task).__name__}.validate")
            model.train()
            log.append({"kind": "epoch", "epoch": epoch, "iterations": iterations,
                        "losses": last_losses, "validation": figures, "lr": rates,
                        "epoch_seconds": time.time() - started, "time": time.time()})
        if epoch % settings.checkpoint_every == 0 or epoch == settings.epochs:
            latest = out_dir / checkpoints.checkpoint_name(epoch)
            if context.is_main:
                checkpoints.save_checkpoint(out_dir, checkpoints.build_checkpoint(
                    task.name, task.config, epoch, model, optimizers, schedulers,
                    _capture_rng(settings.seed), task.checkpoint_metadata()))
                plot_path = plot_training_log(log.path, out_dir / PLOT_NAME)
        barrier(context)
    if plot_path is None and (out_dir / PLOT_NAME).exists():
        plot_path = out_dir / PLOT_NAME
    return TrainingSummary(epochs_done=max(start_epoch, settings.epochs),
                           last_losses=last_losses, checkpoint=latest,
                           log=log.path, plot=plot_path)
