"""Point the book at its public repository: ``python scripts/set_repository.py URL``.

One URL switches on everything that needs it:
- ``_config.yml``: the repository button and the Binder and Colab launch buttons;
- every chapter notebook: the Colab setup cell (the notebook's first cell) clones that repository.

Run it once after publishing the repository and commit the result. The GitHub Pages workflow
also runs it with the repository it builds, so the published site's buttons are always right.
The edits are textual (comments and layout of ``_config.yml`` are kept) and idempotent.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
URL_RE = re.compile(r"^https://[A-Za-z0-9.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
REPO_LINE = re.compile(r'^(\s*REPO = )"[^"]*"', re.M)

SETUP_MARK = "# Colab only"
SETUP_CELL = """\
# Colab only (does nothing elsewhere): fetch the book's repository, make its package importable
# and work in this notebook's folder, so that every cell below runs as on a local clone.
# REPO is filled in by scripts/set_repository.py. Colab has its own PyTorch; results may
# differ from the stored ones in the last digits (see the FAQ).
import os, sys
if "google.colab" in sys.modules:
    REPO = ""
    if not REPO:
        raise RuntimeError("this copy of the book does not know its repository: run it locally (see README.md)")
    if not os.path.isdir("/content/llmbook"):
        !git clone -q --depth 1 {REPO} /content/llmbook
        %pip install -q snownlp==0.12.3 mplfonts==0.0.11 jieba==0.42.1 sacrebleu==2.6.0{extra}
    sys.path.insert(0, "/content/llmbook/code")
    os.chdir("/content/llmbook/{folder}")
"""

# Packages that Colab has, but in other versions, and that only some notebooks import: their setup
# cell also installs them, with the exact pins of requirements.txt (tests/test_set_repository.py
# checks that every pin in a setup cell agrees with requirements.txt).
EXTRA_PINS = {
    "chapters/07_tools/02_huggingface.ipynb": ("transformers==5.24.0", "tokenizers==0.23.3", "regex==2026.5.9"),
}

CONFIG_KEYS = [  # (section, key, value or None for the URL)
    ("repository", "url", None),
    ("launch_buttons", "binderhub_url", "https://mybinder.org"),
    ("launch_buttons", "colab_url", "https://colab.research.google.com"),
    ("html", "use_repository_button", "true"),
]


def check_url(url: str) -> str:
    """The repository URL without a trailing slash or .git; ValueError if it is not https://host/owner/repo."""
    url = url.strip().removesuffix("/").removesuffix(".git")
    if not URL_RE.match(url):
        raise ValueError(f"expected a repository URL like https://github.com/<owner>/<repo>, got {url!r}")
    return url


def set_config(text: str, url: str) -> str:
    """_config.yml text with the repository URL and the launch buttons filled in."""
    for section, key, value in CONFIG_KEYS:
        value = f'"{url}"' if value is None else (value if value == "true" else f'"{value}"')
        pattern = re.compile(rf"(^{section}:\n(?:[ \t]+.*\n)*?[ \t]+{key}:)[ \t]*[^#\n]*", re.M)
        text, n = pattern.subn(rf"\g<1> {value}", text, count=1)
        if n != 1:
            raise ValueError(f"_config.yml has no key {section}.{key}")
    return text


def set_notebook(path: Path, url: str) -> bool:
    """Write the URL into the notebook's Colab setup cell; False if the notebook has none."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells[:1]:
        if cell.cell_type == "code" and cell.source.startswith(SETUP_MARK) and REPO_LINE.search(cell.source):
            cell.source = REPO_LINE.sub(rf'\g<1>"{url}"', cell.source)
            nbformat.write(nb, path)
            return True
    return False


def ensure_setup_cell(path: Path, root: Path = ROOT) -> bool:
    """Make the Colab setup cell the notebook's first cell; True if the notebook changed."""
    nb = nbformat.read(path, as_version=4)
    folder = path.parent.resolve().relative_to(root.resolve()).as_posix()
    extra = "".join(" " + pin for pin in EXTRA_PINS.get(f"{folder}/{path.name}", ()))
    source = SETUP_CELL.strip().replace("{folder}", folder).replace("{extra}", extra)
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "code" and first.source.startswith(SETUP_MARK):
        match = REPO_LINE.search(first.source)  # keep a URL that is already set
        if match:
            source = REPO_LINE.sub(lambda _: match.group(0), source)
        if first.source == source:
            return False
        first.source = source
    else:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = ["remove-cell"]  # in the notebook (Colab), not on the web page
        nb.cells.insert(0, cell)
    nbformat.write(nb, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="https://github.com/<owner>/<repo>")
    parser.add_argument("--setup-cells", action="store_true",
                        help="only make sure every chapter notebook starts with the Colab setup cell")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    notebooks = sorted(p for p in (args.root / "chapters").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if args.setup_cells:
        changed = [p for p in notebooks if ensure_setup_cell(p, args.root)]
        print(f"{len(changed)} of {len(notebooks)} notebooks changed; re-execute them with python -m llmbook.execute")
        return 0
    if not args.url:
        parser.error("give the repository URL (or --setup-cells)")
    try:
        url = check_url(args.url)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    config = args.root / "_config.yml"
    config.write_text(set_config(config.read_text(encoding="utf-8"), url), encoding="utf-8")
    missing = [p for p in notebooks if not set_notebook(p, url)]
    print(f"_config.yml and {len(notebooks) - len(missing)} notebooks now point at {url}")
    for p in missing:
        print(f"warning: {p.relative_to(args.root)} has no Colab setup cell", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
