"""Tests of llmbook.bleu against hand computations and sacreBLEU."""
import math

import pytest
import sacrebleu

from llmbook import bleu


def test_tokenize():
    assert bleu.tokenize("2024年3月5日") == ["2024", "年", "3", "月", "5", "日"]
    assert bleu.tokenize("1205.50美元") == ["1205.50", "美", "元"]
    assert bleu.tokenize("Hello, world. (x)") == ["Hello", ",", "world", ".", "(", "x", ")"]
    assert bleu.tokenize("下午 7点", "char") == ["下", "午", "7", "点"]
    assert bleu.tokenize("a  b", "none") == ["a", "b"]
    with pytest.raises(ValueError, match="method must be one of"):
        bleu.tokenize("x", "13a")
    with pytest.raises(TypeError, match="text must be a str"):
        bleu.tokenize(["x"])


def test_ngrams_and_clipping():
    assert bleu.ngram_counts(list("abab"), 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert bleu.ngram_counts(list("ab"), 3) == {}
    # "the the the" against "the cat": the unigram count is clipped to 1
    assert bleu.clipped_matches(["the"] * 3, ["the", "cat"], 1) == (1, 3)
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        bleu.ngram_counts(["a"], 0)


def test_brevity_penalty():
    assert bleu.brevity_penalty(5, 5) == 1.0 and bleu.brevity_penalty(7, 5) == 1.0
    assert math.isclose(bleu.brevity_penalty(4, 6), math.exp(-0.5))
    assert bleu.brevity_penalty(0, 3) == 0.0
    with pytest.raises(ValueError, match="lengths must be >= 0"):
        bleu.brevity_penalty(-1, 3)


def test_hand_examples():
    r = bleu.sentence_bleu("下午7点45分", "下午7点40分")  # p = 5/6, 3/5, 2/4, 1/3
    assert r.matches == (5, 3, 2, 1) and r.totals == (6, 5, 4, 3)
    assert math.isclose(r.score, 100 * 12 ** -0.25)
    r = bleu.sentence_bleu("下午7点45分", "下午7点40分", tokenize_method="char")
    assert math.isclose(r.score, 100 * (6 / 35) ** 0.25)
    r = bleu.sentence_bleu("下午7点", "下午7点45分")  # every n-gram matches, but 4 tokens vs 6
    assert r.precisions == (1.0, 1.0, 1.0, 1.0) and math.isclose(r.score, 100 * math.exp(-0.5))
    assert bleu.sentence_bleu("三千五", "三千零五十").score == 0.0  # no 4-gram: no smoothing


HYPS = ["2024年3月5日", "下午7点45分", "1205.50美元", "三千零五", "三千五", "Hello, world. 3.5-4 (a)"]
REFS = ["2024年3月15日", "下午7点40分", "1205.50美元", "三千零五", "三千零五十", "Hello, world 3.5 - 4 (b)"]


@pytest.mark.parametrize("method", ["zh", "char"])
def test_equals_sacrebleu(method):
    ours = bleu.corpus_bleu(HYPS, REFS, tokenize_method=method)
    theirs = sacrebleu.corpus_bleu(HYPS, [REFS], tokenize=method, smooth_method="none")
    assert math.isclose(ours.score, theirs.score, rel_tol=1e-12)
    assert list(ours.matches) == theirs.counts and list(ours.totals) == theirs.totals
    assert (ours.hyp_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)


@pytest.mark.parametrize("method", ["zh", "char"])
def test_zero_match_order_is_unsmoothed(method):
    # no 3-gram or 4-gram in common: without smoothing BLEU is 0, as in sacreBLEU with
    # smooth_method="none"; sacreBLEU's default exponential smoothing gives a positive score
    hyp, ref = "下午7点45分", "下午8点40分"
    ours = bleu.corpus_bleu([hyp], [ref], tokenize_method=method)
    assert ours.matches[2] == ours.matches[3] == 0 and ours.score == 0.0
    theirs = sacrebleu.corpus_bleu([hyp], [[ref]], tokenize=method, smooth_method="none")
    assert theirs.score == 0.0 and list(ours.matches) == theirs.counts
    smoothed = sacrebleu.corpus_bleu([hyp], [[ref]], tokenize=method).score
    assert smoothed > 10
    if method == "zh":  # p = 4/6, 1/5, then 1/(2 * 4) and 1/(4 * 3) for the empty orders
        assert math.isclose(smoothed, 100 * 720 ** -0.25, rel_tol=1e-9)


def test_zh_tokenizer_equals_sacrebleu():
    tok = sacrebleu.tokenizers.tokenizer_zh.TokenizerZh()
    for s in HYPS + REFS + ["“你好”，他说。", "a-b 3-4 x/y $5,000.00 ok!"]:
        assert bleu.tokenize(s, "zh") == tok(s).split(), s


def test_bad_corpus():
    with pytest.raises(ValueError, match="got 2 hypotheses but 1 references"):
        bleu.corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="empty corpus"):
        bleu.corpus_bleu([], [])
    with pytest.raises(TypeError, match="not one str"):
        bleu.corpus_bleu("abc", "abc")
    with pytest.raises(ValueError, match="max_n must be a positive int"):
        bleu.corpus_bleu(["a"], ["a"], max_n=0)
