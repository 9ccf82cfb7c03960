import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from llmbook.gpt import GPT, GPTConfig, generation_flops, kv_cache_numel


def small(**kw) -> GPTConfig:
    base = dict(vocab_size=37, block_size=16, n_layer=2, n_head=4, n_embd=32)
    base.update(kw)
    return GPTConfig(**base)


def model(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(small(**kw)).eval()


def test_forward_with_cache_in_pieces_equals_one_pass():
    m = model()
    idx = torch.randint(0, 37, (3, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = m(idx)[0]
        first, cache = m.forward_with_cache(idx[:, :7])
        torch.testing.assert_close(first, full[:, :7])  # the prefill is the ordinary causal pass
        pieces, cache2 = [first], cache
        for a, b in [(7, 8), (8, 12), (12, 16)]:
            logits, cache2 = m.forward_with_cache(idx[:, a:b], cache2)
            pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, 1), full, rtol=1e-5, atol=1e-5)
    assert len(cache2) == 2 and cache2[0][0].shape == (3, 4, 16, 8)
    assert sum(k.numel() + v.numel() for k, v in cache2) == kv_cache_numel(small(), 16, batch=3)
    assert cache[0][0].shape[2] == 7  # the earlier cache object is not modified


def test_forward_with_cache_without_bias_and_in_training_mode_without_dropout():
    m = model(bias=False)
    m.train()
    idx = torch.randint(0, 37, (1, 10), generator=torch.Generator().manual_seed(1))
    a, cache = m.forward_with_cache(idx[:, :9])
    b, _ = m.forward_with_cache(idx[:, 9:], cache)
    torch.testing.assert_close(torch.cat([a, b], 1), m(idx)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("temperature,seed", [(0.0, None), (1.0, 0), (0.7, 1)])
@pytest.mark.parametrize("new", [5, 15, 30])  # 30: past block_size, the sliding-window fallback
def test_generate_with_cache_gives_the_same_tokens(temperature, seed, new):
    m = model()
    prompt = torch.tensor([[1, 2], [3, 4]])
    gen = (lambda: None) if seed is None else (lambda: torch.Generator().manual_seed(seed))
    plain = m.generate(prompt, new, temperature=temperature, generator=gen())
    fast = m.generate_with_cache(prompt, new, temperature=temperature, generator=gen())
    assert fast.shape == (2, 2 + new) and torch.equal(plain, fast)


def test_generate_with_cache_long_prompt_and_zero_tokens():
    m = model()
    prompt = torch.randint(0, 37, (1, 20), generator=torch.Generator().manual_seed(0))  # > block_size
    assert torch.equal(m.generate_with_cache(prompt, 4, temperature=0), m.generate(prompt, 4, temperature=0))
    assert torch.equal(m.generate_with_cache(prompt, 0), prompt)


@pytest.mark.parametrize("use_cache", [False, True])
@pytest.mark.parametrize("p,n", [(1, 16), (5, 7), (16, 1)])
def test_flop_formula_matches_flop_counter(use_cache, p, n):
    m = model()
    idx = torch.randint(0, 37, (1, p), generator=torch.Generator().manual_seed(0))
    fn = m.generate_with_cache if use_cache else m.generate
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn(idx, n, temperature=0)
    assert counter.get_total_flops() == generation_flops(small(), p, n, use_cache)


def test_flop_ratio_is_the_context_length():
    cfg = small()
    for t in range(2, 17):
        full = generation_flops(cfg, t, 1, use_cache=False)
        cached = generation_flops(cfg, t - 1, 2, True) - generation_flops(cfg, t - 1, 1, True)
        assert full == t * cached


def test_bad_inputs_to_the_cache_functions():
    m = model()
    idx = torch.zeros(1, 10, dtype=torch.long)
    _, cache = m.forward_with_cache(idx)
    with pytest.raises(ValueError, match="exceeds block_size=16"):
        m.forward_with_cache(idx, cache)
    with pytest.raises(ValueError, match="no new tokens"):
        m.forward_with_cache(torch.zeros(1, 0, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="list of 2"):
        m.forward_with_cache(idx[:, :1], cache[:1])
    with pytest.raises(ValueError, match="for a batch of 2"):
        m.forward_with_cache(torch.zeros(2, 1, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="token ids must lie in"):
        m.forward_with_cache(torch.full((1, 1), 37))
    with pytest.raises(ValueError, match="prompt is empty"):
        m.generate_with_cache(torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="max_new_tokens must be a non-negative int"):
        m.generate_with_cache(idx, -1)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        m.generate_with_cache(idx, 1, temperature=-1.0)
    with pytest.raises(ValueError, match="exceeds block_size=16"):
        generation_flops(small(), 10, 8, use_cache=True)
    with pytest.raises(ValueError, match="prompt_len must be a positive int"):
        generation_flops(small(), 0, 8, use_cache=True)
    with pytest.raises(ValueError, match=r"length must be an int in \[0, block_size=16\]"):
        kv_cache_numel(small(), 17)
    with pytest.raises(ValueError, match="batch must be a positive int"):
        kv_cache_numel(small(), 4, batch=0)


def test_shipped_checkpoint_still_loads_and_caches():
    from llmbook import pretrain

    ck = pretrain.load_pretrained()
    start = torch.tensor([[ck.tokenizer.bos_id]])
    g = lambda: torch.Generator().manual_seed(0)
    assert torch.equal(ck.model.generate(start, 30, generator=g()),
                       ck.model.generate_with_cache(start, 30, generator=g()))
