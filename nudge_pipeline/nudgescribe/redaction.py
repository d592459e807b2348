"""Scrub secrets from log records and error texts.

Filters attached to a logger apply only to records logged on that exact logger, so the
whole package logs through LOGGER_NAME, and the filter is also put on the handlers'
usual entry point for urllib3 (which logs request lines, including pre-signed queries).
"""

from __future__ import annotations

import logging
import re
import threading

LOGGER_NAME = "nudge_pipeline.nudgescribe"
MASK = "[REDACTED]"
_MIN_SECRET_LENGTH = 4

_PATTERNS = (
    re.compile(r"(?i)bearer\s+[^\s\"',}]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    re.compile(r"enc:v1:[^\s\"',}]*"),
)
# Query strings of URLs (also urllib3's "GET /path?query" lines) carry pre-signed signatures.
_URL_QUERY = re.compile(r"((?:https?://|/)[^\s?\"']*\?)[^\s\"']+")

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a configured secret (token, api_secret, api_code, key) for scrubbing."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return _URL_QUERY.sub(lambda m: m.group(1) + MASK, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install() -> logging.Logger:
    """Attach the filter (once) and return the package logger."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    for name in (LOGGER_NAME, "urllib3.connectionpool"):
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
    return logger


log = install()
