"""Data-parallel training: several processes, each on a share of every batch's users.

:func:`graphrec.model.train.train_epoch` is the only trainer; in a process group
(``torch.distributed``) every process draws the same batches from the same seed, takes its
contiguous share of each batch's users (:func:`share`), and weights its loss by its share of the
batch's targets, so that the sum over processes of the gradients (:func:`all_reduce_sum`) is the
gradient one process computes on the whole batch. Every process then takes the same Adam step
and holds the same model; validation and early stopping run alike in each, and they stop at the
same epoch. The result equals one process's up to the order of floating-point sums.

What grows with the users (the softmax rows, the histories) is split; what does not (the item
graph's propagation, forward and backward) each process computes in full. So a process group
speeds up training where the users' softmax dominates (the full softmax, large batches).

:func:`train_processes` runs the group on this machine (``torch.multiprocessing``, gloo on CPU,
NCCL on CUDA); under ``torchrun`` on several hosts, initialise the group (``env://``) and call
:func:`graphrec.model.train.train` in each process: nothing else changes.
"""
from __future__ import annotations

import dataclasses
import functools
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from graphrec.dataset import GraphData
    from graphrec.model.early_stopping import TrainingLog
    from graphrec.model.kgrec import KGRec
    from graphrec.model.train import TrainConfig


def group() -> tuple[int, int]:
    """``(rank, size)`` of this process's group; ``(0, 1)`` outside one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def share(count: int, rank: int, size: int) -> tuple[int, int]:
    """``[start, end)`` of ``rank``'s contiguous share of ``count`` rows (sizes differ by at
    most one; a share may be empty)."""
    return count * rank // size, count * (rank + 1) // size


def all_reduce_sum(tensors: Sequence[torch.Tensor]) -> None:
    """Sum each tensor over the group, in place, in one collective (no-op outside a group)."""
    if group()[1] == 1 or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Rank 0's parameters to every process (they start alike from the shared seed already;
    this makes it so whatever built them)."""
    if group()[1] == 1:
        return
    for parameter in module.parameters():
        dist.broadcast(parameter.data, src=0)


def _worker(rank: int, size: int, rendezvous: str, backend: str, threads: int,
            data: GraphData, config: TrainConfig, out: str, quiet: bool,
            run: Callable[..., tuple[KGRec, TrainingLog]]) -> None:
    torch.set_num_threads(threads)
    dist.init_process_group(backend, init_method=rendezvous, rank=rank, world_size=size)
    try:
        device = config.device
        if device is not None and device.startswith("cuda"):
            device = f"cuda:{rank}"
        config = dataclasses.replace(config, device=device)
        model, log = run(data, config, None if quiet or rank else print)
        if rank == 0:
            state = {k: v.cpu() for k, v in model.state_dict().items()}
            torch.save({"state": state, "log": log}, out)
    finally:
        dist.destroy_process_group()


def _join(context: Any) -> None:
    """Wait for every process of ``context`` (torch's ``ProcessContext``) to end. Torch stops
    the others when one fails; when the wait itself is cut short (Ctrl-C, or SIGINT sent to
    this process alone, as a supervisor sends it) the workers are stopped here, where they
    went on training to the end with no one to take their model."""
    try:
        while not context.join():
            pass
    except BaseException:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
        for process in context.processes:  # as torch does: SIGKILL after a grace period
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        raise


def train_processes(data: GraphData, config: TrainConfig, processes: int, *,
                    threads: int = 1, quiet: bool = False, **kwargs: Any
                    ) -> tuple[KGRec, TrainingLog]:
    """:func:`graphrec.model.train.train` in ``processes`` processes of this machine, each on
    ``threads`` torch threads; rank 0's model and log (every rank holds the same model).
    ``kwargs`` go to ``train`` (``epochs``, ``refit``).

    On CPU the processes are forked: they inherit the imported modules and the data, where a
    spawned process imports torch and graphrec again and unpickles the data, which costs more
    than a short training (``benchmarks/results/NOTES.md``). CUDA cannot be forked: spawned."""
    import torch.multiprocessing as mp

    from graphrec.model.train import train

    backend = "nccl" if (config.device or "").startswith("cuda") else "gloo"
    run = functools.partial(train, **kwargs)
    with tempfile.TemporaryDirectory(prefix="graphrec-ddp-") as tmp:
        rendezvous, out = f"file://{Path(tmp, 'rendezvous')}", str(Path(tmp, "model.pt"))
        context = mp.start_processes(
            _worker, args=(processes, rendezvous, backend, threads, data, config, out, quiet,
                           run), nprocs=processes, join=False,
            start_method="spawn" if backend == "nccl" else "fork")
        _join(context)
        saved = torch.load(out, weights_only=False)
    model = config.build(data)
    model.load_state_dict(saved["state"])
    model.eval()
    return model, saved["log"]

