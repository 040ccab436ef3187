"""Every ``TELEGRAM_*`` key the code reads has exactly one ``.. data::`` entry, with its type,
default and an example, on the configuration page: a key added without docs fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flask_tgwebhook import config, flood

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "flask_tgwebhook"
PAGES = [ROOT / "docs" / "configuration.rst", ROOT / "docs" / "configuration-keys.inc"]
KEY = re.compile(r"TELEGRAM_[A-Z0-9_]+")


def module_attributes(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level (``TELEGRAM_NETWORKS`` is a constant, not a key)."""
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def keys_the_code_reads() -> set[str]:
    keys = set(config.DEFAULTS) | set(flood.DEFAULTS)
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        constants = module_attributes(tree)
        keys |= {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and KEY.fullmatch(node.value)
            and node.value not in constants
        }
    return keys


def entries() -> dict[str, str]:
    """Each ``.. data:: TELEGRAM_X`` entry's text, up to the next entry."""
    text = "\n".join(page.read_text() for page in PAGES)
    parts = re.split(r"^\.\. data:: ", text, flags=re.M)[1:]
    found: dict[str, str] = {}
    for part in parts:
        name, _, body = part.partition("\n")
        assert name not in found, f"{name} is documented twice"
        found[name.strip()] = body
    return found


def test_the_scan_finds_keys_outside_the_defaults() -> None:
    # The deploy keys are read where the webhook is set, not through DEFAULTS.
    keys = keys_the_code_reads()
    assert {"TELEGRAM_BOT_ENABLED", "TELEGRAM_WEBHOOK_CERTIFICATE", "TELEGRAM_BOTS"} <= keys
    assert "TELEGRAM_NETWORKS" not in keys


def test_every_key_the_code_reads_is_documented_once() -> None:
    missing = keys_the_code_reads() - set(entries())
    assert not missing, f"add a '.. data::' entry to docs/configuration-keys.inc for {missing}"


def test_every_documented_key_is_one_the_code_reads() -> None:
    stale = set(entries()) - keys_the_code_reads()
    assert not stale, f"the code no longer reads {stale}: remove their entries"


def test_every_entry_has_a_type_a_default_and_an_example() -> None:
    for name, body in entries().items():
        assert re.search(r"^   :type: \S", body, re.M), f"{name} has no :type:"
        assert "   Default: ``" in body, f"{name} has no default"
        assert f"      {name} = " in body, f"{name} has no example"


def test_the_documented_defaults_are_the_codes() -> None:
    for name, default in {**config.DEFAULTS, **flood.DEFAULTS}.items():
        body = entries()[name]
        shown = re.search(r"Default: ``(.*?)``", body)
        assert shown, name
        assert ast.literal_eval(shown.group(1)) == default, name
