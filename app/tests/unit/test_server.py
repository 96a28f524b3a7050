"""The server: options, serving real HTTP in-process, stopping on SIGTERM, the entry points."""

from __future__ import annotations

import http.client
import json
import os
import runpy
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from inventory import server
from inventory.server import ConfigError, ServeOptions


def free_port() -> int:
    """A port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_options_defaults() -> None:
    assert ServeOptions.from_env({}) == ServeOptions("127.0.0.1", 8080, 4)


def test_options_from_environment() -> None:
    options = ServeOptions.from_env({"HOST": "0.0.0.0", "PORT": " 9001 ", "THREADS": "8"})
    assert options == ServeOptions("0.0.0.0", 9001, 8)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "http"}, "PORT='http' is not an integer"),
        ({"PORT": "70000"}, "PORT=70000 is out of range 0..65535"),
        ({"THREADS": "0"}, "THREADS=0 is out of range 1..256"),
    ],
)
def test_bad_options(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServeOptions.from_env(environ)


def test_main_refuses_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert server.main({"PORT": "eighty"}) == 2
    assert "inventory: PORT='eighty' is not an integer" in capsys.readouterr().err


def test_main_reports_a_port_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert server.main({"PORT": str(port)}) == 1


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_main_serves_http_and_stops_cleanly_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Runs the real server in this (main) thread; a helper thread probes it, then sends SIGTERM."""
    monkeypatch.chdir(tmp_path)
    port = free_port()
    seen: dict[str, Any] = {}

    def probe_then_terminate() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                seen["health"] = _get(port, "/health")
                seen["version"] = _get(port, "/version")
                break
            except OSError:
                time.sleep(0.05)
        # Only signal once the server answered: its SIGTERM handler is installed by then.
        if "health" in seen:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    helper = threading.Thread(target=probe_then_terminate, daemon=True)
    helper.start()
    with caplog.at_level("INFO"):
        code = server.main(
            {"PORT": str(port), "PIPELINE_VERSION": "5.0.0", "PIPELINE_SLOT": "green"}
        )
    helper.join(timeout=10)

    assert code == 0
    status, headers, body = seen["health"]
    assert status == 200
    assert json.loads(body) == {"status": "ok", "version": "5.0.0", "slot": "green", "env": None}
    assert headers["X-Pipeline-Version"] == "5.0.0"
    assert seen["version"][2] == b"5.0.0"
    assert signal.getsignal(signal.SIGTERM) is before
    messages = [record.getMessage() for record in caplog.records]
    assert f"serving on http://127.0.0.1:{port}" in messages
    assert "received SIGTERM, shutting down" in messages
    assert messages[-1] == "stopped"
    with pytest.raises(OSError):
        _get(port, "/health")


def test_serve_calls_ready_and_stops_on_sigint() -> None:
    app = server.create_app(environ={"PIPELINE_VERSION": "r"}, env_file="/nonexistent/app.env")
    ready: list[list[tuple[str, int]]] = []

    def on_ready(srv: Any) -> None:
        ready.append(server.listening(srv))
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()

    server.serve(app, ServeOptions(port=0), ready=on_ready)
    ((host, port),) = ready[0]
    assert host == "127.0.0.1"
    assert port > 0


def test_listening_on_several_sockets() -> None:
    class Multi:  # pylint: disable=too-few-public-methods
        """What waitress makes when a host name resolves to several addresses."""

        effective_listen = [("127.0.0.1", 8080), ("::1", 8080)]

    assert server.listening(Multi()) == [("127.0.0.1", 8080), ("::1", 8080)]


def test_module_entry_point_exits_with_main_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "main", lambda: 3)
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("inventory", run_name="__main__")
    assert caught.value.code == 3


def test_wsgi_module_exposes_an_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_VERSION", "wsgi-1")
    module = runpy.run_module("inventory.wsgi")
    response = module["app"].test_client().get("/version")
    assert response.get_data(as_text=True) == "wsgi-1"
