"""What the two APIs keep out of their logs: a secret (an API token) anywhere in a record, and
the values of query parameters the APIs do not define (a confused client may put a token
there); optionally the access-log lines of successful reads.

Both backends install these at start-up (`mask_secret_in_logs` with every token they hold,
`install_access_log_redaction`), after uvicorn has configured its loggers.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

# Query parameters the APIs define (OCI's and the PC backend's, which passes them on); any
# other key (and every value of it) is masked in the access log.
LOGGED_QUERY_KEYS = frozenset({"limit", "action", "target", "since", "state"})


def redact_query(full_path: str) -> str:
    """`/x?limit=5&secret=abc` → `/x?limit=5&***`: keep only known keys in a logged path."""
    path, sep, query = full_path.partition("?")
    if not sep:
        return full_path
    kept = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        kept.append(f"{key}={value}" if key in LOGGED_QUERY_KEYS else "***")
    return f"{path}?{'&'.join(kept) or '***'}"


class RedactQueryString(logging.Filter):
    """Masks unknown query parameters in uvicorn access-log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


class QuietReads(logging.Filter):
    """Drops access-log records of successful reads (GET/HEAD answered below 400)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 5:
            method, status = args[1], args[4]
            if method in ("GET", "HEAD") and isinstance(status, int) and status < 400:
                return False
        return True


class MaskSecret(logging.Filter):
    """Replaces a secret anywhere in a record (message or args) with '***': a client that puts
    the token in a URL path or a body field must not get it into the log."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        # Args are masked one by one: formatters (uvicorn's access log) read them by position.
        if isinstance(record.msg, str) and self.secret in record.msg:
            record.msg = record.msg.replace(self.secret, "***")
        if isinstance(record.args, tuple):
            record.args = tuple(a.replace(self.secret, "***") if isinstance(a, str) else a
                                for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: v.replace(self.secret, "***") if isinstance(v, str) else v
                           for k, v in record.args.items()}
        if record.exc_info and self.secret in str(record.exc_info[1]):
            record.exc_text = "(exception text withheld: it held a secret)"
        return True


def mask_secret_in_logs(secret: str) -> None:
    """Attach `MaskSecret` to every handler of the root and uvicorn loggers (idempotent)."""
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, MaskSecret) and f.secret == secret
                       for f in handler.filters):
                handler.addFilter(MaskSecret(secret))


def install_access_log_redaction(mode: str = "all") -> None:
    """Attach `RedactQueryString` to uvicorn's access logger, and `QuietReads` when `mode` is
    'changes' (idempotent)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryString) for f in logger.filters):
        logger.addFilter(RedactQueryString())
    quiet = [f for f in logger.filters if isinstance(f, QuietReads)]
    if mode == "changes" and not quiet:
        logger.addFilter(QuietReads())
    elif mode != "changes":
        for f in quiet:
            logger.removeFilter(f)
