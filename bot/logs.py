"""Logging set up once: text or JSON lines, with every configured secret redacted."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def _repr_escaped(text: str) -> str:
    return repr(text + "'\"")[1:-4]  # single-quote mode: \' and \\ escaped


_ESCAPES: tuple[Callable[[str], str], ...] = (
    _repr_escaped,
    lambda text: _repr_escaped(text).replace("\\'", "'"),  # double-quote mode
    lambda text: json.dumps(text, ensure_ascii=False)[1:-1],
    lambda text: json.dumps(text)[1:-1],
    lambda text: quote(text, safe=""),
    quote_plus,
)


def secret_forms(secret: str) -> set[str]:
    """The ways a secret shows up in a log line: as is, repr- or JSON-escaped (once or twice,
    as a repr inside a JSON line), or URL-encoded."""
    forms = {secret}
    for _ in range(2):
        forms |= {escape(form) for form in forms for escape in _ESCAPES}
    return forms


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner``, then replaces every configured secret in the whole line,
    tracebacks included, in every form it may have been written in."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = tuple(s for s in secrets if len(s) >= 4)
        forms = {form for s in self.secrets for form in secret_forms(s) if len(form) >= 4}
        self._forms = tuple(sorted(forms, key=len, reverse=True))  # longest first

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        for form in self._forms:
            text = text.replace(form, REDACTED)
        return text


def setup_logging(*, level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    inner = (
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(inner, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("discord", "asyncprawcore", "aiosqlite", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
