"""Data parallelism with torch.distributed (section 7.3), small enough for a 2-core CPU.

Run the data-parallel training step on 2 processes, from the repository root::

    torchrun --standalone --nproc_per_node 2 -m llmbook.distributed --out /tmp/ddp.pt

(``torchrun`` is ``python -m torch.distributed.run``.) Every process builds the same tiny
GPT from the same seed, cuts its own B / W rows out of the same global batch of B windows,
and trains with ``DistributedDataParallel`` over the gloo backend; rank 0 writes the final
parameters, the per-rank local gradients and DDP's averaged gradients of the first step to
``--out``. ``single_process_run`` does the same steps in one process with the whole batch,
so the two can be compared (Eq. eq-dist-mean); ``launch`` starts torchrun in a subprocess.
On GPUs the same script runs with ``--backend nccl`` (one process per GPU).

``zero_memory_per_device`` gives the model-state memory of mixed-precision Adam under
ZeRO stages 0-3 (Eq. eq-dist-zero).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn

from llmbook.gpt import GPT, GPTConfig

__all__ = ["DDPConfig", "tiny_gpt", "global_batch", "shard", "single_process_run", "ddp_run",
           "main", "launch", "zero_memory_per_device"]

BACKENDS = ("gloo", "nccl")


@dataclass
class DDPConfig:
    """A tiny GPT, a global batch of B windows, and a few SGD steps."""

    batch_size: int = 8  # B: the GLOBAL batch; each of W processes gets B / W windows
    block_size: int = 16
    vocab_size: int = 50
    n_layer: int = 1
    n_head: int = 2
    n_embd: int = 16
    steps: int = 3
    lr: float = 0.5
    seed: int = 0  # model initialisation and batches: the same on every process

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "lr":
                if not isinstance(value, (int, float)) or not value > 0:
                    raise ValueError(f"lr must be a positive number, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < (f.name != "seed"):
                raise ValueError(f"{f.name} must be a positive int (seed: >= 0), got {value!r}")

    def model_config(self) -> GPTConfig:
        """The GPTConfig of the tiny model."""
        return GPTConfig(vocab_size=self.vocab_size, block_size=self.block_size,
                         n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd)


def tiny_gpt(cfg: DDPConfig) -> GPT:
    """The model every process starts from: GPT(cfg.model_config()) seeded with cfg.seed."""
    torch.manual_seed(cfg.seed)
    return GPT(cfg.model_config())


def global_batch(cfg: DDPConfig, step: int, stream: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch of step ``step``: x (B, T) and next tokens y (B, T), the same on every rank.

    With a token ``stream`` (1-D ids < cfg.vocab_size), B random windows of it; without, random ids.
    """
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    T = cfg.block_size
    if stream is None:
        seq = torch.randint(0, cfg.vocab_size, (cfg.batch_size, T + 1), generator=g)
    else:
        if stream.dim() != 1 or len(stream) < T + 1:
            raise ValueError(f"stream must be a 1-D tensor of at least block_size + 1 = {T + 1} ids, "
                             f"got shape {tuple(stream.shape)}")
        if int(stream.max()) >= cfg.vocab_size or int(stream.min()) < 0:
            raise ValueError(f"stream ids must lie in [0, vocab_size={cfg.vocab_size}); set "
                             "DDPConfig.vocab_size to the tokenizer's size")
        starts = torch.randint(0, len(stream) - T, (cfg.batch_size,), generator=g)
        seq = stream[starts[:, None] + torch.arange(T + 1)]  # (B, T + 1)
    return seq[:, :-1], seq[:, 1:]


def shard(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rows [rank * B/W, (rank + 1) * B/W) of a (B, ...) batch: this process's share."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    B = batch.shape[0]
    if B % world_size:
        raise ValueError(f"the global batch B={B} is not divisible by world_size={world_size}; "
                         "choose B as a multiple of the number of processes")
    n = B // world_size
    return batch[rank * n: (rank + 1) * n]


def _grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.detach().cpu().clone() for name, p in model.named_parameters()}


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters()}


def single_process_run(cfg: DDPConfig, stream: torch.Tensor | None = None) -> dict:
    """cfg.steps SGD steps on the whole global batch in one process (the reference)."""
    model = tiny_gpt(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    losses, first_grad, first_params = [], None, None
    for step in range(cfg.steps):
        x, y = global_batch(cfg, step, stream)
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        if first_grad is None:
            first_grad = _grads(model)
        opt.step()
        if step == 0:
            first_params = _params(model)
        losses.append(loss.item())
    return {"params": _params(model), "grad": first_grad, "first_params": first_params,
            "losses": losses}


def ddp_run(cfg: DDPConfig, stream: torch.Tensor | None = None) -> dict | None:
    """cfg.steps DDP steps, each process on its shard; returns the results on rank 0, else None.

    Call inside an initialised process group (``torch.distributed.init_process_group``).
    The result holds the final parameters and those after the first step, DDP's averaged
    gradient of the first step, every rank's local gradient of the first step (computed
    without DDP) and the mean loss of every step.
    """
    if not dist.is_initialized():
        raise RuntimeError("no process group: call torch.distributed.init_process_group first, "
                           "or start the script with torchrun")
    rank, world = dist.get_rank(), dist.get_world_size()
    shard(torch.empty(cfg.batch_size), rank, world)  # fail early on an indivisible batch
    on_gpu = dist.get_backend() == "nccl"  # NCCL: one GPU per process, chosen by LOCAL_RANK
    device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    model = tiny_gpt(cfg).to(device)
    plain = tiny_gpt(cfg).to(device)  # an unwrapped copy: its gradient is this rank's local one
    ddp = nn.parallel.DistributedDataParallel(model)  # broadcasts rank 0's weights, hooks all-reduce
    opt = torch.optim.SGD(ddp.parameters(), lr=cfg.lr)
    losses, ddp_grad, local_grad, first_params = [], None, None, None
    for step in range(cfg.steps):
        x, y = (shard(t, rank, world).to(device) for t in global_batch(cfg, step, stream))
        if step == 0:
            plain(x, y)[1].backward()
            local_grad = _grads(plain)
        opt.zero_grad(set_to_none=True)
        _, loss = ddp(x, y)  # the loss of this rank's B / W windows
        loss.backward()  # gradients are all-reduced (averaged over ranks) during backward
        if step == 0:
            ddp_grad = _grads(model)
        opt.step()
        if step == 0:
            first_params = _params(model)
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)  # sum over ranks, for the log only
        losses.append(mean_loss.item() / world)
    gathered = [None] * world
    dist.all_gather_object(gathered, local_grad)
    if rank != 0:
        return None
    return {"params": _params(model), "grad": ddp_grad, "first_params": first_params,
            "local_grads": gathered,
            "losses": losses, "world_size": world, "config": dataclasses.asdict(cfg)}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torchrun --standalone --nproc_per_node 2 -m llmbook.distributed",
                                description="A few DDP steps on a tiny GPT; rank 0 saves the result.")
    p.add_argument("--out", required=True, help="file for rank 0's results (torch.save)")
    p.add_argument("--backend", default="gloo", choices=BACKENDS, help="gloo (CPU) or nccl (GPU)")
    p.add_argument("--stream", default=None, help="optional file (torch.save) of a 1-D tensor of "
                   "token ids to draw the windows from; default: random ids")
    for f in dataclasses.fields(DDPConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point for torchrun: init the process group, run ddp_run, rank 0 saves and reports."""
    args = _parser().parse_args(argv)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        print("error: RANK/WORLD_SIZE are not set; start this script with torchrun, e.g. "
              "torchrun --standalone --nproc_per_node 2 -m llmbook.distributed --out ddp.pt",
              file=sys.stderr)
        return 2
    cfg = DDPConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DDPConfig)})
    torch.set_num_threads(1)
    if args.backend == "nccl":  # one GPU per process on a node, chosen before NCCL starts
        if not torch.cuda.is_available():
            print("error: --backend nccl needs CUDA GPUs, and torch sees none; use --backend gloo on a CPU",
                  file=sys.stderr)
            return 2
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        dist.init_process_group(args.backend, device_id=device)  # binds the group to this GPU
    else:
        dist.init_process_group(args.backend)
    try:
        stream = torch.load(args.stream, weights_only=True) if args.stream else None
        result = ddp_run(cfg, stream)
        if result is not None:
            torch.save(result, args.out)
            losses = " ".join(f"{v:.4f}" for v in result["losses"])
            print(f"ddp world_size={result['world_size']} backend={args.backend} "
                  f"steps={cfg.steps} losses={losses} out={args.out}", flush=True)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


def launch(cfg: DDPConfig, nproc: int = 2, out: str | Path | None = None,
           timeout: float = 120.0, stream: str | Path | None = None,
           backend: str = "gloo") -> tuple[dict, str]:
    """Run main() under torchrun with nproc processes; return rank 0's results and its stdout.

    ``stream``: optional file of token ids (see ``main --stream``); ``backend``: gloo (CPU) or
    nccl (one CUDA GPU per process).
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive int, got {nproc!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    shard(torch.empty(cfg.batch_size), 0, nproc)  # fail here, not in the subprocesses
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(out) if out is not None else Path(tmp) / "ddp.pt"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "llmbook.distributed", "--out", str(path),
               "--backend", backend]
        for f in dataclasses.fields(DDPConfig):
            cmd += [f"--{f.name.replace('_', '-')}", str(getattr(cfg, f.name))]
        if stream is not None:
            cmd += ["--stream", str(stream)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"torchrun did not finish within {timeout} s; the machine may be "
                               "overloaded: retry with a larger timeout") from e
        if proc.returncode != 0:
            raise RuntimeError(f"torchrun failed with exit code {proc.returncode}:\n"
                               f"{proc.stderr[-3000:]}")
        result = torch.load(path, weights_only=True)
    return result, proc.stdout


def zero_memory_per_device(n_params: float, n_devices: int = 1, stage: int = 0,
                           k: int = 12) -> float:
    """Bytes of model states per device for mixed-precision Adam under ZeRO (Eq. eq-dist-zero).

    fp16 weights (2 bytes/param) and gradients (2) plus k bytes/param of optimizer states
    (fp32 master weights, momentum and variance: k = 12). Stage 1 shards the optimizer
    states over the n_devices devices, stage 2 also the gradients, stage 3 also the weights;
    stage 0 is plain data parallelism (everything replicated).
    """
    if not n_params > 0:
        raise ValueError(f"n_params must be positive, got {n_params!r}")
    if isinstance(n_devices, bool) or not isinstance(n_devices, int) or n_devices < 1:
        raise ValueError(f"n_devices must be a positive int, got {n_devices!r}")
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"stage must be 0 (no sharding), 1, 2 or 3, got {stage!r}")
    if not k >= 0:
        raise ValueError(f"k (optimizer bytes per parameter) must be >= 0, got {k!r}")
    weights, grads, optim = 2.0, 2.0, float(k)
    if stage >= 1:
        optim /= n_devices
    if stage >= 2:
        grads /= n_devices
    if stage >= 3:
        weights /= n_devices
    return (weights + grads + optim) * n_params


if __name__ == "__main__":
    sys.exit(main())
