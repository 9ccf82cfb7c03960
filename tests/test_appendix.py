"""The appendix: the generated glossary (scripts/glossary.py) and the links of the appendix pages."""
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("glossary", ROOT / "scripts" / "glossary.py")
gl = importlib.util.module_from_spec(spec)
sys.modules["glossary"] = gl  # dataclasses look their module up there
spec.loader.exec_module(gl)


# ----------------------------------------------------------------------------- the book's glossary
@pytest.fixture(scope="module")
def book():
    glossary = gl.load_glossary(ROOT / gl.DATA)
    occurrences = gl.extract(ROOT, glossary)
    return glossary, occurrences


def test_every_glossed_term_has_a_definition(book):
    _, occurrences = book
    missing = list(dict.fromkeys(f"{o.page.doc}: “{o.gloss.context}”: {o.problem}" for o in occurrences if o.problem))
    assert not missing, ("terms glossed in the chapters without an entry in appendix/glossary.yml; for each, do what "
                         "it says, then run python scripts/glossary.py:\n" + "\n".join(missing))


def test_no_definition_is_left_unused(book):
    glossary, occurrences = book
    used = gl.first_pages(occurrences)
    unused = sorted(t for t, e in glossary.terms.items() if t not in used and not e.get("keep"))
    assert not unused, (f"entries of appendix/glossary.yml that no chapter glosses: {unused}; delete them or "
                        "give each a 'keep: <reason>'")


def test_glossary_md_is_current(book):
    glossary, occurrences = book
    expected = gl.render(glossary, gl.first_pages(occurrences))
    assert (ROOT / gl.OUTPUT).read_text(encoding="utf-8") == expected, \
        "appendix/glossary.md is out of date: run python scripts/glossary.py"


def test_glossary_md_is_sorted_by_pinyin_and_grouped_by_initial(book):
    glossary, _ = book
    text = (ROOT / gl.OUTPUT).read_text(encoding="utf-8")
    terms, groups = [], []
    for line in text.splitlines():
        if line.startswith("## "):
            groups.append(line[3:])
        elif line.startswith("| ") and not line.startswith(("| 中文", "| ---")):
            term = re.sub(r"（又作：.*）$", "", line.split(" | ")[0][2:])
            terms.append(term)
            assert gl.initial(term, glossary.readings) == groups[-1], f"{term!r} is under the heading {groups[-1]}"
    assert len(terms) > 100 and len(set(terms)) == len(terms)
    assert terms == sorted(terms, key=glossary.sort_key), "terms are not in pinyin order: run python scripts/glossary.py"
    assert terms.index("重置门") < terms.index("词元流")  # chong zhi men: from the readings of glossary.yml
    assert groups == sorted(groups) and len(groups) == len(set(groups))


def test_first_pages_follow_reading_order(book):
    _, occurrences = book
    first = gl.first_pages(occurrences)
    order = [p.doc for p in gl.chapter_pages(ROOT)]
    assert first["n 元语法"].doc == "chapters/01_background/index"  # chapter 1's introduction glosses it first
    for occ in occurrences:
        if occ.term is not None:
            assert order.index(first[occ.term].doc) <= order.index(occ.page.doc)


# ----------------------------------------------------------------------------- extraction
def glosses(markdown):
    return [(g.candidate, g.english, g.bold) for g in gl.find_glosses(markdown)]


def test_bold_plain_quoted_and_inner_forms():
    text = ("一个**因果掩码**（causal mask）。得到概率的链式法则（chain rule）。所谓“涌现能力”（emergent abilities）。"
            "先训练（预训练，pretraining），再（**教师强制**，teacher forcing）。负对数似然（negative log-likelihood，NLL）。")
    assert glosses(text) == [
        ("因果掩码", "causal mask", True),
        ("得到概率的链式法则", "chain rule", False),
        ("涌现能力", "emergent abilities", True),
        ("预训练", "pretraining", False),
        ("教师强制", "teacher forcing", True),
        ("负对数似然", "negative log-likelihood，NLL", False),
    ]


def test_latin_words_in_terms_and_one_letter_math():
    text = "最透明的是 $n$ 元语法（n-gram），以及加 k 平滑（add-k smoothing）与插值 Kneser–Ney 平滑（interpolated Kneser–Ney）。"
    assert [c for c, _, _ in glosses(text)] == ["最透明的是 n 元语法", "以及加 k 平滑", "与插值 Kneser–Ney 平滑"]


def test_code_math_roles_and_non_glosses_are_skipped():
    text = "\n".join([
        "```python",
        "x = '假术语（fake）'",
        "```",
        "```{prf:definition} 多项式朴素贝叶斯",
        ":label: def-x（not a gloss）",
        "",
        "正文里的多项式朴素贝叶斯（multinomial naive Bayes）。",
        "```",
        "$$",
        "a（b）",
        "$$",
        "模型 `f`（`bias=False`），一个数（$k=1$），见 {doc}`x`（see）。记忆（即编码器的输出）。",
        "注：（如标签平滑，或知识蒸馏（knowledge distillation））。",
    ])
    assert glosses(text) == [("正文里的多项式朴素贝叶斯", "multinomial naive Bayes", False),
                             ("或知识蒸馏", "knowledge distillation", False)]


def test_english_only_content_needs_a_chinese_term_before_it():
    assert glosses("logits（float64）与 `softmax`（soft maximum）") == []
    assert glosses("熵（entropy，单位 nats；均匀时最大）") == [("熵", "entropy", False)]


# ----------------------------------------------------------------------------- resolving
GLOSSARY = {
    "terms": {
        "链式法则": {"en": "chain rule", "def": "一行。"},
        "对数几率": {"en": "logits", "en_variants": ["log-odds"], "def": "一行。"},
        "朴素贝叶斯": {"en": "naive Bayes", "def": "一行。"},
        "学习率预热": {"en": "warmup", "aliases": ["预热"], "def": "一行。"},
    },
    "overrides": {"的输出（logits）": None, "的随机示例（few-shot）": "链式法则"},
}


def make(data=GLOSSARY, tmp_path=None):
    path = tmp_path / "glossary.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return gl.load_glossary(path)


def resolve(glossary, candidate, english, bold=False):
    return gl.resolve(gl.Gloss(candidate, english, bold, "ctx"), glossary, glossary.lookup())


def test_resolve_longest_suffix_alias_variant_and_override(tmp_path):
    g = make(tmp_path=tmp_path)
    assert resolve(g, "得到概率的链式法则", "chain rule") == ("链式法则", "")
    assert resolve(g, "后验的对数几率", "log-odds") == ("对数几率", "")
    assert resolve(g, "学习率先线性预热", "warm-up") == ("学习率预热", "")
    assert resolve(g, "的输出", "logits") == (None, "")
    assert resolve(g, "的随机示例", "few-shot") == ("链式法则", "")


def test_resolve_reports_what_to_do(tmp_path):
    g = make(tmp_path=tmp_path)
    term, problem = resolve(g, "多项式朴素贝叶斯", "multinomial naive Bayes")
    assert term is None and "English differs" in problem and "en_variants" in problem
    term, problem = resolve(g, "这就是过拟合", "overfitting")
    assert term is None and "add an entry '过拟合: {en: overfitting" in problem
    assert "\"这就是过拟合（overfitting）\": <the term>" in problem
    term, problem = resolve(g, "自回归", "autoregressive", bold=True)
    assert "'自回归: {en: autoregressive" in problem


def test_suggest_cuts_after_the_last_function_word():
    assert gl.suggest("本节推导这个模型的最大似然估计") == "最大似然估计"
    assert gl.suggest("所以也叫自监督学习") == "自监督学习"


def test_english_agrees():
    entry = {"en": "maximum likelihood estimation (MLE)"}
    assert gl.english_agrees("MLE", entry) and gl.english_agrees("maximum likelihood estimation，MLE", entry)
    assert gl.english_agrees("scaling laws", {"en": "scaling law"})
    assert not gl.english_agrees("multinomial naive Bayes", {"en": "naive Bayes"})
    assert not gl.english_agrees("log-odds", {"en": "logits"})


@pytest.mark.parametrize("change, message", [
    ({"def": "两行\n定义"}, "one-line def"),
    ({"def": "a | b"}, "one-line def"),
    ({"en": ""}, "one-line en"),
    ({"colour": "red"}, "unknown fields"),
])
def test_load_glossary_rejects_bad_entries(tmp_path, change, message):
    data = yaml.safe_load(yaml.safe_dump(GLOSSARY))
    data["terms"]["链式法则"].update(change)
    with pytest.raises(ValueError, match=message):
        make(data, tmp_path)


def test_load_glossary_rejects_bad_overrides_and_shared_aliases(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(GLOSSARY))
    data["overrides"]["x（y）"] = "没有的术语"
    with pytest.raises(ValueError, match="not a term; add the term or use null"):
        make(data, tmp_path)
    data = yaml.safe_load(yaml.safe_dump(GLOSSARY))
    data["terms"]["朴素贝叶斯"]["aliases"] = ["预热"]
    with pytest.raises(ValueError, match="claimed by"):
        make(data, tmp_path)


# ----------------------------------------------------------------------------- sorting
def test_sort_key_and_initial():
    terms = ["注意力机制", "KL 散度", "变换器", "比特", "n 元语法", "长短期记忆网络"]
    assert sorted(terms, key=gl.sort_key) == ["比特", "变换器", "长短期记忆网络", "KL 散度", "n 元语法", "注意力机制"]
    assert [gl.initial(t) for t in ["KL 散度", "n 元语法", "长短期记忆网络", "3 元组"]] == ["K", "N", "C", "#"]
    readings = {"重置": "chong zhi", "似然": "si ran"}
    assert gl.sort_key("重置门", readings) == (("chong", "zhi", "men"), "重置门")
    assert gl.sort_key("负对数似然与 k 的似然", readings)[0] == (
        "fu", "dui", "shu", "si", "ran", "yu", "k", "de", "si", "ran")
    assert gl.initial("重置门", readings) == "C" and gl.initial("重置门") == "Z"


@pytest.mark.parametrize("phrase, reading", [("重置", "chóng zhì"), ("重置", "chong"), ("KL", "k l")])
def test_readings_are_checked(tmp_path, phrase, reading):
    data = yaml.safe_load(yaml.safe_dump(GLOSSARY))
    data["readings"] = {phrase: reading}
    with pytest.raises(ValueError, match="one lower-case syllable"):
        make(data, tmp_path)


# ----------------------------------------------------------------------------- a small book
@pytest.fixture
def small_book(tmp_path):
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "intro",
        "parts": [
            {"caption": "第1章", "numbered": True, "chapters": [{
                "file": "chapters/01_a/index",
                "sections": [{"file": "chapters/01_a/01_x"}, {"file": "chapters/01_a/02_missing"}]}]},
            {"caption": "附录", "chapters": [{"file": "appendix/glossary"}]},
        ]}, allow_unicode=True), encoding="utf-8")
    (tmp_path / "intro.md").write_text("# 前言\n\n语言模型（language model）\n", encoding="utf-8")
    (tmp_path / "chapters" / "01_a").mkdir(parents=True)
    (tmp_path / "chapters" / "01_a" / "index.md").write_text("# 第一章\n\n得到概率的链式法则（chain rule）。\n",
                                                             encoding="utf-8")
    nb = new_notebook(cells=[new_markdown_cell("# 一节\n\n后验的对数几率（log-odds）和**过拟合**（overfitting）"),
                             new_code_cell("print('链式法则（chain rule）')")])
    nbformat.write(nb, tmp_path / "chapters" / "01_a" / "01_x.ipynb")
    (tmp_path / "appendix").mkdir()
    (tmp_path / gl.DATA).write_text(yaml.safe_dump(GLOSSARY, allow_unicode=True), encoding="utf-8")
    return tmp_path


def test_chapter_pages_number_existing_pages_in_reading_order(small_book):
    pages = gl.chapter_pages(small_book)
    assert [(p.doc, p.number, p.title) for p in pages] == [
        ("chapters/01_a/index", "第 1 章", "第一章"), ("chapters/01_a/01_x", "1.1", "一节")]
    assert pages[1].link() == "{doc}`1.1 一节 </chapters/01_a/01_x>`"


def test_page_title_is_required(tmp_path):
    (tmp_path / "a.md").write_text("no heading\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no level-1 heading"):
        gl.page_title(tmp_path / "a.md")


def test_main_check_then_write(small_book, capsys):
    assert gl.main(["--check", "--root", str(small_book)]) == 1
    out = capsys.readouterr().out
    assert "过拟合" in out and "'朴素贝叶斯' is glossed on no chapter page" in out and "学习率预热" in out

    data = yaml.safe_load((small_book / gl.DATA).read_text(encoding="utf-8"))
    data["terms"]["过拟合"] = {"en": "overfitting", "def": "一行。"}
    data["terms"]["朴素贝叶斯"]["keep"] = "for the test"
    data["terms"]["学习率预热"]["keep"] = "for the test"
    (small_book / gl.DATA).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert gl.main(["--check", "--root", str(small_book)]) == 1
    assert "out of date: run python scripts/glossary.py" in capsys.readouterr().out

    assert gl.main(["--root", str(small_book)]) == 0
    assert "3 terms from 2 pages" in capsys.readouterr().out
    text = (small_book / gl.OUTPUT).read_text(encoding="utf-8")
    assert "| 链式法则 | chain rule | 一行。 | {doc}`第 1 章 第一章 </chapters/01_a/index>` |" in text
    assert text.index("## D") < text.index("## G") < text.index("## L") and "朴素贝叶斯" not in text
    assert gl.main(["--check", "--root", str(small_book)]) == 0


# ----------------------------------------------------------------------------- appendix pages
APPENDIX_PAGES = ["notation", "glossary", "faq", "course"]


def _toc_docs():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    docs = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                docs.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc["parts"]:
        walk(part.get("chapters"))
    return docs


def test_appendix_pages_are_in_the_toc_before_the_bibliography():
    docs = _toc_docs()
    positions = [docs.index(f"appendix/{name}") for name in APPENDIX_PAGES]
    assert positions == sorted(positions) and positions[-1] < docs.index("appendix/bibliography")


@pytest.mark.parametrize("name", APPENDIX_PAGES)
def test_appendix_links_point_to_existing_pages_and_labels(name):
    text = (ROOT / "appendix" / f"{name}.md").read_text(encoding="utf-8")
    for target in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", text):
        doc = target.lstrip("/") if target.startswith("/") else f"appendix/{target}"
        assert any((ROOT / f"{doc}{ext}").is_file() for ext in (".md", ".ipynb")), f"{name}.md links to {target}"
    labels, equations = set(), set()
    for path in (ROOT / "chapters").rglob("*.ipynb"):
        source = path.read_text(encoding="utf-8")
        labels |= set(re.findall(r":label: ([\w-]+)", source))
        equations |= set(re.findall(r"\$\$ \((eq-[\w-]+)\)", source))
    for label in re.findall(r"\{(?:ref|numref|prf:ref)\}`(?:[^`<]*<)?([^`>]+)>?`", text):
        assert label in labels, f"{name}.md refers to {label!r}, which no chapter defines"
    for label in re.findall(r"\{eq\}`([^`]+)`", text):
        assert label in equations, f"{name}.md refers to the equation {label!r}, which no chapter defines"
