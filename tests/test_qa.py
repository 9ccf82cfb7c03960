import random

import pytest
import torch

from llmbook import checkpoints, qa, qa_data


def test_make_people_distinct_and_seeded():
    people = qa.make_people(50, seed=3)
    assert len({p.name for p in people}) == 50
    assert people == qa.make_people(50, seed=3) and people != qa.make_people(50, seed=4)
    assert all(p.birth_city in qa.CITIES and p.org in qa.ORGS and 1950 <= int(p.birth_year) <= 2005
               for p in people)
    with pytest.raises(ValueError, match="number of distinct names"):
        qa.make_people(0)


def test_biography_offsets_point_at_the_answers():
    person = qa.make_people(1, seed=0)[0]
    text, starts = qa.biography(person, qa.RELATIONS, random.Random(0))
    for rel, start in starts.items():
        value = getattr(person, rel)
        assert text[start: start + len(value)] == value
    with pytest.raises(ValueError, match="unknown relation"):
        qa.biography(person, ["height"], random.Random(0))


def test_generate_examples_answers_and_templates():
    train = qa.generate_examples(200, "train", seed=0)
    test = qa.generate_examples(200, "test", seed=1)
    for ex in train + test:
        assert ex.context[ex.start: ex.start + len(ex.answer)] == ex.answer
    train_q = {t for q in qa.QUESTION_TEMPLATES.values() for t in q["train"]}
    test_q = {t for q in qa.QUESTION_TEMPLATES.values() for t in q["test"]}
    assert not train_q & test_q  # held-out question templates
    none = qa.generate_examples(50, "test", seed=2, answerable=False)
    assert all(ex.start == -1 and ex.answer == "" for ex in none)
    assert qa.generate_examples(5, seed=7) == qa.generate_examples(5, seed=7)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        qa.generate_examples(1, "valid")
    with pytest.raises(ValueError, match="n_people must be an int"):
        qa.generate_examples(1, n_people=0)
    with pytest.raises(ValueError, match="non-negative int"):
        qa.generate_examples(-1)


def test_question_templates_are_composed_and_held_out():
    assert qa.generate_examples is qa_data.generate_examples and qa.QAExample is qa_data.QAExample
    for rel, templates in qa.QUESTION_TEMPLATES.items():
        train, test = templates["train"], templates["test"]
        assert len(train) >= 100 and len(set(train)) == len(train)  # many interchangeable phrasings
        assert all(t.count("{n}") == 1 and t.endswith("？") for t in train + test)
        for t in test:  # no training question contains a held-out question (minus "？")
            assert not any(t[:-1] in u for u in train), (rel, t)
    # each city relation's held-out question word never occurs in its training questions
    assert not any("哪座城市" in t for t in qa.QUESTION_TEMPLATES["birth_city"]["train"])
    assert not any("哪个城市" in t for t in qa.QUESTION_TEMPLATES["home_city"]["train"])
    assert not any(w in t for q in qa.QUESTION_TEMPLATES.values() for t in q["train"]
                   for w in ("年份", "出生地", "现居", "何处", "干什么", "哪一行", "工作单位", "什么地方"))


def test_tokenizer_and_encoding_cover_all_text():
    tok = qa.build_tokenizer()
    ex = qa.generate_examples(30, "test", seed=0)
    for e in ex:
        ids, off = qa.encode_example(tok, e.question, e.context)
        assert tok.unk_id not in ids
        assert tok.decode(ids[off: off + len(e.context)]) == e.context
        assert ids[0] == tok.bos_id and ids[off - 1] == tok.eos_id and ids[-1] == tok.eos_id


def test_best_span_equals_brute_force():
    g = torch.Generator().manual_seed(0)
    s, e = torch.randn(20, 15, generator=g), torch.randn(20, 15, generator=g)
    e[3, :5] = float("-inf")  # masked positions are never chosen
    for L in (1, 3, 15, 40):
        start, end, score = qa.best_span(s, e, L)
        for b in range(20):
            i, j, best = qa.best_span_brute_force(s[b], e[b], L)
            assert (int(start[b]), int(end[b])) == (i, j)
            assert float(score[b]) == pytest.approx(best)
            assert 0 <= j - i < L
    one = qa.best_span(s[0], e[0], 4)
    assert one[0].shape == (1,)
    with pytest.raises(ValueError, match="same shape"):
        qa.best_span(s, e[:, :3], 2)
    with pytest.raises(ValueError, match="max_len must be a positive int"):
        qa.best_span(s, e, 0)


def test_em_and_f1():
    assert qa.exact_match("北京。", " 北京") == 1.0 and qa.exact_match("北京", "南京") == 0.0
    assert qa.f1_score("南京", "北京") == pytest.approx(0.5)  # 1 common char of 2 and 2
    assert qa.f1_score("长江银行", "银行") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert qa.f1_score("上海", "北京") == 0.0
    assert qa.f1_score("", "") == 1.0 and qa.f1_score("", "北京") == 0.0
    assert qa.normalize_answer("“北京”，") == "北京"


def test_question_overlap_marks_shared_characters():
    ids = torch.tensor([[1, 5, 6, 2, 7, 5, 6, 8, 6, 5, 2]])  # <bos> q=(5, 6) <eos> context <eos>
    mask = torch.zeros(1, 11, dtype=torch.bool)
    mask[0, 4:10] = True
    uni = qa.question_overlap(ids, mask)[0].tolist()
    assert uni[4:10] == [False, True, True, False, True, True]  # 5 and 6 occur in the question
    assert uni[:4] == [True] * 4 and uni[10]  # the question itself, and the final <eos> (id 2)
    no_context = qa.question_overlap(ids, torch.zeros_like(mask))
    assert no_context.all()  # without a context everything counts as question
    with pytest.raises(ValueError, match="must both have shape"):
        qa.question_overlap(ids, mask[:, :5])


def test_reader_shapes_masking_and_errors():
    tok = qa.build_tokenizer()
    torch.manual_seed(0)
    model = qa.SpanReader(qa.ReaderConfig(len(tok), d_model=16, n_heads=2, d_ff=32, max_len=64))
    ids = torch.randint(4, len(tok), (2, 10))
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[:, 4:8] = True
    s, e = model(ids, mask)
    assert s.shape == e.shape == (2, 10)
    assert torch.isinf(s[:, :4]).all() and torch.isfinite(s[:, 4:8]).all()
    with pytest.raises(ValueError, match="must both have shape"):
        model(ids, mask[:, :5])
    with pytest.raises(ValueError, match="exceeds max_len"):
        model(torch.zeros(1, 65, dtype=torch.long), torch.ones(1, 65, dtype=torch.bool))
    with pytest.raises(ValueError, match="d_model must be a positive int"):
        qa.ReaderConfig(10, d_model=0)


def test_training_lowers_the_loss_and_predict_returns_spans(tmp_path):
    tok = qa.build_tokenizer()
    data = qa.generate_examples(64, "train", seed=0)
    torch.manual_seed(0)
    model = qa.SpanReader(qa.ReaderConfig(len(tok), d_model=32, n_heads=2, d_ff=64))
    calls = []
    losses = qa.train_reader(model, tok, data, steps=40, batch_size=16, lr=3e-3,
                             callback=lambda step, m: calls.append(step))
    assert calls == list(range(1, 41))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5
    preds = qa.predict(model, tok, data[:5])
    for p, ex in zip(preds, data):
        assert ex.context[p["start"]: p["start"] + len(p["answer"])] == p["answer"]
        assert 1 <= len(p["answer"]) <= qa.MAX_ANSWER_LEN and p["log_prob"] <= 0
    with pytest.raises(ValueError, match="must be answerable"):
        qa.train_reader(model, tok, qa.generate_examples(40, answerable=False), 1)
    with pytest.raises(ValueError, match="at least batch_size"):
        qa.train_reader(model, tok, data[:3], 1, batch_size=4)

    path = tmp_path / "r.pt"
    digest = qa.save_reader(path, model, {"note": "test"})
    loaded, tok2, meta = qa.load_reader(path)
    assert tok2 == tok and meta == {"note": "test"} and len(digest) == 64
    ids, mask, _ = qa._batch(tok, data[:3])
    for a, b in zip(model(ids, mask), loaded(ids, mask)):
        torch.testing.assert_close(a, b)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(checkpoints.ChecksumError, match="python -m llmbook.qa"):
        qa.load_reader(path)
    with pytest.raises(FileNotFoundError, match="reproduce it"):
        qa.load_reader(tmp_path / "missing.pt")


def test_make_collection_documents_and_gold():
    docs, questions = qa.make_collection(20, 50, seed=0)
    assert len(docs) == 20 and len(questions) == 50
    for q, gold, answer in questions:
        assert answer in docs[gold]
    assert (docs, questions) == qa.make_collection(20, 50, seed=0)
    with pytest.raises(ValueError, match="n_people must be an int >= 2"):
        qa.make_collection(1, 5)


def test_reader_checkpoint_round_trip_and_checksum_failure(tmp_path):
    model = qa.SpanReader(qa.ReaderConfig(vocab_size=len(qa.build_tokenizer()), d_model=8,
                                          n_heads=2, n_layers=1, d_ff=16, max_len=32))
    path = tmp_path / "reader.pt"
    digest = qa.save_reader(path, model, {"note": "test"})
    loaded, tok, meta = qa.load_reader(path)
    assert meta == {"note": "test"} and not loaded.training and tok.vocab == qa.build_tokenizer().vocab
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    with pytest.raises(TypeError, match="save_reader saves a SpanReader"):
        qa.save_reader(path, torch.nn.Linear(2, 2))
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(checkpoints.ChecksumError, match=f"but {digest} was expected.*python -m llmbook.qa"):
        qa.load_reader(path)
