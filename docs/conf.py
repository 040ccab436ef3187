"""Sphinx configuration for flask_tgwebhook's docs (built with warnings as errors in CI)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import flask_tgwebhook

project = "flask_tgwebhook"
author = "flask_tgwebhook developers"
copyright = "2026, flask_tgwebhook developers"
release = flask_tgwebhook.__version__

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build"]
html_theme = "alabaster"
