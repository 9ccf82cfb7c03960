"""Re-execute notebooks in place, deterministically: ``python -m llmbook.execute [PATH ...]``.

Each notebook runs in a fresh kernel, in its own folder, with the same
environment the test suite uses (see :func:`notebook_env`), and is written
back with its new outputs. The execution time of each notebook is printed,
so the 90-second budget of the book can be checked at a glance; ``--report FILE``
also writes them, with the total, as a Markdown table (the build report).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from llmbook import CPU_KERNEL_ENV

__all__ = ["BUDGET_S", "notebook_env", "find_notebooks", "execute_notebook", "write_report", "main"]

BUDGET_S = 90.0  # the most seconds one notebook may take on a 2-core CPU

# The environment every notebook runs in, here and under pytest/nbval (tests/conftest.py):
# one thread per kernel (two kernels share the two cores under ``pytest -n 2``, and a fixed
# thread count keeps floating-point reductions identical), fixed hash seed (set iteration
# order), no progress bars, no GPU unless the reader asks for one; and the AVX2 code paths of
# PyTorch, MKL and oneDNN on every x86 CPU (see ``llmbook.CPU_KERNEL_ENV``).
NOTEBOOK_ENV = {
    **CPU_KERNEL_ENV,
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TQDM_DISABLE": "1",
    "LLMBOOK_DEVICE": "cpu",
}


def notebook_env() -> dict[str, str]:
    """Apply the notebook environment to ``os.environ`` (kernels inherit it) and return it."""
    for key, value in NOTEBOOK_ENV.items():
        os.environ[key] = value
    return dict(NOTEBOOK_ENV)


def find_notebooks(paths: list[str]) -> list[Path]:
    """Expand files and folders into a sorted list of notebooks (checkpoints and builds skipped)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p
                for p in path.rglob("*.ipynb")
                if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts
            )
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{raw} is neither a notebook (.ipynb) nor a folder")
    return sorted(set(found))


def execute_notebook(path: Path, timeout: int = 600) -> float:
    """Execute one notebook in place and return its wall-clock execution time in seconds."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    notebook_env()
    nb = nbformat.read(path, as_version=4)
    # IPC sockets in a private folder: the kernel is local, and over TCP it warns about
    # unencrypted traffic on every start.
    with tempfile.TemporaryDirectory(prefix="llmbook-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(
            nb,
            km=km,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent.resolve())}},
            record_timing=False,
        )
        start = time.perf_counter()
        try:
            client.execute()
        finally:  # we own the kernel manager, so we stop the kernel, also after an error
            if km.has_kernel:
                km.shutdown_kernel(now=True)
        elapsed = time.perf_counter() - start
    nbformat.write(nb, path)
    return elapsed


def _run(path: Path) -> tuple[Path, float | None, str]:
    try:
        return path, execute_notebook(path), ""
    except Exception as err:  # report every failure, keep executing the others
        return path, None, f"{type(err).__name__}: {err}"


def write_report(path: str | os.PathLike, times: list[tuple[Path, float | None]], jobs: int = 1) -> None:
    """Write a Markdown table of each notebook's execution time, its budget status and the total."""
    import platform

    import torch

    lines = [
        "# 笔记本执行时间",
        "",
        f"机器：{os.cpu_count()} 个 CPU 核，Python {platform.python_version()}，PyTorch {torch.__version__}；"
        f"同时执行 {jobs} 个笔记本；预算：每个笔记本不超过 {BUDGET_S:.0f} 秒。",
        "",
        "| 笔记本 | 时间（秒） | 预算 |",
        "| --- | ---: | --- |",
    ]
    for nb, elapsed in times:
        if elapsed is None:
            lines.append(f"| `{nb}` | — | 执行失败 |")
        else:
            lines.append(f"| `{nb}` | {elapsed:.1f} | {'超出' if elapsed > BUDGET_S else '✓'} |")
    total = sum(t for _, t in times if t is not None)
    lines += [f"| **合计** | **{total:.1f}** | |", ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["chapters"], help="notebooks or folders")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="notebooks executed at once")
    parser.add_argument("--report", metavar="FILE", help="also write the times as a Markdown table")
    args = parser.parse_args(argv)
    notebooks = find_notebooks(args.paths)
    if not notebooks:
        print("no notebooks found", file=sys.stderr)
        return 1
    failures, times = 0, []
    # "spawn": a forked child would inherit the parent's ZeroMQ sockets and threads and can hang
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=get_context("spawn")) as pool:
        for path, elapsed, error in pool.map(_run, notebooks):
            times.append((path, elapsed))
            if error:
                failures += 1
                print(f"FAILED  {path}\n{error}", flush=True)
            else:
                print(f"{elapsed:6.1f} s  {path}", flush=True)
    total = sum(t for _, t in times if t is not None)
    over = [p for p, t in times if t is not None and t > BUDGET_S]
    print(f"{total:6.1f} s  total; {len(over)} over the {BUDGET_S:.0f} s budget", flush=True)
    if args.report:
        write_report(args.report, times, args.jobs)
        print(f"report written to {args.report}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
