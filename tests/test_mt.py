"""Tests of llmbook.mt: the rendering rules, the corpus, its split and the batches."""
import pytest
import torch

from llmbook import mt


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (45, "forty-five"),
    (100, "one hundred"), (101, "one hundred and one"), (321, "three hundred and twenty-one"),
    (1000, "one thousand"), (1005, "one thousand and five"), (1100, "one thousand one hundred"),
    (2010, "two thousand and ten"), (9999, "nine thousand nine hundred and ninety-nine"),
])
def test_english_number(n, words):
    assert mt.english_number(n) == words


@pytest.mark.parametrize("n, zh", [
    (0, "零"), (5, "五"), (10, "十"), (15, "十五"), (20, "二十"), (99, "九十九"),
    (100, "一百"), (101, "一百零一"), (110, "一百一十"), (115, "一百一十五"), (200, "二百"),
    (1000, "一千"), (1005, "一千零五"), (1010, "一千零一十"), (1050, "一千零五十"),
    (1100, "一千一百"), (1234, "一千二百三十四"), (3405, "三千四百零五"), (7030, "七千零三十"),
    (9009, "九千零九"), (9999, "九千九百九十九"),
])
def test_chinese_number_rules(n, zh):
    assert mt.chinese_number(n) == zh


def test_chinese_number_structure_for_all_numbers():
    digits = dict(zip("零一二三四五六七八九", range(10)))
    units = {"十": 10, "百": 100, "千": 1000}
    for n in range(10_000):
        zh = mt.chinese_number(n)
        assert "零零" not in zh and not (n and zh.endswith("零")) and not zh.startswith("一十")
        # read the numeral back: digit-unit pairs; a leading 十 means 一十
        total, digit = 0, 1 if zh.startswith("十") else 0
        for ch in zh:
            if ch in digits:
                digit = digits[ch]
            else:
                total, digit = total + digit * units[ch], 0
        assert total + digit == n, (n, zh)


@pytest.mark.parametrize("fn, args, match", [
    (mt.english_number, (10_000,), r"n must be an int in \[0, 9999\], got 10000"),
    (mt.chinese_number, (-1,), r"n must be an int in \[0, 9999\]"),
    (mt.chinese_number, (3.0,), r"n must be an int"),
    (mt.date_pair, (2023, 2, 29), r"day must be an int in \[1, 28\], got 29"),
    (mt.date_pair, (2024, 13, 1), r"month must be an int in \[1, 12\]"),
    (mt.time_pair, (12, 0, True), r"hour must be an int in \[1, 11\]"),
    (mt.time_pair, (7, 60, True), r"minute must be an int in \[0, 59\]"),
    (mt.time_pair, (7, 5, "pm"), r"pm must be a bool"),
    (mt.amount_pair, (0, "$"), r"cents must be an int in \[1, 9999999\]"),
    (mt.amount_pair, (100, "¥"), r"currency must be one of"),
])
def test_bad_values(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


def test_pairs():
    assert mt.number_pair(1005) == mt.Pair("one thousand and five", "一千零五", "number")
    assert mt.date_pair(2024, 3, 5) == mt.Pair("March 5, 2024", "2024年3月5日", "date")
    assert mt.date_pair(2024, 2, 29).target == "2024年2月29日"  # a leap day
    assert mt.time_pair(7, 45, True) == mt.Pair("7:45 pm", "下午7点45分", "time")
    assert mt.time_pair(7, 5, False).target == "上午7点05分"
    assert mt.time_pair(7, 0, True).target == "下午7点整"
    assert mt.amount_pair(120550, "$") == mt.Pair("$1,205.50", "1205.50美元", "amount")
    assert mt.amount_pair(3000, "€") == mt.Pair("€30", "30欧元", "amount")
    assert mt.amount_pair(725, "£").target == "7.25英镑"


def test_make_corpus_is_deterministic_distinct_and_mixed():
    counts = {"number": 50, "date": 50, "time": 30, "amount": 50}
    a = mt.make_corpus(counts, seed=1)
    assert a == mt.make_corpus(dict(reversed(list(counts.items()))), seed=1)  # dict order irrelevant
    assert a != mt.make_corpus(counts, seed=2)
    assert len(a) == 180 and len({p.source for p in a}) == 180
    assert {k: sum(p.kind == k for p in a) for k in mt.KINDS} == counts
    with pytest.raises(ValueError, match="unknown kind 'weekday'"):
        mt.make_corpus({"weekday": 3})
    with pytest.raises(ValueError, match="non-empty dict"):
        mt.make_corpus({})
    with pytest.raises(ValueError, match="cannot draw 2000 distinct 'time' pairs"):
        mt.make_corpus({"time": 2000})  # only 11 * 60 * 2 = 1320 exist


def test_split_corpus_keeps_test_sources_out_of_training():
    pairs = mt.make_corpus({"number": 100, "date": 100}, seed=0)
    sp = mt.split_corpus(pairs, 20, 30)
    assert (len(sp.train), len(sp.valid), len(sp.test)) == (150, 20, 30)
    assert not {p.source for p in sp.test} & {p.source for p in sp.train}
    with pytest.raises(ValueError, match="sources must be distinct"):
        mt.split_corpus(pairs + pairs[:1], 20, 30)
    with pytest.raises(ValueError, match="leaves no training pairs"):
        mt.split_corpus(pairs, 100, 100)


def test_tokenizers_and_batches():
    pairs = [mt.date_pair(2024, 3, 5), mt.number_pair(15)]
    st, tt = mt.build_tokenizers(pairs)
    assert st.pad_id == tt.pad_id == 0
    src, tgt_in, tgt_out = mt.encode_pairs(pairs, st, tt)
    assert src.shape == (2, len("March 5, 2024") + 1) and src[1, len("fifteen")] == st.eos_id
    assert src[1, -1] == st.pad_id
    assert tgt_in[:, 0].tolist() == [tt.bos_id] * 2
    real = tgt_in[:, 1:] != tt.pad_id
    assert torch.equal(tgt_in[:, 1:][real], tgt_out[:, :-1][real])  # shifted by one
    assert tt.decode(tgt_out[0].tolist()) == "2024年3月5日" and tgt_out[0, -1] == tt.eos_id
    assert tgt_out[1].tolist() == tt.encode("十五") + [tt.eos_id] + [tt.pad_id] * 7
    with pytest.raises(ValueError, match="source sentence 1 is empty"):
        mt.encode_sources(["March 5, 2024", ""], st)
    with pytest.raises(ValueError, match="non-empty list of sentences"):
        mt.encode_sources("March 5, 2024", st)
    with pytest.raises(ValueError, match="need at least one pair"):
        mt.build_tokenizers([])


def test_length_groups_sort_by_source_length_and_keep_every_pair():
    pairs = mt.make_corpus({"number": 20, "time": 20, "date": 10}, seed=3)
    groups = mt.length_groups(pairs, 3)
    assert [len(g) for g in groups] == [16, 17, 17]
    assert sorted(p for g in groups for p in g) == sorted(pairs)
    lengths = [len(p.source) for g in groups for p in g]
    assert lengths == sorted(lengths)
    st, tt = mt.build_tokenizers(pairs)
    widths = [mt.encode_pairs(g, st, tt)[0].shape[1] for g in groups]
    assert widths[0] < widths[-1] == mt.encode_pairs(pairs, st, tt)[0].shape[1]  # less padding
    assert mt.length_groups(pairs, 1) == [sorted(pairs, key=lambda p: len(p.source))]
    for bad in (0, 51, 2.0, True):
        with pytest.raises(ValueError, match=r"n_groups must be an int in \[1, 50\]"):
            mt.length_groups(pairs, bad)
