"""Settings, read from the environment and an optional ``app.env`` file.

The pipeline tells a running release who it is through the environment
(``PIPELINE_VERSION``, ``PIPELINE_SLOT``, ``PIPELINE_ENV``). A release
artifact can also carry an ``app.env`` file (``KEY=VALUE`` lines) in the
directory it runs from; a variable set in the environment wins over the file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)

#: The file read from the working directory unless ``APP_ENV_FILE`` names another.
ENV_FILE_NAME = "app.env"
DEFAULT_VERSION = "dev"
_TRUE = frozenset({"1", "true", "yes", "on"})
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def parse_env_file(text: str, source: str = ENV_FILE_NAME) -> dict[str, str]:
    """Parses ``KEY=VALUE`` lines.

    Blank lines and ``#`` comments are skipped, an ``export`` prefix is
    allowed, a value may be quoted with ``'`` or ``"`` (taken as is, no
    escapes), and an unquoted value ends at `` #``. A malformed line is
    logged and skipped: a bad line must not keep a release from starting.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            LOG.warning("%s:%d: not a KEY=VALUE line, ignored", source, number)
            continue
        values[key] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    comment = value.find(" #")
    return value[:comment].rstrip() if comment >= 0 else value


def read_env_file(path: Path) -> dict[str, str]:
    """The values of the file at ``path``; none when it does not exist or cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        LOG.warning("%s: cannot be read, ignored: %s", path, exc)
        return {}
    return parse_env_file(text, str(path))


def is_true(value: str | None) -> bool:
    """Whether a switch is on: ``1``, ``true``, ``yes`` or ``on``, in any case."""
    return value is not None and value.strip().lower() in _TRUE


@dataclass(frozen=True)
class Settings:
    """What the app needs to know about the release it is and how to behave."""

    version: str = DEFAULT_VERSION
    slot: str | None = None
    env: str | None = None
    #: ``APP_FAIL_HEALTH``: ``/health`` answers 503 (a release that never gets healthy).
    fail_health: bool = False
    #: ``APP_BREAK_ITEMS``: the items API answers 500 (a release that fails its tests).
    break_items: bool = False
    #: ``APP_BREAK_WRITES``: ``POST /api/items`` answers 500, reads still work (a release
    #: that passes a read-only smoke check but fails its tests).
    break_writes: bool = False

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | os.PathLike[str] | None = None,
    ) -> Settings:
        """Settings from ``environ`` (default: the process environment) over ``env_file``.

        ``env_file`` defaults to ``APP_ENV_FILE``, else ``app.env`` in the
        working directory.
        """
        environ = os.environ if environ is None else environ
        if env_file is None:
            env_file = environ.get("APP_ENV_FILE") or ENV_FILE_NAME
        merged = {**read_env_file(Path(env_file)), **environ}
        return cls(
            version=merged.get("PIPELINE_VERSION", "").strip() or DEFAULT_VERSION,
            slot=merged.get("PIPELINE_SLOT", "").strip() or None,
            env=merged.get("PIPELINE_ENV", "").strip() or None,
            fail_health=is_true(merged.get("APP_FAIL_HEALTH")),
            break_items=is_true(merged.get("APP_BREAK_ITEMS")),
            break_writes=is_true(merged.get("APP_BREAK_WRITES")),
        )
