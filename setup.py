"""Packaging for flask_tgwebhook."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="flask_tgwebhook",
    version="0.1.0.dev0",
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
        ],
        "docs": ["sphinx>=7"],
    },
    entry_points={"pytest11": ["flask_tgwebhook = flask_tgwebhook.testing.plugin"]},
    classifiers=[
        "Framework :: Flask",
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
    ],
)
