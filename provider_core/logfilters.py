"""Log records through the one redaction step of :mod:`provider_core.secrets`.

:class:`RedactingFilter` passes a record's message and traceback through
:func:`~provider_core.secrets.redact_secrets`; :class:`QueryRedactingFilter` cuts the query
string from request targets (urllib3's debug log, the gateway's access log), where some
clients put ``?api_key=...``. :func:`install_log_filters` adds them to urllib3's loggers and
provider-core's own; the gateway also puts them on its server's handlers
(:mod:`provider_core.gateway.logs`). Kept apart from :mod:`provider_core.secrets` so that
redacting an error message does not import :mod:`logging`.
"""

from __future__ import annotations

import logging

from .secrets import REDACTED, redact_secrets, secrets_known

__all__ = ["LOGGERS", "QueryRedactingFilter", "RedactingFilter", "install_log_filters"]


class RedactingFilter(logging.Filter):
    """A :class:`logging.Filter` that passes every record through :func:`redact_secrets`:
    its message (arguments merged in) and its traceback. Attach it to a handler to cover
    every record the handler writes, or to a logger for the records made there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not secrets_known():
            return True
        message = record.getMessage()
        clean = redact_secrets(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
        return True


class QueryRedactingFilter(logging.Filter):
    """A :class:`logging.Filter` for urllib3's loggers: the request targets they log at
    DEBUG level lose their query string (where some APIs take ``?key=...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_cut_query(a) if isinstance(a, str) else a for a in record.args)
        return True


def _cut_query(text: str) -> str:
    head, sep, _ = text.partition("?")
    return f"{head}?{REDACTED}" if sep else text


#: provider-core's own loggers: the records made there pass through :class:`RedactingFilter`.
LOGGERS = ("provider_core", "provider_core.gateway", "provider_core.health", "provider_core.workers")


def install_log_filters() -> None:
    """Add :class:`QueryRedactingFilter` to urllib3's loggers and :class:`RedactingFilter`
    to provider-core's own (once; the transport and the gateway do it)."""
    for names, kind in (
        (("urllib3.connectionpool", "urllib3.util.retry"), QueryRedactingFilter),
        (LOGGERS, RedactingFilter),
    ):
        for name in names:
            logger = logging.getLogger(name)
            if not any(isinstance(f, kind) for f in logger.filters):
                logger.addFilter(kind())
