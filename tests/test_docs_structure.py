"""The user guide comes in the order a newcomer needs it, and every page says what to read
next (docs/conf.py appends it from ``READ_NEXT``)."""

from __future__ import annotations

import itertools
import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE = [
    "quickstart",
    "handlers",
    "webhook",
    "deploying",
    "scaling",
    "external",  # signed links
    "webapps",
    "testing",
    "troubleshooting",
    "security",
    "performance",
    "architecture",
]


def toctrees() -> dict[str, list[str]]:
    """Each toctree of docs/index.rst by caption, its entries in order."""
    text = (DOCS / "index.rst").read_text()
    found: dict[str, list[str]] = {}
    for block in text.split(".. toctree::")[1:]:
        caption = re.search(r":caption: (.+)", block)
        assert caption, "every toctree of the index has a caption"
        lines = block.split("\n\n", 2)[1] if "\n\n" in block else ""
        found[caption.group(1)] = [e.strip() for e in lines.splitlines() if e.strip()]
    return found


def test_the_user_guide_is_in_a_newcomers_order() -> None:
    assert toctrees()["User guide"] == GUIDE


def test_every_page_says_what_to_read_next() -> None:
    read_next = runpy.run_path(str(DOCS / "conf.py"))["READ_NEXT"]
    pages = [page for entries in toctrees().values() for page in entries]
    for page in pages:
        if page == "changes":
            continue
        assert page in read_next, f"add {page!r} to READ_NEXT in docs/conf.py"
        target, why = read_next[page]
        assert (DOCS / f"{target}.rst").exists(), (page, target)
        assert why.strip()
    # Along the guide, each page leads to the one after it.
    for page, after in itertools.pairwise(GUIDE):
        assert read_next[page][0] == after, page


def test_every_test_the_docs_name_exists() -> None:
    """The pages and the README cite tests as evidence: each name must be a test (or a test
    file) that exists, so a renamed test cannot leave a claim pointing at nothing."""
    sources = [ROOT / "README.md", *DOCS.glob("*.rst")]
    code = [*ROOT.glob("tests/**/*.py"), *DOCS.glob("examples/**/*.py")]
    defined = {p.stem for p in code} | {
        name for p in code for name in re.findall(r"def (test_\w+)", p.read_text())
    }
    cited = {
        (source.name, name)
        for source in sources
        for name in re.findall(r"\b(test_\w+)\b(?!\s*=)", source.read_text())
    }
    assert cited, "the docs cite tests"
    assert sorted(c for c in cited if c[1] not in defined) == []
