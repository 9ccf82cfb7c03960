"""Tests of llmbook.distributed: the 2-process DDP step equals the single-process step."""
import importlib.util

import pytest
import torch

from llmbook import distributed as D


def _torchrun_available() -> bool:
    if not D.dist.is_available() or importlib.util.find_spec("torch.distributed.run") is None:
        return False
    return D.dist.is_gloo_available()


@pytest.mark.skipif(not _torchrun_available(),
                    reason="torch.distributed.run or the gloo backend is unavailable in this torch build")
def test_two_process_ddp_equals_single_process(tmp_path):
    cfg = D.DDPConfig(steps=2)
    stream = torch.randint(0, cfg.vocab_size, (500,), generator=torch.Generator().manual_seed(0))
    torch.save(stream, tmp_path / "stream.pt")
    result, stdout = D.launch(cfg, nproc=2, out=tmp_path / "ddp.pt", timeout=300,
                              stream=tmp_path / "stream.pt")
    assert "ddp world_size=2 backend=gloo steps=2" in stdout
    ref = D.single_process_run(cfg, stream)
    assert result["world_size"] == 2 and sorted(result["params"]) == sorted(ref["params"])
    for name, p in ref["params"].items():
        local = result["local_grads"]
        torch.testing.assert_close(result["grad"][name], (local[0][name] + local[1][name]) / 2)
        torch.testing.assert_close(result["grad"][name], ref["grad"][name])
        torch.testing.assert_close(result["params"][name], p)
        torch.testing.assert_close(result["first_params"][name], ref["first_params"][name])
    assert not torch.equal(result["local_grads"][0]["wte.weight"], result["local_grads"][1]["wte.weight"])
    assert result["losses"] == pytest.approx(ref["losses"], rel=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available() or not D.dist.is_nccl_available(),
                    reason="the NCCL path needs a CUDA GPU and a torch build with NCCL, not available here")
def test_nccl_one_process_equals_single_process(tmp_path):
    cfg = D.DDPConfig(steps=2)
    result, stdout = D.launch(cfg, nproc=1, out=tmp_path / "ddp.pt", timeout=300, backend="nccl")
    assert "ddp world_size=1 backend=nccl steps=2" in stdout
    ref = D.single_process_run(cfg)  # on the CPU: GPU kernels round differently, hence the tolerances
    for name, p in ref["params"].items():
        torch.testing.assert_close(result["grad"][name], ref["grad"][name], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(result["params"][name], p, rtol=1e-4, atol=1e-5)
    assert result["losses"] == pytest.approx(ref["losses"], rel=1e-4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_nccl_without_cuda_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert D.main(["--out", str(tmp_path / "x.pt"), "--backend", "nccl"]) == 2
    assert "needs CUDA GPUs" in capsys.readouterr().err and not D.dist.is_initialized()


def test_single_process_run_and_batches():
    cfg = D.DDPConfig(steps=2)
    out = D.single_process_run(cfg)
    assert len(out["losses"]) == 2 and out["losses"][1] < out["losses"][0]
    x, y = D.global_batch(cfg, 0)
    assert x.shape == (8, 16) and torch.equal(x[:, 1:], y[:, :-1])
    assert not torch.equal(x, D.global_batch(cfg, 1)[0])
    assert torch.equal(torch.cat([D.shard(x, r, 2) for r in range(2)]), x)
    stream = torch.arange(100) % cfg.vocab_size
    xs, ys = D.global_batch(cfg, 0, stream)
    assert xs.shape == (8, 16) and torch.equal((xs + 1) % cfg.vocab_size, ys)  # windows of the stream
    assert torch.equal(xs, D.global_batch(cfg, 0, stream)[0])  # the same on every call (every rank)


def test_tiny_gpt_is_the_same_on_every_call():
    cfg = D.DDPConfig()
    a, b = D.tiny_gpt(cfg), D.tiny_gpt(cfg)
    assert a.config == cfg.model_config() and a.config.vocab_size == 50
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name


def test_zero_memory_matches_the_paper_example():
    gb = [D.zero_memory_per_device(7.5e9, 64, s) / 1e9 for s in range(4)]
    assert [round(v, 1) for v in gb] == [120.0, 31.4, 16.6, 1.9]
    assert D.zero_memory_per_device(1, 1, 0) == 16


def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(ValueError, match="not divisible"):
        D.shard(torch.zeros(5), 0, 2)
    with pytest.raises(ValueError, match="rank"):
        D.shard(torch.zeros(4), 2, 2)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        D.DDPConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr must be"):
        D.DDPConfig(lr=-1.0)
    with pytest.raises(ValueError, match="nproc"):
        D.launch(D.DDPConfig(), nproc=0)
    with pytest.raises(ValueError, match="not divisible"):
        D.launch(D.DDPConfig(batch_size=6), nproc=4)
    with pytest.raises(ValueError, match="backend"):
        D.launch(D.DDPConfig(), backend="mpi")
    with pytest.raises(ValueError, match="stage"):
        D.zero_memory_per_device(1e9, 8, stage=4)
    with pytest.raises(ValueError, match="n_devices"):
        D.zero_memory_per_device(1e9, 0)
    with pytest.raises(ValueError, match="n_params"):
        D.zero_memory_per_device(0)
    with pytest.raises(ValueError, match="vocab_size"):
        D.global_batch(D.DDPConfig(), 0, torch.arange(100))
    with pytest.raises(ValueError, match="1-D tensor"):
        D.global_batch(D.DDPConfig(), 0, torch.arange(10))
    with pytest.raises(RuntimeError, match="init_process_group"):
        D.ddp_run(D.DDPConfig())
    assert D.main(["--out", str(tmp_path / "x.pt")]) == 2  # not started by torchrun
    assert "start this script with torchrun" in capsys.readouterr().err
