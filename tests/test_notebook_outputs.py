"""Checks on the stored outputs of every chapter notebook (no execution needed)."""
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").rglob("*.ipynb"))


def _texts(nb):
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                yield cell, out.get("text", "")
            elif out.get("output_type") in ("execute_result", "display_data", "error"):
                yield cell, str(out.get("data", {}).get("text/plain", "")) + "".join(out.get("traceback", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_missing_glyphs_or_errors(path):
    """Chinese text in plots had a font (no missing-glyph warning) and no cell failed."""
    nb = nbformat.read(path, as_version=4)
    for cell, text in _texts(nb):
        assert "missing from font" not in text and "Glyph" not in text, (
            f"{path.name}: a plot lacks a glyph (call llmbook.plotting.setup()): {text[:200]}"
        )
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", [])), (
        f"{path.name} has a stored error output"
    )
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code" and c.source.strip()), (
        f"{path.name} has unexecuted code cells: re-run python -m llmbook.execute {path.relative_to(ROOT)}"
    )
