"""scripts/set_repository.py: one URL fills in the launch buttons and the Colab setup cells."""
import importlib.util
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
sr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sr)
URL = "https://github.com/example/llm-book"


@pytest.fixture
def book(tmp_path):
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "chapters" / "01_x").mkdir(parents=True)
    nb = new_notebook(cells=[new_markdown_cell("# T"), new_code_cell("print(1)")])
    nbformat.write(nb, tmp_path / "chapters" / "01_x" / "a.ipynb")
    return tmp_path


def test_url_is_checked():
    assert sr.check_url(URL + ".git/") == URL
    with pytest.raises(ValueError, match="expected a repository URL"):
        sr.check_url("github.com/example")


def test_setup_cell_then_url(book, capsys):
    path = book / "chapters" / "01_x" / "a.ipynb"
    assert sr.main(["--setup-cells", "--root", str(book)]) == 0
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.source.startswith(sr.SETUP_MARK) and 'os.chdir("/content/llmbook/chapters/01_x")' in first.source
    assert 'REPO = ""' in first.source
    assert not sr.ensure_setup_cell(path, book)  # idempotent

    assert sr.main([URL, "--root", str(book)]) == 0
    assert "1 notebooks now point at" in capsys.readouterr().out
    cells = nbformat.read(path, as_version=4).cells
    assert f'REPO = "{URL}"' in cells[0].source and len(cells) == 3
    assert not sr.ensure_setup_cell(path, book)  # keeps the URL
    config = yaml.safe_load((book / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["url"] == URL
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["html"]["use_repository_button"] is True
    assert "# Repository, launch buttons" in (book / "_config.yml").read_text(encoding="utf-8")  # comments kept


def test_bad_url_exits_2(book, capsys):
    assert sr.main(["not a url", "--root", str(book)]) == 2
    assert "expected a repository URL" in capsys.readouterr().err


def test_every_chapter_notebook_has_the_setup_cell():
    for path in sorted((ROOT / "chapters").rglob("*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "code" and first.source.startswith(sr.SETUP_MARK), (
            f"{path.name}: run python scripts/set_repository.py --setup-cells, then re-execute it"
        )


def _pins(path):
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.lower()] = version.split("+")[0]
    return pins


def test_setup_cell_pins_agree_with_requirements():
    main = _pins(ROOT / "requirements.txt")
    for path in sorted((ROOT / "chapters").rglob("*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0].source
        pip = next(line for line in first.splitlines() if "%pip install" in line)
        for pin in pip.split()[3:]:  # after "%pip install -q"
            name, version = pin.split("==")
            assert main.get(name.lower()) == version, f"{path.name}: {pin} differs from requirements.txt"
    for rel, pins in sr.EXTRA_PINS.items():
        first = nbformat.read(ROOT / rel, as_version=4).cells[0].source
        assert all(pin in first for pin in pins), f"{rel}: run python scripts/set_repository.py --setup-cells"


def test_extra_pins_go_only_into_their_notebook(book, monkeypatch):
    other = book / "chapters" / "01_x" / "b.ipynb"
    shutil.copy(book / "chapters" / "01_x" / "a.ipynb", other)
    monkeypatch.setattr(sr, "EXTRA_PINS", {"chapters/01_x/a.ipynb": ("regex==2026.5.9",)})
    assert sr.main(["--setup-cells", "--root", str(book)]) == 0
    pip_a, pip_b = (next(line for line in nbformat.read(p, as_version=4).cells[0].source.splitlines()
                         if "%pip install" in line) for p in (book / "chapters" / "01_x" / "a.ipynb", other))
    assert pip_a.endswith("sacrebleu==2.6.0 regex==2026.5.9") and pip_b.endswith("sacrebleu==2.6.0")
    assert not sr.ensure_setup_cell(book / "chapters" / "01_x" / "a.ipynb", book)  # idempotent


def test_binder_pins_agree_with_requirements():
    main, binder = _pins(ROOT / "requirements.txt"), _pins(ROOT / "binder" / "requirements.txt")
    assert main == binder, "binder/requirements.txt must carry the same pins as requirements.txt"
    assert "torch==2.13.0+cpu" in (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8")


def test_pages_workflow_builds_strictly_and_publishes_the_html():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    steps = flow["jobs"]["build"]["steps"]
    commands = " ".join(s.get("run", "") for s in steps)
    assert "jupyter-book build . -W" in commands and "scripts/set_repository.py" in commands
    assert any(s.get("with", {}).get("path") == "_build/html" for s in steps)
