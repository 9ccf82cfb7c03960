"""Small helpers every notebook uses: seeding, device choice, timing, showing source."""
from __future__ import annotations

import inspect
import os
import random
import html
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

__all__ = ["set_seed", "get_device", "Timer", "show_source", "Table"]


def set_seed(seed: int = 0, threads: int | None = None) -> None:
    """Seed Python, NumPy and PyTorch; optionally fix PyTorch's CPU thread count.

    Every notebook calls this once at the top, so that its stored outputs are
    reproducible run after run.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if threads is not None:
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        torch.set_num_threads(threads)


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on: CPU by default, CUDA when asked for and present.

    ``prefer`` may be ``None`` (use ``LLMBOOK_DEVICE`` from the environment,
    else CPU), ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
    The book's stored outputs are computed on the CPU; CUDA is for readers who
    want speed and accept slightly different floating-point results.
    """
    choice = (prefer or os.environ.get("LLMBOOK_DEVICE") or "cpu").lower()
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {choice!r} was requested but PyTorch sees no CUDA GPU; "
                "use 'cpu' or 'auto', or install a CUDA build of PyTorch"
            )
        return torch.device(choice)
    raise ValueError(f"unknown device {choice!r}; use 'cpu', 'cuda' or 'auto'")


@dataclass
class Timer:
    """Measure wall-clock time: ``with Timer() as t: ...`` then read ``t.elapsed`` (seconds)."""

    elapsed: float = 0.0
    _start: float | None = field(default=None, repr=False)

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed = time.perf_counter() - self._start
        self._start = None


def show_source(obj) -> object:
    """Display the source of a function, class or module with syntax highlighting.

    What the reader sees is exactly the code that runs. Outside IPython the
    source string is returned instead.
    """
    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise TypeError(f"cannot show the source of {obj!r}: {err}") from None
    try:
        from IPython.display import Code
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return source
    return Code(source, language="python")


@dataclass
class Table:
    """A small table that shows as HTML in the book and as aligned text in tests.

    Floats are formatted with ``floatfmt`` so that stored outputs do not
    depend on the last digits of a computation.
    """

    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    floatfmt: str = ".2f"

    def __post_init__(self) -> None:
        width = len(self.headers)
        for i, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"row {i} has {len(row)} cells but there are {width} headers")

    def _cells(self) -> list[list[str]]:
        def fmt(x: object) -> str:
            if isinstance(x, float):
                return format(x, self.floatfmt)
            return str(x)

        return [[fmt(x) for x in row] for row in self.rows]

    def __repr__(self) -> str:
        lines = [[str(h) for h in self.headers], *self._cells()]
        # East Asian characters take two columns in a terminal
        def w(text: str) -> int:
            return sum(2 if ord(c) > 0x2E80 else 1 for c in text)

        widths = [max(w(line[j]) for line in lines) for j in range(len(self.headers))]
        out = []
        for k, line in enumerate(lines):
            out.append("  ".join(c + " " * (widths[j] - w(c)) for j, c in enumerate(line)).rstrip())
            if k == 0:
                out.append("  ".join("-" * n for n in widths))
        return "\n".join(out)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self._cells()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
