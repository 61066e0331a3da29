"""Node logging: one event per line, ``key=value`` or JSON, to stderr or a size-rotated file.

Log lines are read by people during an incident and by log shippers (Loki, ELK) afterwards, so
each line carries the same fields in both formats. Secrets the node holds (private keys — the
node key and the TLS key, whose scalar and plaintext PEM lines ``node.p2p.tlskey`` registers —,
key passphrases, RPC tokens) are registered with ``register_secret`` when loaded; every line is
scrubbed of them before it is written, so a careless ``%r`` of a config object or an exception
text cannot put one in a log file.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("kv", "json")
LEVELS = ("debug", "info", "warning", "error")
REDACTED = "[redacted]"
_MIN_SECRET_LEN = 8  # shorter strings would redact ordinary words; passphrases that short are refused elsewhere


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"
    format: str = "kv"
    file: Path | None = None  # None: stderr
    max_bytes: int = 50 * 1024 * 1024
    backups: int = 5


class _Secrets:
    """The strings no log line may contain (with their hex spellings), matched in one regex."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self.pattern: re.Pattern[str] | None = None

    def add(self, secret: str | bytes) -> None:
        spellings = {secret.hex(), secret.hex().upper()} if isinstance(secret, bytes) else {secret}
        spellings = {s for s in spellings if len(s) >= _MIN_SECRET_LEN}
        if not spellings:
            return
        with self._lock:
            self._values |= spellings
            ordered = sorted(self._values, key=len, reverse=True)  # longest first: no partial match wins
            self.pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def scrub(self, text: str) -> str:
        pattern = self.pattern
        return text if pattern is None else pattern.sub(REDACTED, text)


SECRETS = _Secrets()


def register_secret(secret: str | bytes) -> None:
    """From now on, ``secret`` (a str, or bytes in hex either case) is replaced by ``[redacted]`` in every log line."""
    SECRETS.add(secret)


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created * 1000) % 1000:03d}Z"


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=… logger=… <message>``; messages are already ``event=name key=value …``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"ts={_utc(record.created)} level={record.levelname.lower()} logger={record.name} {record.getMessage()}"
        if record.exc_info:
            line += " exc=" + json.dumps(self.formatException(record.exc_info))
        return SECRETS.scrub(line)


_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\S+)')


def message_fields(message: str) -> dict[str, str]:
    """The ``key=value`` pairs of a message (values may be quoted, as ``%r`` quotes them)."""
    fields: dict[str, str] = {}
    for key, value in _FIELD.findall(message):
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the message's key=value fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        body: dict[str, str] = {"ts": _utc(record.created), "level": record.levelname.lower(), "logger": record.name}
        for key, value in message_fields(message).items():
            body.setdefault(key, value)
        body["msg"] = message
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return SECRETS.scrub(json.dumps(body, ensure_ascii=False))


def make_handler(settings: LogSettings) -> logging.Handler:
    handler: logging.Handler
    if settings.file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(settings.file, maxBytes=settings.max_bytes,
                                                       backupCount=settings.backups, encoding="utf-8")
    handler.setFormatter(JsonFormatter() if settings.format == "json" else KeyValueFormatter())
    return handler


def setup_logging(settings: LogSettings | None = None) -> None:
    """Route every logger of the process through one handler with the chosen format."""
    settings = settings or LogSettings()
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = [make_handler(settings)]
    root.setLevel(getattr(logging, settings.level.upper(), logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
