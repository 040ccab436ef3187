"""Signed-link tokens stay out of gunicorn's own logs: its debug request line and its
access log, under a real gunicorn."""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from flask_tgwebhook.external import ExternalHooks

from .conftest import TOKEN
from .servers import HOST, Gunicorn

APPS = Path(__file__).parent / "apps"


def test_gunicorn_logs_never_show_a_link_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(APPS))
    served = importlib.import_module("external_app")  # the app gunicorn serves, for a link
    app, tg = served.app, served.tg

    assert isinstance(tg.external_hooks, ExternalHooks)
    with app.app_context():
        path = urlsplit(tg.external_url("paid", user_id=42)).path
    token = path.rsplit("/", 1)[1]
    server = Gunicorn(
        "external_app:app",
        chdir=APPS,
        log_dir=tmp_path,
        workers=2,
        args=["--log-level", "debug", "--access-logfile", "-"],
    )
    try:
        for _ in range(4):  # both workers, most likely
            answer = requests.get(f"http://{HOST}:{server.port}{path}", timeout=10)
            assert answer.status_code == 200
            assert answer.text == "paid by 42"
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "/telegram/external/<redacted>" in log  # gunicorn did log the requests
    assert token not in log
    assert TOKEN.split(":")[1] not in log
