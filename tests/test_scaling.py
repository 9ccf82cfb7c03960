import json
import math

import numpy as np
import pytest
import torch

from llmbook import scaling
from llmbook.gpt import GPT, GPTConfig, count_parameters
from llmbook.scaling import SurfaceFit, SweepConfig


def tiny_sweep() -> SweepConfig:
    return SweepConfig(widths=(8, 16), tokens=(64, 128), n_layer=1, n_head=2, block_size=8,
                       batch_size=4, vocab_size=20, valid_tokens=64)


def test_sweep_config_defaults_and_bad_values():
    cfg = SweepConfig()
    assert len(cfg.widths) >= 5 and len(cfg.tokens) >= 3
    train_cfg = cfg.train_config(48, 2**18)
    assert train_cfg.steps == 2**18 // (cfg.batch_size * cfg.block_size)
    assert train_cfg.lr == pytest.approx(cfg.lr_times_width / 48) == cfg.lr(48)
    assert cfg.lr(16) == pytest.approx(2 * cfg.lr(32))  # lr halves when the width doubles
    assert cfg.model_config(48).n_embd == 48
    with pytest.raises(ValueError, match="positive multiple of n_head=4, got 18"):
        SweepConfig(widths=(16, 18))
    with pytest.raises(ValueError, match="multiple of batch_size \\* block_size = 1024, got 1000"):
        SweepConfig(tokens=(1000,))
    with pytest.raises(ValueError, match="lr_times_width must be positive, got 0.0"):
        SweepConfig(lr_times_width=0.0)
    with pytest.raises(ValueError, match="width must be a positive int, got 0"):
        cfg.lr(0)
    with pytest.raises(ValueError, match="at least one value"):
        SweepConfig(widths=())


@pytest.mark.parametrize("bias", [True, False])
def test_non_embedding_params_is_total_minus_embeddings(bias):
    cfg = GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=2, n_embd=24, bias=bias)
    total = count_parameters(GPT(cfg))
    assert scaling.non_embedding_params(cfg) == total - (50 + 16) * 24


def test_run_point_is_deterministic_and_restores_threads():
    cfg = tiny_sweep()
    gen = torch.Generator().manual_seed(0)
    train = torch.randint(0, 20, (500,), generator=gen)
    valid = torch.randint(0, 20, (65,), generator=gen)
    threads = torch.get_num_threads()
    p1 = scaling.run_point(cfg, 8, 64, train, valid)
    p2 = scaling.run_point(cfg, 8, 64, train, valid)
    assert torch.get_num_threads() == threads
    assert p1["valid_loss"] == p2["valid_loss"]
    assert p1["steps"] == 2 and p1["N"] == scaling.non_embedding_params(cfg.model_config(8))
    assert p1["lr"] == pytest.approx(cfg.lr_times_width / 8)
    assert 0 < p1["valid_loss"] < 2 * math.log(20)
    with pytest.raises(ValueError, match="not on the grid"):
        scaling.run_point(cfg, 12, 64, train, valid)


def test_run_sweep_uses_grid_and_rejects_unknown_width(monkeypatch):
    cfg = tiny_sweep()
    gen = torch.Generator().manual_seed(1)
    streams = (torch.randint(0, 20, (400,), generator=gen), torch.randint(0, 20, (65,), generator=gen))
    monkeypatch.setattr(scaling, "sweep_data", lambda c: streams)
    results = scaling.run_sweep(cfg, log=lambda s: None, widths=(16,))
    assert [(p["width"], p["D"]) for p in results["points"]] == [(16, 64), (16, 128)]
    assert results["config"]["widths"] == (8, 16)
    with pytest.raises(ValueError, match="width 32 is not on the grid"):
        scaling.run_sweep(cfg, widths=(32,))


def test_save_and_load_results_round_trip(tmp_path):
    path = tmp_path / "r.json"
    results = {"config": {"widths": [8, 16], "tokens": [64, 128], "n_layer": 1, "n_head": 2,
                          "block_size": 8, "batch_size": 4, "vocab_size": 20},
               "points": [{"width": 8, "D": 64, "valid_loss": 2.5}]}
    scaling.save_results(results, path)
    back = scaling.load_results(path)
    assert back["config"] == SweepConfig(widths=(8, 16), tokens=(64, 128), n_layer=1, n_head=2,
                                         block_size=8, batch_size=4, vocab_size=20)
    assert back["points"] == results["points"] and json.loads(path.read_text())
    with pytest.raises(FileNotFoundError, match="python -m llmbook.scaling"):
        scaling.load_results(tmp_path / "missing.json")


def test_stored_results_cover_the_default_grid():
    results = scaling.load_results()
    cfg = results["config"]
    assert cfg == SweepConfig()
    grid = sorted((p["width"], p["D"]) for p in results["points"])
    assert grid == sorted((w, d) for w in cfg.widths for d in cfg.tokens)
    for p in results["points"]:
        assert p["N"] == scaling.non_embedding_params(cfg.model_config(p["width"]))
        assert 0 < p["valid_loss"] < math.log(cfg.vocab_size)


def test_fit_loglog_and_power_law_recover_parameters():
    N = np.array([1e3, 3e3, 1e4, 3e4, 1e5, 3e5])
    A, alpha = scaling.fit_loglog(N, 12.0 * N**-0.3)
    assert A == pytest.approx(12.0, rel=1e-9) and alpha == pytest.approx(0.3, rel=1e-9)
    E, A, alpha = scaling.fit_power_law(N, 2.0 + 12.0 * N**-0.3)
    assert E == pytest.approx(2.0, abs=1e-4) and alpha == pytest.approx(0.3, abs=1e-4)
    assert A == pytest.approx(12.0, rel=1e-3)


def test_fits_reject_bad_input():
    with pytest.raises(ValueError, match="same length"):
        scaling.fit_loglog([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 4 points"):
        scaling.fit_power_law([1, 2, 3], [3, 2, 1])
    with pytest.raises(ValueError, match="must be positive"):
        scaling.fit_loglog([1, -2], [1, 2])
    with pytest.raises(ValueError, match="D and L must be 1-D"):
        scaling.fit_loss_surface([1, 2, 3, 4, 5, 6], [1, 2, 3], [1, 2, 3, 4, 5, 6])


def test_fit_loss_surface_recovers_parameters():
    true = SurfaceFit(E=1.8, A=40.0, a=0.35, B=300.0, b=0.3)
    N, D = np.meshgrid(np.logspace(4, 7, 4), np.logspace(6, 9, 4))
    fit = scaling.fit_loss_surface(N.ravel(), D.ravel(), true.loss(N, D).ravel())
    for name in ("E", "A", "a", "B", "b"):
        assert getattr(fit, name) == pytest.approx(getattr(true, name), rel=1e-3)


def test_compute_optimal_matches_grid_search_and_budget():
    fit = SurfaceFit(E=1.69, A=406.4, a=0.34, B=410.7, b=0.28)
    C = 1e21
    N_opt, D_opt = scaling.compute_optimal(fit, C)
    assert 6 * N_opt * D_opt == pytest.approx(C)
    N = np.logspace(6, 12, 200001)
    best = N[np.argmin(fit.loss(N, C / (6 * N)))]
    assert best == pytest.approx(float(N_opt), rel=1e-3)
    N2, _ = scaling.compute_optimal(fit, 16 * C)
    assert float(N2 / N_opt) == pytest.approx(16 ** (0.28 / 0.62))


def test_compute_optimal_bad_input():
    fit = SurfaceFit(E=1.0, A=1.0, a=0.3, B=1.0, b=0.3)
    with pytest.raises(ValueError, match="must be positive FLOPs"):
        scaling.compute_optimal(fit, 0.0)
    with pytest.raises(ValueError, match="need exponents a > 0 and b > 0"):
        scaling.compute_optimal(SurfaceFit(E=1.0, A=1.0, a=0.0, B=1.0, b=0.3), 1e20)


def test_main_writes_results(monkeypatch, tmp_path, capsys):
    fake = {"config": {"widths": [16]}, "points": []}
    monkeypatch.setattr(scaling, "run_sweep", lambda cfg, widths=None: fake)
    out = tmp_path / "sub" / "r.json"
    assert scaling.main(["--out", str(out)]) == 0
    assert json.loads(out.read_text()) == fake
    assert "wrote" in capsys.readouterr().out


def test_sweep_data_gives_train_stream_and_cropped_valid_stream():
    cfg = SweepConfig(valid_tokens=1000)
    train, valid = scaling.sweep_data(cfg)
    assert train.dtype == torch.long and len(train) > 100_000
    assert len(valid) == 1001  # 1000 predicted tokens
    assert int(train.max()) < cfg.vocab_size and int(valid.max()) < cfg.vocab_size


def test_main_refuses_to_overwrite_stored_results_with_part_of_the_grid(capsys):
    with pytest.raises(SystemExit):
        scaling.main(["--widths", "16"])
    assert "--widths runs part of the grid" in capsys.readouterr().err


def test_measured_frontier_keeps_runs_better_than_every_cheaper_one():
    N = [10, 10, 20, 20, 40]
    D = [1, 4, 1, 4, 1]  # C = 6ND: 60, 240, 120, 480, 240
    L = [5.0, 4.0, 4.5, 4.2, 3.9]
    # by C: 60 (5.0, kept), 120 (4.5, kept), 240 (4.0, kept; the other run at 240 follows it
    # in input order: 3.9 < 4.0, kept), 480 (4.2, worse than 3.9: dropped)
    assert scaling.measured_frontier(N, D, L) == [0, 2, 1, 4]
    assert scaling.measured_frontier([5], [7], [1.0]) == [0]
    stored = scaling.load_results()["points"]
    idx = scaling.measured_frontier([p["N"] for p in stored], [p["D"] for p in stored],
                                    [p["valid_loss"] for p in stored])
    losses = [stored[k]["valid_loss"] for k in idx]
    assert losses == sorted(losses, reverse=True) and stored[idx[-1]]["width"] == max(p["width"] for p in stored)
    with pytest.raises(ValueError, match="same length"):
        scaling.measured_frontier([1, 2], [1], [1.0, 2.0])
