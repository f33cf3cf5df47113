"""Logging set-up for the entry points (the library never configures logging on import).

``BYOC_LOG_FORMAT=json`` prints one JSON object per line (CloudWatch Logs Insights
parses them); the default is plain text.
"""

from __future__ import annotations

import json
import logging
import logging.config
import time
from typing import Any

__all__ = ["JsonFormatter", "configure", "logging_config"]

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, pid, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def logging_config(level: int = logging.INFO, fmt: str = "text") -> dict[str, Any]:
    """A ``dictConfig``: one stderr handler on the root logger (gunicorn's logs propagate)."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"byoc": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "byoc",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }


def configure(level: int = logging.INFO, fmt: str = "text") -> None:
    logging.config.dictConfig(logging_config(level, fmt))
