import warnings

import matplotlib
import matplotlib.pyplot as plt
import pytest

from llmbook import plotting


def test_setup_registers_cjk_font_and_renders_chinese_without_missing_glyphs(tmp_path):
    family = plotting.setup()
    assert family == plotting.FONT_FAMILY
    assert matplotlib.rcParams["font.sans-serif"][0] == family
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, -1])
    ax.set_title("困惑度随阶数的变化")
    ax.set_xlabel("阶数 n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph is a UserWarning
        fig.savefig(tmp_path / "plot.png")
    plt.close(fig)
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_setup_is_idempotent():
    plotting.setup()
    plotting.setup()
    names = [f.name for f in matplotlib.font_manager.fontManager.ttflist]
    assert names.count(plotting.FONT_FAMILY) >= 1


def test_missing_mplfonts_gives_clear_error(monkeypatch):
    monkeypatch.setattr(plotting.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install -r requirements.txt"):
        plotting.cjk_font_path()
