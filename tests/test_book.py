from llmbook import book


def test_toc_pages_in_reading_order(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "root: intro\nparts:\n  - caption: A\n    chapters:\n      - file: a/index\n"
        "        sections:\n          - file: a/one\n          - file: a/two\n"
        "  - caption: B\n    chapters:\n      - file: b\n", encoding="utf-8")
    assert book.toc_pages(tmp_path) == ["intro", "a/index", "a/one", "a/two", "b"]
    assert book.toc_pages()[0] == "intro"


def test_find_chromium_honours_the_environment(monkeypatch):
    monkeypatch.setenv("LLMBOOK_CHROMIUM", "/opt/my-chrome")
    assert book.find_chromium() == "/opt/my-chrome"
    monkeypatch.delenv("LLMBOOK_CHROMIUM")
    monkeypatch.setenv("PATH", "")
    assert book.find_chromium() is None
