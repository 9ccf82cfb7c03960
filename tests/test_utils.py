import random
import time

import numpy as np
import pytest
import torch

from llmbook import utils


def test_set_seed_makes_all_generators_repeat():
    utils.set_seed(123)
    first = (random.random(), np.random.rand(), torch.rand(3))
    utils.set_seed(123)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    torch.testing.assert_close(first[2], second[2])


def test_set_seed_threads():
    before = torch.get_num_threads()
    try:
        utils.set_seed(0, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_set_seed_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="non-negative int"):
        utils.set_seed(seed)


def test_set_seed_rejects_bad_threads():
    with pytest.raises(ValueError, match="threads must be a positive int"):
        utils.set_seed(0, threads=0)


def test_get_device_defaults_to_cpu(monkeypatch):
    monkeypatch.delenv("LLMBOOK_DEVICE", raising=False)
    assert utils.get_device() == torch.device("cpu")
    assert utils.get_device("cpu") == torch.device("cpu")


def test_get_device_auto_and_env(monkeypatch):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert utils.get_device("auto").type == expected
    monkeypatch.setenv("LLMBOOK_DEVICE", "auto")
    assert utils.get_device().type == expected


def test_get_device_errors(monkeypatch):
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        utils.get_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="sees no CUDA GPU"):
        utils.get_device("cuda")


def test_timer_measures_elapsed_time():
    with utils.Timer() as t:
        time.sleep(0.05)
    assert 0.04 < t.elapsed < 2.0


def test_show_source_returns_highlighted_code():
    shown = utils.show_source(utils.set_seed)
    assert "def set_seed" in shown.data
    with pytest.raises(TypeError, match="cannot show the source"):
        utils.show_source(42)


def test_table_text_and_html():
    table = utils.Table(["模型", "困惑度"], [["二元", 12.3456], ["三元", 7]], floatfmt=".1f")
    text = repr(table).splitlines()
    assert text[0].split() == ["模型", "困惑度"]
    assert text[2].split() == ["二元", "12.3"]
    html = table._repr_html_()
    assert "<th>困惑度</th>" in html and "<td>12.3</td>" in html


def test_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="row 1 has 1 cells but there are 2 headers"):
        utils.Table(["a", "b"], [[1, 2], [3]])
