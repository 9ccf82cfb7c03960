"""Tests of llmbook.tokenizers: vocabularies of characters and of words."""
import json

import pytest
import torch

from llmbook.data import load_peoples_daily, load_reviews
from llmbook.tokenizers import DEFAULT_SPECIALS, CharTokenizer, Vocabulary, WordTokenizer


@pytest.fixture
def tok():
    # counts: a 4, b 2, n 2, c 1 -> ids a 4, b 5, n 6 (tie with b, broken by code point), c 7
    return CharTokenizer.from_texts(["banana", "cab"])


# ------------------------------------------------------------------------- building
def test_specials_first_then_by_frequency_ties_by_code_point(tok):
    assert tok.vocab == ("<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "n", "c")
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert len(tok) == 8 and tok.specials == DEFAULT_SPECIALS
    assert tok == CharTokenizer.from_texts(["cab", "banana"])  # corpus order does not matter


def test_custom_specials_keep_their_order_and_absent_ones_are_none():
    t = CharTokenizer.from_texts(["你好"], specials=("<eos>", "<pad>"))
    assert t.vocab == ("<eos>", "<pad>", "你", "好")
    assert (t.eos_id, t.pad_id, t.unk_id, t.bos_id) == (0, 1, None, None)


def test_max_size_counts_specials_and_rare_chars_become_unk(tok):
    small = CharTokenizer.from_texts(["banana", "cab"], max_size=6)
    assert small.vocab == ("<pad>", "<unk>", "<bos>", "<eos>", "a", "b")
    assert small.encode("nab") == [1, 4, 5]
    assert small.decode(small.encode("nab")) == "ab"
    assert small.decode(small.encode("nab"), skip_specials=False) == "<unk>ab"


def test_min_freq_drops_rare_tokens():
    assert CharTokenizer.from_texts(["banana", "cab"], min_freq=2).vocab[4:] == ("a", "b", "n")
    with pytest.raises(ValueError, match="no character occurs min_freq=9 times or more"):
        CharTokenizer.from_texts(["banana"], min_freq=9)
    with pytest.raises(ValueError, match="min_freq must be a positive int, got 0"):
        CharTokenizer.from_texts(["banana"], min_freq=0)


@pytest.mark.parametrize("max_size", [4, 0, 2.5])
def test_max_size_too_small_is_rejected(max_size):
    with pytest.raises(ValueError, match=r"max_size must be an int of at least len\(specials\) \+ 1 = 5"):
        CharTokenizer.from_texts(["abc"], max_size=max_size)


@pytest.mark.parametrize("texts", [[], ["", ""]])
def test_empty_corpus_is_rejected(texts):
    with pytest.raises(ValueError, match=r"empty corpus \(no characters\)"):
        CharTokenizer.from_texts(texts)
    with pytest.raises(ValueError, match=r"empty corpus \(no words\)"):
        WordTokenizer.from_texts([()] * len(texts))


def test_special_strings_in_the_corpus_are_not_ordinary_tokens():
    t = WordTokenizer.from_texts([("<unk>", "猫"), ("猫",)])
    assert t.vocab == DEFAULT_SPECIALS + ("猫",)
    assert t.encode(["<unk>", "猫"]) == [1, 4]


def test_bad_constructor_arguments_are_explained():
    with pytest.raises(ValueError, match=r"CharTokenizer tokens are single characters, got 'ab'"):
        CharTokenizer(["a", "ab"])
    with pytest.raises(ValueError, match=r"distinct and not specials; repeated: \['<pad>', 'a'\]"):
        WordTokenizer(["a", "a", "<pad>"])
    with pytest.raises(ValueError, match="special tokens must be non-empty"):
        CharTokenizer(["a"], specials=("",))
    with pytest.raises(TypeError, match="tokens must all be str, got 3 \\(int\\)"):
        WordTokenizer(["a", 3])
    with pytest.raises(TypeError, match="specials must be a sequence of str .* not the str '<pad>'"):
        CharTokenizer(["a"], specials="<pad>")
    with pytest.raises(TypeError, match=r"not one str; wrap it: \[text\]"):
        CharTokenizer.from_texts("banana")
    with pytest.raises(ValueError, match="tokens must be non-empty"):
        WordTokenizer(["我们", ""])


# ------------------------------------------------------------------ encode / decode
def test_encode_decode_round_trip_on_a_handmade_string():
    text = "今天天气很好，我们去公园散步吧！Good 2024。"
    t = CharTokenizer.from_texts([text])
    ids = t.encode(text)
    assert len(ids) == len(text) and min(ids) >= len(t.specials)
    assert t.decode(ids) == text
    assert t.decode(torch.tensor(ids)) == text  # tensors work too


def test_unknown_chars_map_to_unk_or_raise_without_it(tok):
    assert tok.encode("abz") == [4, 5, tok.unk_id]
    strict = CharTokenizer(["a", "b"], specials=("<pad>",))
    assert strict.encode("ab") == [1, 2]
    with pytest.raises(ValueError, match="character 'z' is not in the vocabulary and there is no '<unk>'"):
        strict.encode("abz")


def test_bos_eos_wrapping_and_skipping_specials(tok):
    ids = tok.encode("ab", add_bos_eos=True)
    assert ids == [2, 4, 5, 3]
    assert tok.decode(ids) == "ab"
    assert tok.decode(ids, skip_specials=False) == "<bos>ab<eos>"
    with pytest.raises(ValueError, match="add_bos_eos=True needs '<bos>' and '<eos>'"):
        CharTokenizer(["a"], specials=("<pad>", "<unk>")).encode("a", add_bos_eos=True)


def test_bad_ids_and_unknown_tokens_give_clear_errors(tok):
    with pytest.raises(IndexError, match=r"token id 8 is out of range: valid ids are 0\.\.7"):
        tok.decode([4, 8])
    with pytest.raises(IndexError, match="token id -1 is out of range"):
        tok.decode([-1])
    with pytest.raises(TypeError, match=r"token ids must be ints, got 2\.5"):
        tok.decode([4, 2.5])
    with pytest.raises(IndexError, match="token id 99 is out of range"):
        tok.id_to_token(99)
    assert tok.id_to_token(6) == "n" and tok.token_to_id("n") == 6 and "n" in tok
    with pytest.raises(KeyError, match="character 'z' is not in this vocabulary"):
        tok.token_to_id("z")
    with pytest.raises(TypeError, match="CharTokenizer encodes str, got list"):
        tok.encode(["a"])
    assert tok.decode([]) == "" and tok.encode("") == []


def test_round_trip_on_the_real_review_corpus():
    texts, _ = load_reviews()
    t = CharTokenizer.from_texts(texts)
    assert len(t) == 4 + 4_615  # specials + distinct characters
    assert t.vocab[4:8] == ("，", "的", "。", "是")
    assert all(t.decode(t.encode(x)) == x for x in texts)


def test_word_tokenizer_round_trip_on_peoples_daily():
    sentences = load_peoples_daily(segmented=True)
    t = WordTokenizer.from_texts(sentences)
    assert len(t) == 4 + 55_310
    assert t.vocab[4:8] == ("，", "的", "。", "、")
    assert all(t.decode(t.encode(s)) == list(s) for s in sentences[:2000])
    assert t.decode(t.encode(("我们", "爱", "量子龙猫")), skip_specials=False) == ["我们", "爱", "<unk>"]
    with pytest.raises(TypeError, match="WordTokenizer encodes a sequence of words .* got a str"):
        t.encode("我们爱")


def test_the_base_class_needs_a_subclass_to_encode():
    with pytest.raises(NotImplementedError, match="use CharTokenizer or WordTokenizer"):
        Vocabulary(["a"]).encode("a")


# ------------------------------------------------------------------------- files
def test_save_load_round_trip(tmp_path, tok):
    path = tmp_path / "chars.json"
    t = CharTokenizer.from_texts(["你好，世界"], specials=("<pad>", "<unk>"))
    t.save(path)
    stored = path.read_text(encoding="utf-8")
    assert '"世"' in stored and "\\u" not in stored  # Chinese stays readable (ensure_ascii=False)
    loaded = CharTokenizer.load(path)
    assert loaded == t and type(loaded) is CharTokenizer and loaded.specials == ("<pad>", "<unk>")
    w = WordTokenizer.from_texts([("你好", "世界")])
    w.save(tmp_path / "words.json")
    assert WordTokenizer.load(tmp_path / "words.json") == w
    assert w != CharTokenizer(["你"]) and t != tok


def test_load_rejects_other_files(tmp_path, tok):
    tok.save(tmp_path / "chars.json")
    with pytest.raises(ValueError, match="holds a CharTokenizer, not a WordTokenizer; load it with CharTokenizer.load"):
        WordTokenizer.load(tmp_path / "chars.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="is not a tokenizer file \\(invalid JSON"):
        CharTokenizer.load(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text(json.dumps({"tokens": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="is not a tokenizer file written by CharTokenizer.save"):
        CharTokenizer.load(tmp_path / "other.json")
    with pytest.raises(FileNotFoundError):
        CharTokenizer.load(tmp_path / "missing.json")
