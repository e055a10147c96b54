"""Process logging: console lines for humans or one JSON object per line (GATEWAY_LOG_FORMAT)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from neuronetz_gateway.config import Settings

# Fields a log call may attach with `extra=`; anything else stays out of the line.
_EXTRA_FIELDS = ("request_id", "tenant", "key_prefix", "status", "latency_ms", "method", "path")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the request fields when present."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _EXTRA_FIELDS:
            if hasattr(record, name):
                payload[name] = getattr(record, name)
        if record.exc_info and record.exc_info[0] is not None:
            payload["error"] = record.exc_info[0].__name__
        return json.dumps(payload, default=str)


def configure_logging(settings: Settings) -> None:
    """Route every logger (uvicorn's included) to stderr in the configured format."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Piccolo announces the SQLite version on every engine; that is noise for operators.
    logging.getLogger("piccolo").setLevel(max(logging.WARNING, root.level))
    # httpx logs every upstream call (with backend addresses) at INFO: that is debug detail.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
