"""The web server's settings: gunicorn, as `make run` starts it and as production should.

    gunicorn -c python:sharing_project.gunicorn_conf sharing_project.wsgi

gthread workers: each of WEB_WORKERS processes serves WEB_THREADS requests at once, so a request
that waits on the database or S3 does not hold up the others, and the processes share the cores.
The defaults suit a 2-core machine (docs/configuration.md); anything else gunicorn knows is
given with GUNICORN_CMD_ARGS (e.g. "--access-logfile -").
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from ops.logs import JsonFormatter, RedactedFormatter
from sharing_project.env import read_int, read_str

wsgi_app = "sharing_project.wsgi:application"
bind = read_str("WEB_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = read_int("WEB_WORKERS", 2, minimum=1, maximum=64)
threads = read_int("WEB_THREADS", 8, minimum=1, maximum=256)
# A request running longer than this is cut off and its worker restarted.
timeout = read_int("WEB_TIMEOUT", 60, minimum=5, maximum=3600)
graceful_timeout = 10

JSON_LOGS = read_str("LOG_FORMAT", "plain").lower() == "json"


class RedactingLogger(Logger):
    """gunicorn's logger, every line it writes (its error log; its access log, when
    --access-logfile asks for one) redacted like the service's own (ops/logs.py): an access
    line holds the request's path, and a share link's token is in the path. With
    LOG_FORMAT=json the lines are the service's JSON objects."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(
                    JsonFormatter() if JSON_LOGS else RedactedFormatter(handler.formatter)
                )


logger_class = RedactingLogger

# LOG_FORMAT=json: gunicorn's own lines (start, stop, a worker cut off) are JSON too, through
# the service's formatter (ops/logs.py), so that a log collector reads every line.
if JSON_LOGS:
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "ops.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {"gunicorn.error": {"handlers": ["console"], "propagate": False}},
    }
