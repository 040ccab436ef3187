"""Packaging for flask_tgwebhook."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_version() -> str:
    """The version lives in one place, ``flask_tgwebhook.__version__``; read it as text so that
    building never imports the package (its dependencies need not be installed yet)."""
    init = (HERE / "flask_tgwebhook" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', init, re.M)
    if match is None:
        raise RuntimeError('flask_tgwebhook/__init__.py must set __version__ = "X.Y.Z"')
    return match.group(1)


# What CI runs on the built sdist and wheel (.ci/run); the packaging tests use them too.
#: What building the docs needs (the tests build them too).
DOCS = ["sphinx>=7", "pallets-sphinx-themes>=2.1", "sphinx-click>=5"]
RELEASE = ["build>=1", "twine>=5", "check-wheel-contents>=0.6"]

setup(
    name="flask_tgwebhook",
    version=read_version(),
    description="Make a Flask app a Telegram bot through Bot API webhooks.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["flask_tgwebhook", "flask_tgwebhook.*"]),
    package_data={"flask_tgwebhook": ["py.typed"]},
    install_requires=[
        "flask>=3.0",
        "requests>=2.31",
        "cryptography>=42",
        "gunicorn>=22",
    ],
    extras_require={
        "redis": ["redis>=5"],
        "limits": ["limits>=3.10"],
        "celery": ["celery[redis]>=5.3"],
        "test": [
            "celery[redis]>=5.3",
            "pytest>=8",
            "hypothesis>=6.100",
            "redis>=5",
            "limits>=3.10",
            "ruff>=0.5",
            "mypy>=1.10",
            "types-requests",
            *RELEASE,
            *DOCS,  # tests/test_docs_build.py builds the docs
        ],
        "docs": DOCS,
        "release": RELEASE,
    },
    entry_points={"pytest11": ["flask_tgwebhook = flask_tgwebhook.testing.plugin"]},
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Framework :: Flask",
        "Intended Audience :: Developers",
        "Operating System :: POSIX",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Communications :: Chat",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Application",
        "Typing :: Typed",
    ],
)
