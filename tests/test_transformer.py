import math

import pytest
import torch
import torch.nn as nn

from llmbook.attention import causal_mask, padding_mask
from llmbook.positional import sinusoidal_encoding
from llmbook.transformer import (AttentionWeights, Decoder, DecoderLayer, Encoder, EncoderLayer,
                                 PositionwiseFeedForward, Transformer, TransformerConfig,
                                 convert_torch_state_dict)

D, H, FF = 16, 4, 32


def randomise_norms(module: nn.Module) -> None:
    """LayerNorm starts at gamma = 1, beta = 0: perturb it so that tests can see it."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.normal_(1.0, 0.2)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.2)


def small_model(**kw) -> Transformer:
    torch.manual_seed(0)
    args = dict(d_model=D, n_heads=H, n_layers=2, d_ff=FF, dropout=0.0, max_len=32)
    args.update(kw)
    return Transformer(11, 13, **args).eval()


# --------------------------------------------------------------------------------- pieces
def test_convert_torch_state_dict():
    layer = nn.TransformerDecoderLayer(D, H, FF, batch_first=True)
    keys = list(convert_torch_state_dict(layer.state_dict()))
    assert "ffn.linear1.weight" in keys and "cross_attn.in_proj_weight" in keys
    assert "self_attn.out_proj.bias" in keys and "norm3.weight" in keys
    stack = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF, batch_first=True), 2,
                                  enable_nested_tensor=False)
    assert "layers.1.ffn.linear2.bias" in convert_torch_state_dict(stack.state_dict())


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_ffn_formula(activation):
    ffn = PositionwiseFeedForward(D, FF, activation=activation)
    x = torch.randn(2, 3, D)
    act = torch.relu if activation == "relu" else nn.functional.gelu
    ref = act(x @ ffn.linear1.weight.T + ffn.linear1.bias) @ ffn.linear2.weight.T + ffn.linear2.bias
    torch.testing.assert_close(ffn(x), ref)
    torch.testing.assert_close(ffn(x)[1], ffn(x[1:]).squeeze(0))  # position-wise, batch-wise


def test_ffn_errors():
    with pytest.raises(ValueError, match="activation must be one of"):
        PositionwiseFeedForward(D, FF, activation="tanh")
    with pytest.raises(ValueError, match="d_ff must be a positive int"):
        PositionwiseFeedForward(D, 0)


# ------------------------------------------------------------------ layers equal PyTorch's
def masks():
    keep = padding_mask(torch.tensor([6, 4]))  # (2, 1, 6)
    return keep, causal_mask(5)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_equals_torch(norm_first, activation):
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, activation=activation,
                                        batch_first=True, norm_first=norm_first)
    randomise_norms(theirs)
    ours = EncoderLayer.from_torch(theirs)
    x = torch.randn(2, 6, D)
    keep, _ = masks()
    torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours(x, keep), theirs(x, src_key_padding_mask=~keep[:, 0]))
    ours.eval(), theirs.eval()
    with torch.no_grad():  # torch's inference fast path
        torch.testing.assert_close(ours(x, keep), theirs(x, src_key_padding_mask=~keep[:, 0]))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_torch(norm_first):
    torch.manual_seed(1)
    theirs = nn.TransformerDecoderLayer(D, H, FF, dropout=0.1, batch_first=True,
                                        norm_first=norm_first).eval()
    randomise_norms(theirs)
    ours = DecoderLayer.from_torch(theirs).eval()
    y, mem = torch.randn(2, 5, D), torch.randn(2, 6, D)
    keep, causal = masks()
    out, w_self, w_cross = ours(y, mem, causal, keep, need_weights=True)
    ref = theirs(y, mem, tgt_mask=~causal, memory_key_padding_mask=~keep[:, 0])
    torch.testing.assert_close(out, ref)
    assert w_self.shape == (2, H, 5, 5) and w_cross.shape == (2, H, 5, 6)
    assert torch.all(w_self.triu(1) == 0) and torch.all(w_cross[1, :, :, 4:] == 0)


def test_layer_from_torch_errors():
    with pytest.raises(TypeError, match="expected TransformerEncoderLayer"):
        EncoderLayer.from_torch(nn.TransformerDecoderLayer(D, H, FF))
    odd = nn.TransformerEncoderLayer(D, H, FF, activation=torch.tanh, batch_first=True)
    with pytest.raises(ValueError, match="unsupported activation"):
        EncoderLayer.from_torch(odd)


def test_layer_weights_can_be_read_without_changing_output():
    torch.manual_seed(0)
    layer = EncoderLayer(D, H, FF)
    x = torch.randn(2, 6, D)
    out, w = layer(x, need_weights=True)
    torch.testing.assert_close(out, layer(x))
    torch.testing.assert_close(w.sum(-1), torch.ones(2, H, 6))


@pytest.mark.parametrize("norm_first", [False, True])
def test_stacks_equal_torch(norm_first):
    torch.manual_seed(2)
    enc_layer = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
    dec_layer = nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
    final = (lambda: nn.LayerNorm(D)) if norm_first else (lambda: None)
    t_enc = nn.TransformerEncoder(enc_layer, 2, norm=final(), enable_nested_tensor=False)
    t_dec = nn.TransformerDecoder(dec_layer, 2, norm=final())
    randomise_norms(t_enc), randomise_norms(t_dec)
    enc, dec = Encoder(2, D, H, FF, norm_first=norm_first), Decoder(2, D, H, FF, norm_first=norm_first)
    enc.load_state_dict(convert_torch_state_dict(t_enc.state_dict()))
    dec.load_state_dict(convert_torch_state_dict(t_dec.state_dict()))
    assert (enc.norm is not None) == norm_first
    x, y = torch.randn(2, 6, D), torch.randn(2, 5, D)
    keep, causal = masks()
    mem = enc(x, keep)
    torch.testing.assert_close(mem, t_enc(x, src_key_padding_mask=~keep[:, 0]))
    torch.testing.assert_close(dec(y, mem, causal, keep),
                               t_dec(y, mem, tgt_mask=~causal, memory_key_padding_mask=~keep[:, 0]))
    _, w_self, w_cross = dec(y, mem, causal, keep, need_weights=True)
    assert len(w_self) == len(w_cross) == 2


# --------------------------------------------------------------------------- the Transformer
def test_config_validation():
    with pytest.raises(ValueError, match="not divisible by n_heads"):
        TransformerConfig(5, 5, d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="even for the sinusoidal encoding"):
        TransformerConfig(5, 5, d_model=9, n_heads=3)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        TransformerConfig(5, 5, dropout=1.0)
    with pytest.raises(ValueError, match="pad_id=7 must be a valid id in both vocabularies"):
        TransformerConfig(5, 9, pad_id=7)
    with pytest.raises(ValueError, match="activation must be one of"):
        TransformerConfig(5, 5, activation="swish")
    with pytest.raises(ValueError, match="n_encoder_layers must be a positive int"):
        TransformerConfig(5, 5, n_encoder_layers=0)
    with pytest.raises(ValueError, match="src_vocab_size must be a positive int"):
        TransformerConfig(0, 5)


def test_structure_and_from_config():
    model = small_model(n_encoder_layers=3, n_decoder_layers=1, norm_first=True)
    assert len(model.encoder.layers) == 3 and len(model.decoder.layers) == 1
    assert model.encoder.norm is not None and model.decoder.norm is not None
    assert small_model().encoder.norm is None  # post-norm: no final LayerNorm
    assert model.src_embed.weight.shape == (11, D) and model.tgt_embed.weight.shape == (13, D)
    assert model.src_embed.weight is not model.tgt_embed.weight
    copy = Transformer.from_config(model.config)
    assert copy.config == model.config
    copy.load_state_dict(model.state_dict())
    src, tgt = torch.randint(1, 11, (2, 5)), torch.randint(1, 13, (2, 4))
    torch.testing.assert_close(copy.eval()(src, tgt), model(src, tgt))


def test_forward_shape_and_embedding_formula():
    model = small_model()
    src, tgt = torch.randint(1, 11, (3, 7)), torch.randint(1, 13, (3, 5))
    assert model(src, tgt).shape == (3, 5, 13)
    seen = {}
    model.encoder.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    memory = model.encode(src)
    expected = model.src_embed(src) * math.sqrt(D) + sinusoidal_encoding(32, D)[:7]
    torch.testing.assert_close(seen["x"], expected)
    # every decoder layer attends to the FINAL encoder output
    keys = []
    for layer in model.decoder.layers:
        layer.cross_attn.register_forward_pre_hook(lambda m, args: keys.append(args[1]))
    model.decode(tgt, memory, model.src_mask(src))
    assert len(keys) == 2 and all(torch.equal(k, memory) for k in keys)


@pytest.mark.parametrize("norm_first", [False, True])
def test_causality(norm_first):
    model = small_model(norm_first=norm_first)
    src, tgt = torch.randint(1, 11, (2, 6)), torch.randint(1, 13, (2, 7))
    logits = model(src, tgt)
    changed = tgt.clone()
    changed[:, 4:] = torch.randint(1, 13, (2, 3))
    changed[:, 4] = tgt[:, 4] % 12 + 1  # certainly different
    new = model(src, changed)
    torch.testing.assert_close(new[:, :4], logits[:, :4])  # the past never sees the future
    assert not torch.allclose(new[:, 4:], logits[:, 4:])


@pytest.mark.parametrize("norm_first", [False, True])
def test_padding_invariance(norm_first):
    model = small_model(norm_first=norm_first)
    src = torch.tensor([[3, 4, 5, 6], [7, 8, 9, 0]])  # the second row is already padded
    tgt = torch.tensor([[1, 5, 6, 0], [1, 2, 3, 4]])
    logits = model(src, tgt)
    padded_src = torch.cat([src, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded_src, tgt), logits)
    torch.testing.assert_close(model.encode(padded_src)[:, :3], model.encode(src)[:, :3])
    padded_tgt = torch.cat([tgt, torch.zeros(2, 2, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(src, padded_tgt)[:, :4], logits)
    no_mask = small_model(norm_first=norm_first, pad_id=None)  # same weights, masks off
    assert not torch.allclose(no_mask(padded_src, tgt), no_mask(src, tgt))


def test_left_padded_target_has_fully_masked_rows_but_no_nan():
    model = small_model()
    tgt = torch.tensor([[0, 0, 1, 5], [1, 5, 6, 7]])  # row 0, position 0: nothing to attend to
    assert not model.tgt_mask(tgt)[0, 0].any()
    assert torch.isfinite(model(torch.randint(1, 11, (2, 4)), tgt)).all()


def test_attention_weights():
    model = small_model()
    src = torch.tensor([[3, 4, 5, 0, 0], [3, 4, 5, 6, 7]])
    tgt = torch.tensor([[1, 5, 4, 3], [1, 7, 6, 5]])
    aw = model.attention_weights(src, tgt)
    assert isinstance(aw, AttentionWeights)
    assert [w.shape for w in aw.encoder] == [(2, H, 5, 5)] * 2
    assert [w.shape for w in aw.decoder_self] == [(2, H, 4, 4)] * 2
    assert [w.shape for w in aw.cross] == [(2, H, 4, 5)] * 2
    for w in aw.cross + aw.encoder:
        assert torch.all(w[0, ..., 3:] == 0)  # padded source positions get no attention
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    assert all(torch.all(w.triu(1) == 0) for w in aw.decoder_self)


def test_bad_inputs():
    model = small_model()
    src, tgt = torch.randint(1, 11, (2, 5)), torch.randint(1, 13, (2, 4))
    with pytest.raises(ValueError, match=r"src must be integer token ids of shape \(B, T\)"):
        model(src[0], tgt)
    with pytest.raises(ValueError, match=r"src must be integer token ids"):
        model(src.float(), tgt)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 11\)"):
        model(src + 20, tgt)
    with pytest.raises(ValueError, match=r"length 40; it must be in \[1, max_len=32\]"):
        model(torch.ones(2, 40, dtype=torch.long), tgt)
    with pytest.raises(ValueError, match="same batch size"):
        model(src, tgt[:1])
    with pytest.raises(ValueError, match=r"memory must have shape \(B=2, S, d=16\)"):
        model.decode(tgt, torch.zeros(2, 5, 8))


# ----------------------------------------------------------------------------- greedy_decode
def test_greedy_decode_matches_step_by_step_argmax():
    model = small_model()
    src = torch.randint(3, 11, (3, 6))
    out = model.greedy_decode(src, bos_id=1, eos_id=2, max_len=5)
    assert out.shape[0] == 3 and 2 <= out.shape[1] <= 6 and torch.all(out[:, 0] == 1)
    for t in range(1, out.shape[1]):  # each token is the argmax given the prefix (until eos)
        nxt = model(src, out[:, :t])[:, -1].argmax(-1)
        finished = (out[:, 1:t] == 2).any(dim=1)
        assert torch.equal(out[~finished, t], nxt[~finished])


def fake_decoder(model: Transformer, eos_at: list[int | None], V: int = 13, eos: int = 2):
    """Make row b emit eos at step eos_at[b] (None: never) and token 5 otherwise."""
    def decode(tgt_in, memory, memory_mask=None, need_weights=False):
        B, T = tgt_in.shape
        logits = torch.zeros(B, T, V)
        for b, at in enumerate(eos_at):
            logits[b, -1, eos if at is not None and T - 1 == at else 5] = 1.0
        return logits
    model.decode = decode
    return model


def test_greedy_decode_eos_behaviour():
    model = fake_decoder(small_model(), [1, 3])
    out = model.greedy_decode(torch.randint(3, 11, (2, 4)), bos_id=1, eos_id=2, max_len=10)
    assert out.tolist() == [[1, 5, 2, 0, 0], [1, 5, 5, 5, 2]]  # stops once all rows are done
    never = fake_decoder(small_model(), [None])
    assert never.greedy_decode(torch.ones(1, 3, dtype=torch.long), 1, 2, max_len=4).tolist() == [[1, 5, 5, 5, 5]]
    no_pad = fake_decoder(small_model(pad_id=None), [0, 2])
    out = no_pad.greedy_decode(torch.ones(2, 3, dtype=torch.long), 1, 2, max_len=6)
    assert out.tolist() == [[1, 2, 2, 2], [1, 5, 5, 2]]  # filled with eos when pad_id is None


def test_greedy_decode_errors():
    model = small_model()
    src = torch.randint(3, 11, (1, 4))
    with pytest.raises(ValueError, match=r"bos_id must be an int in \[0, 13\)"):
        model.greedy_decode(src, bos_id=13, eos_id=2, max_len=5)
    with pytest.raises(ValueError, match=r"max_len must be an int in \[1, 32\]"):
        model.greedy_decode(src, bos_id=1, eos_id=2, max_len=33)
