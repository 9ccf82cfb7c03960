import hashlib

import pytest
import torch

from llmbook import checkpoints, pretrain
from llmbook.checkpoints import (
    ChecksumError, checksum_path, load_checkpoint, save_checkpoint, sha256_file,
)
from llmbook.gpt import GPT, GPTConfig
from llmbook.tokenizers import CharTokenizer, WordTokenizer


def tiny(seed: int = 0) -> tuple[GPT, CharTokenizer]:
    tok = CharTokenizer.from_texts(["好评很好", "差评不好"])
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=len(tok), block_size=8, n_layer=1, n_head=2, n_embd=16))
    return model, tok


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc" * 1000)
    assert sha256_file(path) == hashlib.sha256(b"abc" * 1000).hexdigest()
    assert checksum_path(path).name == "x.bin.sha256"


def test_round_trip_restores_model_tokenizer_and_meta(tmp_path):
    model, tok = tiny()
    path = tmp_path / "m.pt"
    digest = save_checkpoint(path, model, tok, {"valid_loss": 1.25}, reproduce="make it")
    assert checksum_path(path).read_text() == f"{digest}  m.pt\n"  # sha256sum format
    ck = load_checkpoint(path)
    assert ck.sha256 == digest and ck.path == path
    assert ck.meta == {"valid_loss": 1.25}
    assert ck.tokenizer == tok and ck.model.config == model.config
    assert not ck.model.training
    assert ck.model.lm_head.weight is ck.model.wte.weight  # tying survives loading
    idx = torch.tensor([tok.encode("好评不好")])
    torch.testing.assert_close(ck.model(idx)[0], model.eval()(idx)[0], rtol=0, atol=0)


def test_bytes_do_not_depend_on_the_file_name(tmp_path):
    model, tok = tiny()
    a = save_checkpoint(tmp_path / "a.pt", model, tok)
    b = save_checkpoint(tmp_path / "other_name.pt", model, tok)
    assert a == b
    assert a != save_checkpoint(tmp_path / "c.pt", tiny(seed=1)[0], tok)


def test_load_refuses_a_changed_file_and_says_how_to_reproduce(tmp_path):
    model, tok = tiny()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, tok)
    data = bytearray(path.read_bytes())
    data[-100] ^= 1  # flip one bit
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"was expected.*reproduce it with `python -m x`"):
        load_checkpoint(path, reproduce="python -m x")
    assert issubclass(ChecksumError, ValueError)


def test_load_with_an_explicit_checksum(tmp_path):
    model, tok = tiny()
    path = tmp_path / "m.pt"
    digest = save_checkpoint(path, model, tok)
    checksum_path(path).unlink()
    assert load_checkpoint(path, sha256=digest.upper()).sha256 == digest
    with pytest.raises(FileNotFoundError, match="no recorded checksum"):
        load_checkpoint(path)
    with pytest.raises(ChecksumError, match="damaged or from another run"):
        load_checkpoint(path, sha256="0" * 64)


def test_load_reports_missing_file_and_bad_records(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist; reproduce it with `cmd`"):
        load_checkpoint(tmp_path / "none.pt", reproduce="cmd")
    model, tok = tiny()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, tok)
    checksum_path(path).write_text("not-a-hash  m.pt\n")
    with pytest.raises(ValueError, match="does not hold a SHA-256"):
        load_checkpoint(path)


def test_load_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a checkpoint written by llmbook.checkpoints"):
        load_checkpoint(path, sha256=sha256_file(path))


def test_load_refuses_an_unknown_model_class(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": checkpoints.FORMAT, "model_class": "Mamba", "config": {},
                "state_dict": {}, "tokenizer": {"class": "CharTokenizer"}}, path)
    with pytest.raises(ValueError, match=r"holds a Mamba .*this version of llmbook loads \['CharRNNLM', 'GPT', 'SpanReader'\]"):
        load_checkpoint(path, sha256=sha256_file(path))


def test_save_rejects_unsupported_objects(tmp_path):
    model, tok = tiny()
    with pytest.raises(TypeError, match="cannot checkpoint a Linear"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2), tok)
    with pytest.raises(TypeError, match="cannot checkpoint a dict"):
        save_checkpoint(tmp_path / "x.pt", model, {"a": 1})
    words = WordTokenizer.from_texts([("我们", "好")])  # word tokenizers are supported too
    save_checkpoint(tmp_path / "w.pt", model, words)
    assert load_checkpoint(tmp_path / "w.pt").tokenizer == words


# ------------------------------------------------------------------------ llmbook.pretrain
def test_shipped_checkpoint_verifies_and_matches_its_config():
    ck = pretrain.load_pretrained()
    cfg = pretrain.PretrainConfig(**ck.meta["pretrain_config"])
    assert ck.model.config == cfg.model_config()
    assert len(ck.tokenizer) == cfg.vocab_size
    assert ck.meta["valid_loss"] < ck.meta["unigram_valid_loss"]
    assert pretrain.DEFAULT_PATH.stat().st_size < 5e6  # small enough for git
    tokenizer, _, _ = pretrain.prepare_data(cfg.split_seed, cfg.vocab_size)
    assert ck.tokenizer == tokenizer  # built from the same train texts


def test_pretrain_command_is_deterministic(tmp_path, capsys):
    args = ["--steps", "3", "--warmup-steps", "1", "--eval-every", "0", "--n-layer", "1",
            "--n-embd", "16", "--block-size", "16", "--batch-size", "4", "--vocab-size", "300"]
    digests = []
    for name in ("a.pt", "b.pt"):
        assert pretrain.main(args + ["--out", str(tmp_path / name)]) == 0
        out = capsys.readouterr().out
        assert "pretraining took" in out and "SHA-256" in out
        digests.append(checkpoints.sha256_file(tmp_path / name))
        assert digests[-1] in out
    assert digests[0] == digests[1]
    pretrain.main(args + ["--out", str(tmp_path / "a.pt")])  # again, over the same file
    assert "identical to the checksum recorded before" in capsys.readouterr().out
    pretrain.main(args + ["--seed", "1", "--out", str(tmp_path / "a.pt")])
    assert "differs from the checksum recorded before" in capsys.readouterr().out
    ck = load_checkpoint(tmp_path / "b.pt")
    assert ck.meta["pretrain_config"]["steps"] == 3
    assert ck.model.config.n_embd == 16


def test_pretrain_config_rejects_bad_values():
    with pytest.raises(ValueError, match="n_embd=30 is not divisible by n_head=4"):
        pretrain.PretrainConfig(n_embd=30).model_config()
    with pytest.raises(ValueError, match="warmup_steps must be an int"):
        pretrain.PretrainConfig(steps=10, warmup_steps=100).train_config()
