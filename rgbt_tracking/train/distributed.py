"""``torch.distributed`` for the training loop: process-group set-up and gradient averaging.

Started by ``torchrun`` (``python -m torch.distributed.run``), every process finds
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in its
environment; :func:`init_distributed` joins the group (NCCL for CUDA devices, Gloo for the
CPU). Started plainly, it returns a one-process context and every collective here is a
no-op.

Gradients are averaged by hand (:func:`average_gradients`) rather than through
``DistributedDataParallel``: GAN tasks call sub-modules several times per step and step
several optimisers, which DDP's per-forward hooks do not fit.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

import torch
import torch.distributed as dist

#: Size of one flat all-reduce bucket (bytes): a few MB keeps the number of collectives
#: small without doubling peak memory for large models.
DEFAULT_BUCKET_BYTES = 4 * 1024 * 1024

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class DistributedContext:
    """Where this process stands in a (possibly one-process) training job.

    Attributes:
        rank: global rank, 0 .. world_size - 1.
        world_size: number of processes.
        local_rank: rank on this machine (picks the CUDA device).
        is_main: rank 0: it writes checkpoints, logs, plots and shows progress.
        device: the torch device this process computes on.
        owns_process_group: True when :func:`init_distributed` created the process group
            (then :func:`cleanup` destroys it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    is_main: bool = True
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_process_group: bool = False

    @property
    def distributed(self) -> bool:
        """Whether collectives actually talk to other processes."""
        return self.world_size > 1


def _env_int(name: str) -> int:
    text = os.environ[name]
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {text!r}"
                         ) from None


def _resolve_device(device: str, local_rank: int, distributed: bool) -> torch.device:
    try:
        requested = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device {device!r} is not a torch device ({exc})") from None
    if requested.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available")
        if distributed:
            if local_rank >= torch.cuda.device_count():
                raise ValueError(f"LOCAL_RANK={local_rank} but only "
                                 f"{torch.cuda.device_count()} CUDA devices are visible")
            requested = torch.device("cuda", local_rank)
        elif requested.index is None:
            requested = torch.device("cuda", 0)
        torch.cuda.set_device(requested)
    elif requested.type != "cpu":
        raise ValueError(f"device {device!r}: training runs on 'cpu' or 'cuda[:N]'")
    return requested


def init_distributed(device: str = "cpu") -> DistributedContext:
    """Join the process group started by torchrun, or describe a single process.

    Args:
        device: ``"cpu"`` or ``"cuda"``/``"cuda:N"``. Under torchrun a CUDA process uses
            ``cuda:LOCAL_RANK`` whatever index was given.

    Returns:
        The context; ``owns_process_group`` tells whether a group was created here (an
        already initialised group is reused and left alone).

    Raises:
        ValueError: some but not all torchrun variables are set (names the missing ones),
            a non-integer rank, or a device that is not available.
    """
    present = [name for name in _TORCHRUN_VARIABLES if name in os.environ]
    if "WORLD_SIZE" not in os.environ or _env_int("WORLD_SIZE") <= 1:
        return DistributedContext(device=_resolve_device(device, 0, False))
    missing = [name for name in _TORCHRUN_VARIABLES if name not in present]
    if missing:
        raise ValueError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but the torchrun variables "
                         f"{', '.join(missing)} are not set; start with torchrun")
    rank, world_size = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK")
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} outside 0..{world_size - 1}")
    torch_device = _resolve_device(device, local_rank, True)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        kwargs: Dict[str, Any] = {}
        if backend == "nccl":
            kwargs["device_id"] = torch_device
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)
        owns = True
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank,
                              is_main=rank == 0, device=torch_device, owns_process_group=owns)


def _buckets(tensors: List[torch.Tensor], bucket_bytes: int) -> List[List[int]]:
    """Indices of ``tensors`` grouped into consecutive buckets of one dtype and device."""
    buckets: List[List[int]] = []
    size = 0
    for index, tensor in enumerate(tensors):
        nbytes = tensor.numel() * tensor.element_size()
        if (not buckets or size + nbytes > bucket_bytes
                or tensors[buckets[-1][0]].dtype != tensor.dtype
                or tensors[buckets[-1][0]].device != tensor.device):
            buckets.append([])
            size = 0
        buckets[-1].append(index)
        size += nbytes
    return buckets


def average_gradients(module: torch.nn.Module, context: DistributedContext,
                      bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> None:
    """Replace every parameter's ``.grad`` by its mean over all ranks (in place).

    Gradients are flattened into buckets of at most ``bucket_bytes`` (a larger tensor gets
    a bucket of its own) and summed with one ``all_reduce`` per bucket, then divided by
    the world size. A parameter whose ``.grad`` is None on some ranks contributes zeros
    there, so every rank issues the same collectives; it ends with the mean gradient on
    every rank, or with ``.grad = None`` on every rank when no rank had one (one extra
    small all-reduce counts them). A no-op when ``world_size == 1``.

    All ranks must call this for the same module at the same point of the step.
    """
    if not context.distributed:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        return
    present = torch.tensor([0.0 if p.grad is None else 1.0 for p in params],
                           device=context.device)
    dist.all_reduce(present)
    had_gradient = [count > 0 for count in present.tolist()]
    grads = [p.grad.detach() if p.grad is not None else torch.zeros_like(p)
             for p in params]
    for bucket in _buckets(grads, bucket_bytes):
        flat = torch.cat([grads[i].reshape(-1) for i in bucket]).to(context.device)
        dist.all_reduce(flat)
        flat /= context.world_size
        offset = 0
        for i in bucket:
            count = grads[i].numel()
            averaged = flat[offset:offset + count].view_as(grads[i]).to(params[i].device)
            offset += count
            if not had_gradient[i]:
                params[i].grad = None
            elif params[i].grad is None:
                params[i].grad = averaged.clone()
            else:
                params[i].grad.copy_(averaged)


def broadcast_module(module: torch.nn.Module, context: DistributedContext) -> None:
    """Copy rank 0's parameters and buffers to every rank (in place; no-op alone)."""
    if not context.distributed:
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.device.type == context.device.type:
                dist.broadcast(tensor.data, src=0)
            else:
                staged = tensor.data.to(context.device)
                dist.broadcast(staged, src=0)
                tensor.data.copy_(staged)


def all_reduce_mean(values: Mapping[str, float], context: DistributedContext
                    ) -> Dict[str, float]:
    """Mean of each named value over the ranks that report it.

    Ranks may report different keys (a value missing on a rank is averaged over the
    others); one ``all_gather_object`` carries them. Alone, returns a copy.
    """
    local = {str(key): float(value) for key, value in values.items()}
    if not context.distributed:
        return local
    gathered: List[Optional[Dict[str, float]]] = [None] * context.world_size
    dist.all_gather_object(gathered, local)
    sums: Dict[str, float] = {}
    counts: Dict[str, int] = {}
    for reported in gathered:
        for key, value in (reported or {}).items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
    return {key: sums[key] / counts[key] for key in sorted(sums)}


def any_rank(flag: bool, context: DistributedContext) -> bool:
    """True on every rank when ``flag`` is true on at least one (alone: ``flag``)."""
    if not context.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(value)
    return bool(value.item() > 0)


def barrier(context: DistributedContext) -> None:
    """Wait until every rank gets here (no-op alone)."""
    if context.distributed:
        if context.device.type == "cuda":
            dist.barrier(device_ids=[context.device.index])
        else:
            dist.barrier()


def cleanup(context: DistributedContext) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
    if context.owns_process_group and dist.is_initialized():
        dist.destroy_process_group()
        context.owns_process_group = False
