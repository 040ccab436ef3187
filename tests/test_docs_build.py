"""The docs build offline with ``-W`` in the Pallets theme, link into every vendored inventory,
and fail on a reference into those projects that resolves nowhere."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.slow


def build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E", "-b", "html",
         str(source), str(out)],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
    )  # fmt: skip


def test_the_docs_build_in_the_pallets_theme_and_link_into_each_inventory(tmp_path: Path) -> None:
    done = build(DOCS, tmp_path / "html")
    assert done.returncode == 0, done.stderr
    pages = "".join(p.read_text() for p in (tmp_path / "html").glob("*.html"))
    # The Pallets theme for Flask extensions (pallets-sphinx-themes' "flask").
    assert "_static/flask.css" in (tmp_path / "html" / "index.html").read_text()
    for name, url in runpy.run_path(str(DOCS / "conf.py"))["_TARGETS"].items():
        assert (DOCS / "_inventories" / f"{name}.inv").is_file(), name
        assert f'href="{url}' in pages, f"no page links into {name}'s docs"
    # The CLI reference is generated from the click commands: every command's options.
    from flask_tgwebhook.cli import tg_cli

    cli = (tmp_path / "html" / "cli.html").read_text()
    for name, command in tg_cli.commands.items():
        for option in command.params:
            anchor = f'id="cmdoption-flask-tg-{name}-{option.name.replace("_", "-")}"'
            assert anchor in cli, anchor


def test_a_broken_reference_into_flask_fails_the_build(tmp_path: Path) -> None:
    copy = tmp_path / "docs"
    shutil.copytree(DOCS, copy, ignore=shutil.ignore_patterns("_build"))
    # The pages include files from the checkout by relative path: keep them resolvable.
    for name in ("CHANGES.rst", "example_app.py", "examples"):
        target = tmp_path / name
        target.symlink_to(ROOT / name)
    with (copy / "quickstart.rst").open("a") as page:
        page.write("\nSee :class:`flask.NoSuchThing`.\n")
    done = build(copy, tmp_path / "html")
    assert done.returncode != 0
    assert "flask.NoSuchThing" in done.stderr
