"""Serving the app with waitress: what ``python -m inventory`` runs.

Environment: ``PORT`` (default 8080), ``HOST`` (default 127.0.0.1; 0.0.0.0
in a container), ``THREADS`` (waitress worker threads, default 4), and the
app's own settings (see :mod:`inventory.config`). SIGTERM and SIGINT stop
the server cleanly: it stops accepting, lets running requests finish (up to
5 s, waitress's limit), closes its sockets and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from inventory import create_app

LOG = logging.getLogger("inventory.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_THREADS = 4


class ConfigError(ValueError):
    """A serving option in the environment is invalid."""


@dataclass(frozen=True)
class ServeOptions:
    """Where and how to listen."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    threads: int = DEFAULT_THREADS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServeOptions:
        """Options from ``HOST``, ``PORT`` and ``THREADS``; ConfigError when one is invalid."""
        return cls(
            host=environ.get("HOST", "").strip() or DEFAULT_HOST,
            port=_integer(environ, "PORT", DEFAULT_PORT, 0, 65535),
            threads=_integer(environ, "THREADS", DEFAULT_THREADS, 1, 256),
        )


def _integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range {low}..{high}")
    return value


def _stop(signum: int, _frame: FrameType | None) -> None:
    LOG.info("received %s, shutting down", signal.Signals(signum).name)
    # waitress's run() catches SystemExit, then shuts its worker threads down.
    raise SystemExit(0)


def serve(app: Flask, options: ServeOptions, ready: Callable[[Any], None] | None = None) -> None:
    """Serves ``app`` until SIGTERM or SIGINT; ``ready(server)`` is called once it listens.

    Must run in the main thread (signal handlers); the previous handlers are
    restored on return. OSError when the address cannot be bound.
    """
    sockets: dict[int, Any] = {}  # every socket of the server: listeners, trigger, connections
    try:
        server = create_server(
            app,
            map=sockets,
            host=options.host,
            port=options.port,
            threads=options.threads,
            ident="inventory",
        )
    except OSError:
        wasyncore.close_all(sockets)  # what waitress opened before the bind failed
        raise
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for host, port in listening(server):
            LOG.info("serving on http://%s:%s", host, port)
        if ready is not None:
            ready(server)
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Connections still open included, which server.close() would leave behind.
        wasyncore.close_all(sockets)
    LOG.info("stopped")


def listening(server: Any) -> list[tuple[str, int]]:
    """The ``(host, port)`` pairs a waitress server listens on (several when a name resolved so)."""
    if hasattr(server, "effective_listen"):
        return [(str(host), int(port)) for host, port in server.effective_listen]
    return [(str(server.effective_host), int(server.effective_port))]


def main(environ: Mapping[str, str] | None = None) -> int:
    """Runs the server until SIGTERM or SIGINT.

    The exit code: 0 after a clean stop, 2 for bad options, 1 when it cannot listen.
    """
    environ = os.environ if environ is None else environ
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        options = ServeOptions.from_env(environ)
    except ConfigError as exc:
        print(f"inventory: {exc}", file=sys.stderr)
        return 2
    app = create_app(environ=environ)
    settings = app.config["SETTINGS"]
    LOG.info(
        "inventory %s (slot %s, env %s) starting",
        settings.version,
        settings.slot or "-",
        settings.env or "-",
    )
    try:
        serve(app, options)
    except OSError as exc:
        LOG.error("cannot listen on %s:%s: %s", options.host, options.port, exc)
        return 1
    return 0
