"""The release a newcomer installs: ``python -m build`` makes an sdist and a wheel that pass
``twine check`` and ``check-wheel-contents``; the wheel holds the package and ``py.typed``, nothing
of the tests; the version lives in one place; each extra installs into a fresh venv and imports.

One build serves every test; the venvs (no system site-packages) are filled side by side by pip,
which may use the machine's cache and the configured package index.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import flask_tgwebhook

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BUILD_TIMEOUT = 300.0
INSTALL_TIMEOUT = 600.0

pytestmark = pytest.mark.slow

# What each extra must make importable, run with ``python -I`` in its own venv. "" is the core
# alone: it proves the extras are optional (none of their packages is there).
IMPORTS: dict[str, str] = {
    "": (
        "import importlib.util, flask_tgwebhook, flask_tgwebhook.testing\n"
        "assert flask_tgwebhook.Bot.__module__ == 'flask_tgwebhook.client'\n"
        "for name in ('redis', 'celery', 'limits', 'pytest', 'sphinx'):\n"
        "    assert importlib.util.find_spec(name) is None, name\n"
    ),
    "redis": (
        "import redis\n"
        "from flask_tgwebhook.stores.redis import RedisStore\n"
        "assert redis.Redis.from_url('redis://127.0.0.1:1/0') is not None\n"
    ),
    "celery": (
        "import celery, redis, kombu\n"
        "import flask_tgwebhook.celery_tasks\n"
        "assert celery.Celery('probe', broker='redis://127.0.0.1:1/0').main == 'probe'\n"
    ),
    "limits": (
        "from limits import parse_many\n"
        "from limits.storage import storage_from_string\n"
        "from limits.strategies import FixedWindowRateLimiter\n"
        "from flask_tgwebhook.external.ratelimit import RateLimiter\n"
        "FixedWindowRateLimiter(storage_from_string('memory://'))\n"
        "assert len(parse_many('1/second;10/minute')) == 2\n"
    ),
    "test": (
        "import pytest, hypothesis, redis, limits, celery, mypy, build, twine\n"
        "import check_wheel_contents\n"
        "import flask_tgwebhook.testing.plugin\n"
    ),
    "docs": "import sphinx, pallets_sphinx_themes, sphinx_click\n",
}


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


@dataclass
class Install:
    venv: Path
    log: Path
    process: subprocess.Popen[bytes]


def run(*args: str | Path, timeout: float = 120.0) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    run(PYTHON, "-m", "build", "--outdir", out, ROOT, timeout=BUILD_TIMEOUT)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dist(wheel, sdist)


@pytest.fixture(scope="module")
def installs(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Install]]:
    # Every venv starts at once: the installs mostly wait on the index and the cache.
    base = tmp_path_factory.mktemp("venvs")
    started: dict[str, Install] = {}
    try:
        for extra in IMPORTS:
            venv = base / (extra or "core")
            run(PYTHON, "-m", "venv", "--without-pip", venv)
            log = base / f"{extra or 'core'}.log"
            target = f"{dist.wheel}[{extra}]" if extra else str(dist.wheel)
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        PYTHON,
                        "-m",
                        "pip",
                        "--python",
                        str(venv / "bin" / "python"),
                        "install",
                        "--disable-pip-version-check",
                        "--quiet",
                        "--no-compile",
                        target,
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started[extra] = Install(venv, log, process)
        yield started
    finally:
        for install in started.values():
            if install.process.poll() is None:
                install.process.kill()
                install.process.wait(timeout=30)


def test_the_version_lives_in_one_place(dist: Dist) -> None:
    version = flask_tgwebhook.__version__
    assert dist.wheel.name == f"flask_tgwebhook-{version}-py3-none-any.whl"
    assert dist.sdist.name == f"flask_tgwebhook-{version}.tar.gz"
    # setup.py and the docs read the package's __version__; neither writes one of its own.
    for path in ("setup.py", "docs/conf.py"):
        text = (ROOT / path).read_text()
        assert not re.search(r"""(version|release)\s*=\s*["']\d""", text), path


def test_the_wheel_holds_the_package_and_py_typed_and_nothing_of_the_tests(dist: Dist) -> None:
    names = zipfile.ZipFile(dist.wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    version = flask_tgwebhook.__version__
    assert tops == {"flask_tgwebhook", f"flask_tgwebhook-{version}.dist-info"}
    assert "flask_tgwebhook/py.typed" in names
    assert "flask_tgwebhook/testing/fake_telegram.py" in names  # the emulator is part of the API
    assert f"flask_tgwebhook-{version}.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if n.endswith((".pyc", ".pem")) or "/tests/" in n]
    metadata = zipfile.ZipFile(dist.wheel).read(f"flask_tgwebhook-{version}.dist-info/METADATA")
    for extra in ("redis", "celery", "limits", "test", "docs"):
        assert f"Provides-Extra: {extra}".encode() in metadata


def test_the_sdist_holds_the_tests_and_the_docs(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = {name.split("/", 1)[-1] for name in sdist.getnames()}
    for path in ("tests/conftest.py", "docs/conf.py", "docs/index.rst", "CHANGES.rst", "LICENSE"):
        assert path in names
    assert not [n for n in names if n.startswith(("docs/_build", ".venv")) or n.endswith(".pyc")]


def test_twine_check_and_check_wheel_contents_pass(dist: Dist) -> None:
    assert "PASSED" in run(PYTHON, "-m", "twine", "check", "--strict", dist.wheel, dist.sdist)
    assert run(PYTHON, "-m", "check_wheel_contents", dist.wheel).strip().endswith("OK")


@pytest.mark.parametrize("extra", list(IMPORTS), ids=lambda e: e or "core")
def test_each_extra_installs_into_a_fresh_venv_and_imports(
    extra: str, installs: dict[str, Install], tmp_path: Path
) -> None:
    install = installs[extra]
    code = install.process.wait(timeout=INSTALL_TIMEOUT)
    assert code == 0, install.log.read_text(errors="replace")
    python = install.venv / "bin" / "python"
    # -I: no current directory on sys.path, so the import is the wheel's, never this checkout's.
    probe = IMPORTS[extra] + "import flask_tgwebhook; print(flask_tgwebhook.__file__)"
    where = run(python, "-I", "-c", probe)
    assert where.strip().startswith(str(install.venv))
    run(PYTHON, "-m", "pip", "--python", python, "check", "--disable-pip-version-check")
