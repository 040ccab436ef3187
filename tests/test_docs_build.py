"""The docs build offline with ``-W`` in the Pallets theme, link into every vendored inventory,
fail on a reference into those projects that resolves nowhere, and give no two elements of a
page the same HTML id."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
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


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs, built once for the tests that read the pages."""
    out = tmp_path_factory.mktemp("docs") / "html"
    done = build(DOCS, out)
    assert done.returncode == 0, done.stderr
    return out


def test_the_docs_build_in_the_pallets_theme_and_link_into_each_inventory(html: Path) -> None:
    pages = "".join(p.read_text() for p in html.glob("*.html"))
    # The Pallets theme for Flask extensions (pallets-sphinx-themes' "flask").
    assert "_static/flask.css" in (html / "index.html").read_text()
    targets = runpy.run_path(str(DOCS / "conf.py"))["_TARGETS"]
    assert {"cryptography", "gunicorn", "celery", "redis"} <= set(targets)
    for name, url in targets.items():
        assert (DOCS / "_inventories" / f"{name}.inv").is_file(), name
        assert f'href="{url}' in pages, f"no page links into {name}'s docs"
    # gunicorn's entries are its settings, each at its own anchor of the settings page.
    assert 'href="https://gunicorn.org/reference/settings/#workers"' in pages
    # The CLI reference is generated from the click commands: every command's options.
    from flask_tgwebhook.cli import tg_cli

    cli = (html / "cli.html").read_text()
    for name, command in tg_cli.commands.items():
        for option in command.params:
            anchor = f'id="cmdoption-flask-tg-{name}-{option.name.replace("_", "-")}"'
            assert anchor in cli, anchor


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.extend(value for key, value in attrs if key == "id" and value)


def test_no_page_has_two_elements_with_the_same_html_id(html: Path) -> None:
    # The CLI page holds a hand-written section and a generated one per command, each titled
    # with the command: a repeated id there makes a link land on either.
    pages = sorted(html.glob("*.html"))
    assert html / "cli.html" in pages
    for page in pages:
        parser = _Ids()
        parser.feed(page.read_text())
        repeated = sorted(i for i, n in Counter(parser.ids).items() if n > 1)
        assert not repeated, f"{page.name} repeats ids {repeated}"
    cli = _Ids()
    cli.feed((html / "cli.html").read_text())
    assert "flask-tg-me" in cli.ids


def test_the_gunicorn_inventory_names_only_settings_gunicorn_has() -> None:
    # It is made from gunicorn.config.KNOWN_SETTINGS (docs/_inventories/gunicorn_inv.py): a
    # setting gunicorn drops would leave a link to nothing.
    from gunicorn.config import KNOWN_SETTINGS
    from sphinx.util.inventory import InventoryFile

    with (DOCS / "_inventories" / "gunicorn.inv").open("rb") as stream:
        inventory = InventoryFile.load(stream, "https://gunicorn.org/", lambda a, b: a + b)
    labels = inventory["std:label"]
    assert {"workers", "bind", "when_ready"} <= set(labels)
    assert set(labels) <= {setting.name for setting in KNOWN_SETTINGS}


def test_a_broken_reference_into_a_vendored_project_fails_the_build(tmp_path: Path) -> None:
    copy = tmp_path / "docs"
    shutil.copytree(DOCS, copy, ignore=shutil.ignore_patterns("_build"))
    # The pages include files from the checkout by relative path: keep them resolvable.
    for name in ("CHANGES.rst", "example_app.py", "examples"):
        target = tmp_path / name
        target.symlink_to(ROOT / name)
    with (copy / "quickstart.rst").open("a") as page:
        page.write(
            "\nSee :class:`flask.NoSuchThing`, :class:`cryptography.x509.NoSuchThing`,"
            " :class:`redis.NoSuchThing`, :class:`celery.NoSuchThing`,"
            " :setting:`celery:no_such_setting` and :ref:`gunicorn:no_such_setting`.\n"
        )
    done = build(copy, tmp_path / "html")
    assert done.returncode != 0
    for name in ("flask.", "cryptography.x509.", "redis.", "celery."):
        assert f"{name}NoSuchThing" in done.stderr, name
    assert "celery:no_such_setting" in done.stderr
    assert "gunicorn:no_such_setting" in done.stderr
