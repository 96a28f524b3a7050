"""Where the integration tests send their requests.

With ``APP_BASE_URL`` set (``APP_BASE_URL=http://127.0.0.1:PORT pytest
tests/integration``), they test that running service: this is how the
pipeline validates a slot before it switches traffic to it. Without it, they
start the app themselves (``python -m inventory``, waitress on a free loopback
port, in a subprocess) and test it over real HTTP.

``EXPECT_VERSION``, when set, is the version the service must report (and the
version a locally started app is given).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

APP_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


@dataclass
class LocalServer:
    """An app process these tests started."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        """What the process wrote so far (stdout and stderr)."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGTERM, then the exit code (SIGKILL and a failure if it did not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"the app did not stop within {STOP_TIMEOUT} s of SIGTERM:\n{self.output()}"
            ) from None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_local_server(log_dir: Path, **extra_env: str) -> LocalServer:
    """Starts ``python -m inventory`` from the app directory and waits until it answers."""
    port = _free_port()
    env = dict(os.environ)
    env.pop("APP_BASE_URL", None)
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        PIPELINE_VERSION=os.environ.get("EXPECT_VERSION") or "integration",
        PIPELINE_SLOT="local",
        PIPELINE_ENV="test",
        PYTHONPATH=os.pathsep.join(filter(None, [str(APP_DIR / "src"), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env)
    log = log_dir / f"app-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped by LocalServer.stop
            [sys.executable, "-m", "inventory"],
            cwd=APP_DIR,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    local = LocalServer(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"the app exited with {process.returncode} at start:\n{local.output()}")
        try:
            requests.get(f"{local.base_url}/health", timeout=2)
            return local
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                local.stop()
                pytest.fail(f"the app did not listen within {START_TIMEOUT} s:\n{local.output()}")
            time.sleep(0.1)


@pytest.fixture(name="log_dir", scope="session")
def fixture_log_dir() -> Iterator[Path]:
    """A directory for the logs of the apps started here."""
    with tempfile.TemporaryDirectory(prefix="inventory-it-") as directory:
        yield Path(directory)


@pytest.fixture(name="base_url", scope="session")
def fixture_base_url(log_dir: Path) -> Iterator[str]:
    """``APP_BASE_URL``, or the address of an app started for this session."""
    given = os.environ.get("APP_BASE_URL", "").strip()
    if given:
        yield given.rstrip("/")
        return
    local = start_local_server(log_dir)
    yield local.base_url
    code = local.stop()
    assert code == 0, f"the app exited with {code} after SIGTERM:\n{local.output()}"


@pytest.fixture(name="expected_version", scope="session")
def fixture_expected_version() -> str | None:
    """``EXPECT_VERSION``, or None when any version will do."""
    return os.environ.get("EXPECT_VERSION", "").strip() or None


class Api:
    """Requests to one service, each with a timeout."""

    timeout = 10.0

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET ``path`` of the service."""
        return requests.get(f"{self.base_url}{path}", timeout=self.timeout, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST to ``path`` of the service."""
        return requests.post(f"{self.base_url}{path}", timeout=self.timeout, **kwargs)


@pytest.fixture(name="api", scope="session")
def fixture_api(base_url: str) -> Api:
    """The service under test."""
    return Api(base_url)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that start their own server do not apply to a given APP_BASE_URL."""
    del config
    if not os.environ.get("APP_BASE_URL", "").strip():
        return
    skip = pytest.mark.skip(reason="APP_BASE_URL is set: testing that service, not starting one")
    for item in items:
        if "local_server" in item.keywords:
            item.add_marker(skip)
