import math

import pytest
import torch

from llmbook import retrieval
from llmbook.retrieval import BM25, char_bigrams, recall_at_k


def test_char_bigrams_split_at_punctuation():
    assert char_bigrams("王伟是医生。") == ["王伟", "伟是", "是医", "医生"]
    assert char_bigrams("北京，好") == ["北京", "好"]  # a lone character is its own token
    assert char_bigrams("。，") == []
    with pytest.raises(TypeError, match="text must be a str"):
        char_bigrams(["王伟"])


def test_bm25_matches_the_formula_by_hand():
    docs = ["王伟是医生。", "李娜是医生。李娜是老师。", "王伟住在上海。"]
    bm = BM25(k1=1.5, b=0.75).fit(docs)
    assert bm.num_docs == 3 and bm.doc_len == [4, 8, 5]
    avgdl = 17 / 3
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))  # both query terms are in 2 of 3 documents
    assert bm.idf("王伟") == pytest.approx(idf) and bm.idf("没有") == pytest.approx(math.log(1 + 3.5 / 0.5))

    def term(tf, dl):
        return idf * tf * 2.5 / (tf + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl))

    want = [term(1, 4) * 2, term(1, 8), term(1, 5)]
    got = bm.scores("王伟医生")  # bigrams 王伟 伟医 医生; 伟医 is in no document
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))
    assert bm.top_k("王伟医生", 2) == [0, 2]


def test_bm25_parameters_change_the_scores_as_expected():
    docs = ["上海上海上海。", "上海。北京天津广州深圳。", "成都。"]
    no_len = BM25(k1=1.2, b=0.0).fit(docs).scores("上海")
    assert no_len[2] == 0 and no_len[0] > no_len[1]  # more occurrences, higher score
    sat = BM25(k1=0.0, b=0.75).fit(docs).scores("上海")
    assert sat[0] == pytest.approx(sat[1])  # k1 = 0: only presence counts
    tf_counts = BM25(k1=1e6, b=0.0).fit(docs).scores("上海")
    assert float(tf_counts[0] / tf_counts[1]) == pytest.approx(3.0, rel=1e-4)  # large k1: linear in tf (3 vs 1)


def test_bm25_bad_input():
    with pytest.raises(ValueError, match="k1 must be a number >= 0"):
        BM25(k1=-1)
    with pytest.raises(ValueError, match=r"b must be a number in \[0, 1\]"):
        BM25(b=2)
    with pytest.raises(RuntimeError, match="call fit"):
        BM25().scores("上海")
    with pytest.raises(ValueError, match="non-empty sequence"):
        BM25().fit("上海")
    with pytest.raises(ValueError, match="every document is empty"):
        BM25().fit(["。", "，"])
    with pytest.raises(ValueError, match="k must be a positive int"):
        BM25().fit(["上海"]).top_k("上海", 0)


def test_recall_at_k():
    rankings = [[3, 1, 2], [0, 2, 1], [2, 0, 1]]
    assert recall_at_k(rankings, [1, 0, 1], 1) == pytest.approx(1 / 3)
    assert recall_at_k(rankings, [1, 0, 1], 2) == pytest.approx(2 / 3)
    assert recall_at_k(rankings, [1, 0, 1], 3) == 1.0
    with pytest.raises(ValueError, match="one ranking per gold"):
        recall_at_k(rankings, [1], 1)
    with pytest.raises(ValueError, match="k must be a positive int"):
        recall_at_k(rankings, [1, 0, 1], 0)
    assert "，" in retrieval.PUNCTUATION
