"""Write ``gunicorn.inv``, the intersphinx inventory of gunicorn's settings reference.

gunicorn's documentation has been MkDocs since 24.0, so there is no Sphinx build to take an
``objects.inv`` from. Its settings page (https://gunicorn.org/reference/settings/) is generated
from ``gunicorn.config.KNOWN_SETTINGS``, one heading per setting whose anchor is the setting's
name; this script reads the same table from the installed gunicorn and writes one ``std:label``
per setting pointing there, so ``:ref:`gunicorn:timeout``` links to the ``timeout`` entry.

Run it with the gunicorn release named in README.rst installed::

    .venv/bin/python docs/_inventories/gunicorn_inv.py
"""

from __future__ import annotations

import io
import posixpath
import zlib
from pathlib import Path

import gunicorn
from gunicorn.config import KNOWN_SETTINGS
from sphinx.util.inventory import InventoryFile

TARGET = Path(__file__).with_name("gunicorn.inv")
SETTINGS_PAGE = "reference/settings/"


def entries() -> list[str]:
    """One inventory line per gunicorn setting, plus the settings page itself."""
    lines = [f"reference/settings std:doc -1 {SETTINGS_PAGE} Settings"]
    # The page's headings are the settings' names and MkDocs makes each its own anchor.
    for setting in sorted(KNOWN_SETTINGS, key=lambda s: s.name):
        name = setting.name
        # "-": the display text is the name itself, as Sphinx writes it.
        lines.append(f"{name} std:label -1 {SETTINGS_PAGE}#{name} -")
    return lines


def inventory() -> bytes:
    """The inventory in Sphinx's version 2 format: a plain header, then a zlib body."""
    header = (
        "# Sphinx inventory version 2\n"
        "# Project: gunicorn\n"
        f"# Version: {gunicorn.__version__}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(f"{line}\n" for line in entries())
    return header.encode() + zlib.compress(body.encode(), 9)


def main() -> None:
    data = inventory()
    # Read it back with Sphinx's own reader: a file Sphinx cannot load is never written.
    loaded = InventoryFile.load(io.BytesIO(data), "https://gunicorn.org/", posixpath.join)
    if len(loaded["std:label"]) != len(KNOWN_SETTINGS):
        raise SystemExit("gunicorn.inv lost settings on the way: check for duplicate names")
    TARGET.write_bytes(data)
    print(f"wrote {TARGET} ({len(KNOWN_SETTINGS)} settings, gunicorn {gunicorn.__version__})")


if __name__ == "__main__":
    main()
