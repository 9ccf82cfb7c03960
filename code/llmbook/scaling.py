"""Scaling laws in miniature (section 8.1): a sweep of tiny GPTs and the fits of their losses.

Reproduce the stored results with one command, from the repository root::

    python -m llmbook.scaling

It trains one character GPT for every (width, token budget) pair of ``SweepConfig`` on the
train split of the deduplicated reviews (the data and tokenizer of ``pretrain.prepare_data``),
measures the loss on the first ``valid_tokens`` tokens of the validation split, and writes
``checkpoints/scaling_results.json`` (10 to 20 minutes on the book's 2-core CPU, depending on
what else runs; ``--widths`` splits the grid over processes). Every run
uses one CPU thread and fixed seeds, so a rerun gives the same floats on the same machine.

The fits:

* ``fit_power_law``: L(N) = E + A N^-alpha by nonlinear least squares (Eq. eq-scal-ln-e);
* ``fit_loglog``: log L = log A - alpha log N by linear least squares, no E (Eq. eq-scal-ln);
* ``fit_loss_surface``: L(N, D) = E + A/N^a + B/D^b (Eq. eq-scal-lnd), fitted on log L;
* ``compute_optimal``: the closed-form N_opt(C), D_opt(C) at C = 6ND (Eq. eq-scal-nopt);
* ``measured_frontier``: the runs on the measured compute frontier (no cheaper run is better).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from llmbook.gpt import GPT, GPTConfig
from llmbook.train import TrainConfig, encode_stream, evaluate_lm, train_lm

__all__ = ["SweepConfig", "DEFAULT_PATH", "COMMAND", "non_embedding_params", "sweep_data",
           "run_point", "run_sweep", "save_results", "load_results", "fit_loglog",
           "fit_power_law", "SurfaceFit", "fit_loss_surface", "compute_optimal",
           "measured_frontier", "main"]

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "checkpoints" / "scaling_results.json"
COMMAND = "python -m llmbook.scaling"


@dataclass
class SweepConfig:
    """The grid of model widths x token budgets and the settings shared by every run."""

    widths: tuple[int, ...] = (16, 24, 32, 48, 64, 96)
    tokens: tuple[int, ...] = (2**18, 2**19, 2**20)  # D: training tokens per run
    n_layer: int = 2
    n_head: int = 4
    block_size: int = 32
    batch_size: int = 32  # one step sees batch_size * block_size tokens
    lr_times_width: float = 0.32  # peak lr = lr_times_width / width: wider models, smaller lr
    warmup_frac: float = 0.05
    seed: int = 0
    valid_tokens: int = 2**16  # evaluate on the first valid_tokens tokens of the valid split
    vocab_size: int = 2000

    def __post_init__(self) -> None:
        if not self.widths or not self.tokens:
            raise ValueError("widths and tokens must each hold at least one value")
        for d in self.widths:
            if d < 1 or d % self.n_head:
                raise ValueError(f"every width must be a positive multiple of n_head="
                                 f"{self.n_head}, got {d}")
        if not self.lr_times_width > 0:
            raise ValueError(f"lr_times_width must be positive, got {self.lr_times_width!r}")
        step_tokens = self.batch_size * self.block_size
        for D in self.tokens:
            if D < step_tokens or D % step_tokens:
                raise ValueError(f"every token budget must be a positive multiple of "
                                 f"batch_size * block_size = {step_tokens}, got {D}")

    def model_config(self, width: int) -> GPTConfig:
        """The GPTConfig of the model of a given width."""
        return GPTConfig(vocab_size=self.vocab_size, block_size=self.block_size,
                         n_layer=self.n_layer, n_head=self.n_head, n_embd=width)

    def lr(self, width: int) -> float:
        """Peak learning rate of the model of a given width: lr_times_width / width."""
        if width < 1:
            raise ValueError(f"width must be a positive int, got {width}")
        return self.lr_times_width / width

    def train_config(self, width: int, tokens: int) -> TrainConfig:
        """AdamW with warmup and a cosine schedule whose length matches the token budget."""
        steps = tokens // (self.batch_size * self.block_size)
        return TrainConfig(steps=steps, batch_size=self.batch_size, lr=self.lr(width),
                           warmup_steps=max(1, round(self.warmup_frac * steps)),
                           schedule="cosine", min_lr_ratio=0.1, seed=self.seed)


def non_embedding_params(cfg: GPTConfig) -> int:
    """N without the token and position embeddings: L(12d^2 + 13d) + 2d (Eq. eq-scale-param-nonemb)."""
    L, d = cfg.n_layer, cfg.n_embd
    if not cfg.bias:
        return L * (12 * d * d + 2 * d) + d
    return L * (12 * d * d + 13 * d) + 2 * d


def sweep_data(cfg: SweepConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Train token stream and the first cfg.valid_tokens tokens of the valid stream."""
    from llmbook import pretrain  # deferred: pretrain imports checkpoints, which is heavier

    tokenizer, texts, _ = pretrain.prepare_data(vocab_size=cfg.vocab_size)
    train_stream = encode_stream(tokenizer, texts.train)
    valid_stream = encode_stream(tokenizer, texts.valid)[: cfg.valid_tokens + 1]
    return train_stream, valid_stream


def run_point(cfg: SweepConfig, width: int, tokens: int, train_stream: torch.Tensor,
              valid_stream: torch.Tensor) -> dict:
    """Train one model of the given width on `tokens` tokens (one thread) and return its loss."""
    if width not in cfg.widths or tokens not in cfg.tokens:
        raise ValueError(f"(width={width}, tokens={tokens}) is not on the grid widths="
                         f"{cfg.widths}, tokens={cfg.tokens}")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same float sums on every run
    try:
        torch.manual_seed(cfg.seed)
        model_cfg = cfg.model_config(width)
        model = GPT(model_cfg)
        train_cfg = cfg.train_config(width, tokens)
        start = time.perf_counter()
        history = train_lm(model, train_stream, train_cfg)
        seconds = time.perf_counter() - start
        valid_loss = evaluate_lm(model, valid_stream)
    finally:
        torch.set_num_threads(threads_before)
    tail = [r["train_loss"] for r in history[-max(1, len(history) // 10):]]
    return {"width": width, "n_layer": cfg.n_layer, "N": non_embedding_params(model_cfg),
            "D": tokens, "steps": train_cfg.steps, "lr": train_cfg.lr, "valid_loss": valid_loss,
            "train_loss": sum(tail) / len(tail), "seconds": seconds}


def run_sweep(cfg: SweepConfig, log=print, widths: Sequence[int] | None = None) -> dict:
    """Every (width, tokens) point of the grid (or of some widths), smallest first."""
    widths = cfg.widths if widths is None else widths
    for width in widths:
        if width not in cfg.widths:
            raise ValueError(f"width {width} is not on the grid {cfg.widths}")
    train_stream, valid_stream = sweep_data(cfg)
    log(f"train stream {len(train_stream):,} tokens, valid {len(valid_stream) - 1:,} tokens")
    points = []
    for width in sorted(widths):
        for tokens in sorted(cfg.tokens):
            point = run_point(cfg, width, tokens, train_stream, valid_stream)
            log(f"d={width:3d} N={point['N']:8,d} D={tokens:9,d} valid loss "
                f"{point['valid_loss']:.4f} ({point['seconds']:.0f} s)")
            points.append(point)
    return {"config": dataclasses.asdict(cfg), "train_tokens": len(train_stream),
            "points": points, "torch": torch.__version__}


def save_results(results: dict, path: str | Path = DEFAULT_PATH) -> None:
    """Write sweep results as JSON."""
    Path(path).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


def load_results(path: str | Path = DEFAULT_PATH) -> dict:
    """Read stored sweep results; the config comes back as a SweepConfig."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep results at {path}; produce them with `{COMMAND}`")
    results = json.loads(path.read_text(encoding="utf-8"))
    cfg = dict(results["config"])
    cfg["widths"], cfg["tokens"] = tuple(cfg["widths"]), tuple(cfg["tokens"])
    results["config"] = SweepConfig(**cfg)
    return results


def _check_xy(x: Sequence[float], y: Sequence[float], n_min: int, names=("N", "L")
              ) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"{names[0]} and {names[1]} must be 1-D of the same length, got shapes "
                         f"{x.shape} and {y.shape}")
    if len(x) < n_min:
        raise ValueError(f"need at least {n_min} points to fit, got {len(x)}")
    if not (np.all(x > 0) and np.all(y > 0)):
        raise ValueError(f"{names[0]} and {names[1]} must be positive (logs are taken)")
    return x, y


def fit_loglog(N: Sequence[float], L: Sequence[float]) -> tuple[float, float]:
    """(A, alpha) of L = A N^-alpha by a straight-line fit of log L on log N (Eq. eq-scal-ln)."""
    N, L = _check_xy(N, L, 2)
    slope, intercept = np.polyfit(np.log(N), np.log(L), 1)
    return float(math.exp(intercept)), float(-slope)


def fit_power_law(N: Sequence[float], L: Sequence[float]) -> tuple[float, float, float]:
    """(E, A, alpha) of L = E + A N^-alpha by least squares on L (Eq. eq-scal-ln-e)."""
    from scipy.optimize import curve_fit

    N, L = _check_xy(N, L, 4)
    n0 = float(np.exp(np.log(N).mean()))  # rescale N: keeps A of order one

    def model(n, E, logA, alpha):
        return E + np.exp(logA) * (n / n0) ** -alpha

    p0 = (0.9 * L.min(), math.log(max(L.max() - 0.9 * L.min(), 1e-3)), 0.3)
    (E, logA, alpha), _ = curve_fit(model, N, L, p0=p0, bounds=([0, -20, 0], [L.min(), 20, 5]),
                                    maxfev=20000)
    return float(E), float(math.exp(logA) * n0 ** alpha), float(alpha)


@dataclass
class SurfaceFit:
    """L(N, D) = E + A / N^a + B / D^b (Eq. eq-scal-lnd)."""

    E: float
    A: float
    a: float
    B: float
    b: float

    def loss(self, N, D):
        """Predicted loss at N parameters and D tokens (arrays broadcast)."""
        return self.E + self.A * np.power(N, -self.a) + self.B * np.power(D, -self.b)


def fit_loss_surface(N: Sequence[float], D: Sequence[float], L: Sequence[float]) -> SurfaceFit:
    """Fit Eq. (eq-scal-lnd) by least squares on log L, from several starting points."""
    from scipy.optimize import least_squares

    N, L = _check_xy(N, L, 6)
    D, _ = _check_xy(D, L, 6, names=("D", "L"))
    n0, d0 = float(np.exp(np.log(N).mean())), float(np.exp(np.log(D).mean()))

    def pred(p):  # p = (E, log A, a, log B, b) with N, D rescaled by n0, d0
        return p[0] + np.exp(p[1]) * (N / n0) ** -p[2] + np.exp(p[3]) * (D / d0) ** -p[4]

    best = None
    for a0 in (0.2, 0.5, 1.0):
        for b0 in (0.2, 0.5, 1.0):
            p0 = [0.8 * L.min(), math.log(0.1), a0, math.log(0.1), b0]
            res = least_squares(lambda p: np.log(pred(p)) - np.log(L), p0,
                                bounds=([0, -20, 0, -20, 0], [L.min(), 20, 5, 20, 5]))
            if best is None or res.cost < best.cost - 1e-15:
                best = res
    E, logA, a, logB, b = best.x
    return SurfaceFit(E=float(E), A=float(math.exp(logA) * n0 ** a), a=float(a),
                      B=float(math.exp(logB) * d0 ** b), b=float(b))


def compute_optimal(fit: SurfaceFit, C: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """N_opt(C) = G (C/6)^(b/(a+b)), D_opt = C / (6 N_opt), G = (aA/(bB))^(1/(a+b)) (Eq. eq-scal-nopt)."""
    C = np.asarray(C, dtype=float)
    if np.any(C <= 0):
        raise ValueError("compute budgets C must be positive FLOPs")
    if fit.a <= 0 or fit.b <= 0:
        raise ValueError(f"need exponents a > 0 and b > 0 for an optimum, got a={fit.a}, b={fit.b}")
    G = (fit.a * fit.A / (fit.b * fit.B)) ** (1.0 / (fit.a + fit.b))
    N_opt = G * (C / 6.0) ** (fit.b / (fit.a + fit.b))
    return N_opt, C / (6.0 * N_opt)


def measured_frontier(N: Sequence[float], D: Sequence[float], L: Sequence[float]) -> list[int]:
    """Indices of the runs with a lower loss than every run of smaller or equal C = 6ND, by C.

    Read as a step function, their losses are the lower envelope of loss against compute: the
    best loss the measured runs reach on a budget C.
    """
    N, L = _check_xy(N, L, 1)
    D, _ = _check_xy(D, L, 1, names=("D", "L"))
    order = np.argsort(6.0 * N * D, kind="stable")
    frontier, best = [], math.inf
    for k in order:
        if L[k] < best:
            frontier.append(int(k))
            best = L[k]
    return frontier


def main(argv: list[str] | None = None) -> int:
    """Command line: run the sweep and store the results as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="JSON file to write")
    parser.add_argument("--widths", type=int, nargs="+", default=None,
                        help="run only these widths of the grid (e.g. to split the sweep)")
    args = parser.parse_args(argv)
    if args.widths is not None and args.out == DEFAULT_PATH:
        parser.error("--widths runs part of the grid; write it elsewhere with --out PATH")
    start = time.perf_counter()
    results = run_sweep(SweepConfig(), widths=args.widths)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_results(results, args.out)
    print(f"wrote {args.out}; the sweep took {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
