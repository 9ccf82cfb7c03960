"""One plotting setup for the whole book: a CJK font that ships with ``mplfonts``, one style."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib
from matplotlib import font_manager

__all__ = ["setup", "cjk_font_path", "FONT_FAMILY"]

FONT_FAMILY = "Noto Sans CJK SC"
_FONT_FILE = "NotoSansCJKsc-Regular.otf"


def cjk_font_path() -> Path:
    """Path of the Noto Sans CJK SC font file inside the ``mplfonts`` package."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the package 'mplfonts' is needed for Chinese labels in plots; "
            "install it with: pip install -r requirements.txt"
        )
    path = Path(spec.submodule_search_locations[0]) / "fonts" / _FONT_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"font file {path} is missing from mplfonts; reinstall it with: "
            "pip install --force-reinstall mplfonts"
        )
    return path


def setup(dpi: int = 110) -> str:
    """Register the CJK font and apply the book's style; return the font family name.

    Call it once at the top of a notebook, before the first plot.
    """
    path = cjk_font_path()
    if FONT_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(path))
    matplotlib.rcParams.update(
        {
            "font.family": "sans-serif",
            "font.sans-serif": [FONT_FAMILY, "DejaVu Sans"],
            "axes.unicode_minus": False,  # CJK fonts draw U+2212 poorly; use '-'
            "figure.dpi": dpi,
            "savefig.dpi": dpi,
            "figure.figsize": (6.4, 4.0),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "legend.fontsize": 9,
            "legend.frameon": False,
        }
    )
    return FONT_FAMILY
