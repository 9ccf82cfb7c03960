import os
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from llmbook import execute


def _write(path, *sources):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_execute_notebook_stores_outputs_in_the_book_environment(tmp_path):
    path = tmp_path / "nb.ipynb"
    _write(
        path,
        "import os, torch\nprint(os.environ['PYTHONHASHSEED'], os.environ['OMP_NUM_THREADS'])",
        "print(torch.get_num_threads())",
        "import pathlib; print(pathlib.Path.cwd().name)",
    )
    elapsed = execute.execute_notebook(path)
    assert elapsed > 0
    nb = nbformat.read(path, as_version=4)
    texts = [c.outputs[0]["text"].strip() for c in nb.cells]
    assert texts == ["0 1", "1", tmp_path.name]
    assert all(c.execution_count == i + 1 for i, c in enumerate(nb.cells))


def test_kernels_use_the_avx2_code_paths(tmp_path):
    # AVX-512 kernels round sums differently; the book pins AVX2 so stored outputs match on any x86 CPU
    path = tmp_path / "nb.ipynb"
    _write(
        path,
        "import os, torch\n"
        "print(os.environ['ATEN_CPU_CAPABILITY'], os.environ['MKL_CBWR'], os.environ['ONEDNN_MAX_CPU_ISA'])\n"
        "print(torch.backends.cpu.get_cpu_capability())",
    )
    execute.execute_notebook(path)
    text = nbformat.read(path, as_version=4).cells[0].outputs[0]["text"].split()
    assert text[:3] == ["avx2", "AVX2", "AVX2"]
    assert not text[3].startswith("AVX512")  # AVX2 where the CPU has it, plain code where it does not


def test_importing_llmbook_sets_the_kernel_defaults_before_torch():
    code = "import llmbook, os, torch; print(os.environ['MKL_CBWR'], torch.backends.cpu.get_cpu_capability())"
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "ATEN_CPU_CAPABILITY")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    word, capability = out.stdout.split()
    assert word == "AVX2" and not capability.startswith("AVX512")


def test_main_reports_failures_and_times(tmp_path, capsys):
    _write(tmp_path / "good.ipynb", "1 + 1")
    _write(tmp_path / "bad.ipynb", "raise ValueError('boom')")
    assert execute.main([str(tmp_path), "-j", "2"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "bad.ipynb" in out and "boom" in out
    assert " s  " in out and "good.ipynb" in out


def test_find_notebooks(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".ipynb_checkpoints").mkdir()
    _write(tmp_path / "a" / "x.ipynb", "1")
    _write(tmp_path / "a" / ".ipynb_checkpoints" / "x-checkpoint.ipynb", "1")
    assert execute.find_notebooks([str(tmp_path)]) == [tmp_path / "a" / "x.ipynb"]
    with pytest.raises(FileNotFoundError, match="neither a notebook"):
        execute.find_notebooks([str(tmp_path / "missing.ipynb")])


def test_main_with_no_notebooks(tmp_path, capsys):
    assert execute.main([str(tmp_path)]) == 1
    assert "no notebooks found" in capsys.readouterr().err


def test_report_lists_times_budget_and_total(tmp_path, capsys):
    _write(tmp_path / "good.ipynb", "1 + 1")
    report = tmp_path / "report.md"
    assert execute.main([str(tmp_path / "good.ipynb"), "--report", str(report)]) == 0
    assert "total; 0 over the 90 s budget" in capsys.readouterr().out
    text = report.read_text(encoding="utf-8")
    assert "good.ipynb" in text and "✓" in text and "**合计**" in text
    execute.write_report(report, [(tmp_path / "slow.ipynb", 120.0), (tmp_path / "bad.ipynb", None)])
    text = report.read_text(encoding="utf-8")
    assert "| 120.0 | 超出 |" in text and "执行失败" in text and "**120.0**" in text
