"""Tests of llmbook.bpe: byte-level BPE from scratch, checked against the tokenizers library."""
import json

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from llmbook.bpe import GPT2_PATTERN, BPETokenizer, bytes_to_unicode, pretokenize, word_counts
from llmbook.data import load_reviews

TEXTS = ["低低低低 hello hello", "aaaa aaa", "不错，不错！服务很好。", "it's 2024, 房间123"]


def test_bytes_to_unicode_is_a_printable_bijection():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert table[ord("a")] == "a" and table[ord(" ")] == "Ġ"  # space -> U+0120
    assert all(ch.isprintable() and not ch.isspace() for ch in table.values())
    assert sorted(table.values()) == sorted(pre_tokenizers.ByteLevel.alphabet())


def test_pretokenize_follows_the_gpt2_pattern_and_the_library():
    assert pretokenize("it's 2024, 房间123") == ["it", "'s", " 2024", ",", " 房间", "123"]
    assert "".join(pretokenize("a  b\n\n c")) == "a  b\n\n c"
    hf = pre_tokenizers.ByteLevel(add_prefix_space=False)
    table = bytes_to_unicode()
    for text in TEXTS + list(load_reviews(dedupe=True)[0][:300]):
        ours = ["".join(table[b] for b in w.encode("utf-8")) for w in pretokenize(text)]
        assert ours == [w for w, _ in hf.pre_tokenize_str(text)]
    assert "\\p{L}" in GPT2_PATTERN
    with pytest.raises(TypeError, match="must be a str"):
        pretokenize(b"bytes")


def test_word_counts_counts_pretokens_as_bytes():
    counts = word_counts(["不错，不错", "不错"])
    assert counts["不错".encode()] == 3 and counts["，".encode()] == 1
    with pytest.raises(TypeError, match="wrap it"):
        word_counts("不错")


def test_merges_by_hand_and_tie_breaking():
    # pre-tokens "abc", " abc", " ab": (a, b) x3 beats (b, c) x2 and (space, a) x2
    tok = BPETokenizer.train(["abc abc ab"], 2)
    assert tok.merges[0] == (b"a", b"b")
    # then (ab, c) x2 ties with (space, ab) x2: the smaller left id wins, and the space
    # (a byte, id < 256) comes before the new token ab (id 256)
    assert tok.vocab.index(b" ") < 256 == tok.vocab.index(b"ab")
    assert tok.merges[1] == (b" ", b"ab")
    assert tok.tokens("abc") == [b"ab", b"c"]


def test_overlapping_runs_count_every_position():
    # "aaa" has 2 adjacent (a, a) positions but one merge saves only one token:
    # (a, a) counts 4 > (b, c) 3, although merging (b, c) would save 3 tokens and (a, a) 2
    tok = BPETokenizer.train(["aaa", "aaa", "bc", "bc", "bc"], 1)
    assert tok.merges == [(b"a", b"a")]
    assert tok.tokens("aaa") == [b"aa", b"a"]  # left to right


def _library(texts, n):
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + n, min_frequency=0, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    hf.train_from_iterator(texts, trainer)
    return hf


def test_same_merges_ids_and_encodings_as_the_library():
    texts = list(load_reviews(dedupe=True)[0][:400])
    n = 150
    ours, hf = BPETokenizer.train(texts, n), _library(texts, n)
    table = bytes_to_unicode()
    show = lambda b: "".join(table[x] for x in b)  # noqa: E731
    merges = json.loads(hf.to_str())["model"]["merges"]
    merges = [m.split(" ") if isinstance(m, str) else list(m) for m in merges]
    assert [[show(a), show(b)] for a, b in ours.merges] == merges[:n]
    vocab = hf.get_vocab()
    assert all(vocab[show(t)] == i for i, t in enumerate(ours.vocab))
    for text in TEXTS + texts[:50]:
        assert ours.encode(text) == hf.encode(text).ids


def test_round_trip_any_string():
    tok = BPETokenizer.train(TEXTS, 30)
    for text in TEXTS + ["", "😀 emoji\tand\x00nul", "é" * 5, "\n\n  "]:
        assert tok.decode(tok.encode(text)) == text
    assert len(tok) == 256 + 30 and "merges=30" in repr(tok)
    assert tok.decode([tok.encode("你")[0]]) == "\ufffd"  # a lone byte of a character


def test_min_frequency_stops_training_and_merges_rebuild_the_tokenizer():
    tok = BPETokenizer.train(["abab", "cd"], 10, min_frequency=2)
    assert tok.merges == [(b"a", b"b")]  # then (ab, ab) and (c, d) occur once: stop
    assert len(BPETokenizer.train(["abab", "cd"], 10)) == 256 + 3
    assert BPETokenizer(tok.merges).encode("ababcd") == tok.encode("ababcd")


def test_bad_input():
    with pytest.raises(ValueError, match="n_merges must be a non-negative int"):
        BPETokenizer.train(["a"], -1)
    with pytest.raises(ValueError, match="min_frequency must be"):
        BPETokenizer.train(["a"], 1, min_frequency=1.5)
    with pytest.raises(ValueError, match="empty corpus"):
        BPETokenizer.train([""], 5)
    with pytest.raises(ValueError, match="is not a token yet"):
        BPETokenizer([(b"ab", b"c")])
    with pytest.raises(ValueError, match=r"token id must be an int in \[0, 256\)"):
        BPETokenizer().decode([256])
