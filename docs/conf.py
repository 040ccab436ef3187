"""Sphinx configuration for flask_tgwebhook's docs (built with warnings as errors in CI)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.abspath(".."))

import flask_tgwebhook

project = "flask_tgwebhook"
author = "flask_tgwebhook developers"
copyright = "2026, flask_tgwebhook developers"
release = flask_tgwebhook.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "pallets_sphinx_themes",
    "sphinx_click",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build", "_inventories"]
html_theme = "flask"
html_title = f"flask_tgwebhook {release}"
html_context = {"project_links": []}

# Intersphinx without the network: CI reaches only package registries, so the inventories are
# vendored in docs/_inventories/ (docs/_inventories/README.rst says how each was made).
INVENTORIES = Path(__file__).parent / "_inventories"
_TARGETS = {
    "flask": "https://flask.palletsprojects.com/en/stable/",
    "werkzeug": "https://werkzeug.palletsprojects.com/en/stable/",
    "itsdangerous": "https://itsdangerous.palletsprojects.com/en/stable/",
    "click": "https://click.palletsprojects.com/en/stable/",
    "requests": "https://requests.readthedocs.io/en/latest/",
    "urllib3": "https://urllib3.readthedocs.io/en/stable/",
    "cryptography": "https://cryptography.io/en/latest/",
    "celery": "https://docs.celeryq.dev/en/stable/",
    "redis": "https://redis.readthedocs.io/en/stable/",
    # gunicorn's docs are MkDocs: its inventory holds the settings page's entries only.
    "gunicorn": "https://gunicorn.org/",
}
intersphinx_mapping = {
    name: (url, str(INVENTORIES / f"{name}.inv")) for name, url in _TARGETS.items()
}
intersphinx_timeout = 1

# A reference into a vendored project's namespace that resolves nowhere fails the -W build;
# other unresolved names (the standard library, whose inventory is not vendored) stay text.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", rf"(?!(?:{'|'.join(_TARGETS)})\.).*")]

# Type hints name where a class is defined (flask.blueprints.Blueprint); the projects
# document it where users import it from (flask.Blueprint).
_PUBLIC = {
    "flask.app.Flask": "flask.Flask",
    "flask.blueprints.Blueprint": "flask.Blueprint",
    "flask.wrappers.Request": "flask.Request",
    "flask.wrappers.Response": "flask.Response",
    "flask.cli.AppGroup": "flask.cli.AppGroup",
    "werkzeug.datastructures.headers.Headers": "werkzeug.datastructures.Headers",
    # cryptography's x509 classes are defined in its Rust bindings.
    "cryptography.hazmat.bindings._rust.x509.Certificate": "cryptography.x509.Certificate",
}


def _public_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    public = _PUBLIC.get(node.get("reftarget", ""))
    if public is None:
        return None
    from sphinx.ext.intersphinx import missing_reference

    node["reftarget"] = public
    return missing_reference(app, env, node, contnode)


# Each page ends with what to read next, in the user guide's order (docs/index.rst): kept
# here, beside that order, rather than at the foot of every page.
READ_NEXT = {
    "quickstart": ("handlers", "to route each kind of update to its own function"),
    "handlers": ("webhook", "for what happens to an update between Telegram and your handler"),
    "webhook": ("deploying", "to put the bot on a public https URL"),
    "deploying": ("scaling", "when one worker is not enough"),
    "scaling": ("external", "to let other services reach your bot through signed links"),
    "external": ("webapps", "to check the data a Telegram Web App sends"),
    "webapps": ("testing", "to test all of it offline against the emulator"),
    "testing": ("troubleshooting", "for what to do when a deployed bot stays silent"),
    "troubleshooting": ("security", "for what each check on the webhook guarantees"),
    "security": ("performance", "for what the webhook costs per update, measured"),
    "performance": ("architecture", "for how the parts fit together"),
    "architecture": ("client", "for the Bot API client and its errors"),
    "client": ("commands", "to declare the command menu beside the handlers"),
    "commands": ("flood-control", "to pace what the bot sends"),
    "flood-control": ("certificates", "to serve the webhook with a self-signed certificate"),
    "certificates": ("bots", "to run several bots in one app"),
    "bots": ("configuration", "for every configuration key"),
    "configuration": ("cli", "for every ``flask tg`` command"),
    "cli": ("api", "for the Python API"),
    "api": ("quickstart", "to start again from the first bot"),
}


def _read_next(app: Any, docname: str, source: list[str]) -> None:
    entry = READ_NEXT.get(docname)
    if entry is not None:
        page, why = entry
        source[0] += f"\n\n.. rubric:: What to read next\n\n:doc:`{page}`, {why}.\n"


def _unique_ids(app: Any, doctree: Any) -> None:
    """Give each element of a page its own HTML id.

    sphinx-click sets each command's section id to the command path itself, without asking
    docutils for a free one, so on docs/cli.rst the generated ``flask tg me`` section had
    the id of the hand-written section of the same title above it (two ``id="flask-tg-me"``
    on one page, and a link to it could land on either). A later duplicate gets a numbered
    id, as docutils gives a second section of the same title.
    """
    from docutils import nodes

    seen: set[str] = set()
    for node in doctree.findall(nodes.Element):
        ids = node["ids"]
        for index, node_id in enumerate(ids):
            if node_id in seen:
                number = 2
                while f"{node_id}-{number}" in seen or f"{node_id}-{number}" in doctree.ids:
                    number += 1
                ids[index] = f"{node_id}-{number}"
                doctree.ids[ids[index]] = node
            seen.add(ids[index])


def setup(app: Any) -> None:
    app.connect("doctree-read", _unique_ids)
    # Celery's inventory names its configuration keys as std:setting entries (sphinx_celery's
    # object type): the same type here lets :setting:`celery:task_acks_late` resolve to them.
    app.add_crossref_type("setting", "setting")
    app.connect("missing-reference", _public_name, priority=400)
    app.connect("source-read", _read_next)
