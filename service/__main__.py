"""``python -m service --host 0.0.0.0 --port 8000``: run the API with uvicorn.

The connection limits come from settings (``MMS_LIMIT_CONCURRENCY``, ``MMS_BACKLOG``,
``MMS_ACCEPT_BATCH``, ``MMS_KEEP_ALIVE_TIMEOUT_S``, ``MMS_HEADER_TIMEOUT_S``,
``MMS_MAX_CONNECTIONS``; README
"Under load"), so the container and ``make serve`` get the same ones.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from service.app import create_app
from service.connections import guarded_protocol
from service.listener import Server
from service.settings import Settings

log = logging.getLogger(__name__)
_SPARE_FILES = 256  # model files, threads' pipes, logs: what a process needs besides sockets


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, configure logging once, and serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--graceful-timeout", type=float, default=30.0,
        help="seconds in-flight requests get to finish on shutdown",
    )  # fmt: skip
    args = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _raise_file_limit(settings.max_connections)
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=args.graceful_timeout,
        http=guarded_protocol(settings, app.state.observer),
        limit_concurrency=settings.limit_concurrency, backlog=settings.backlog,
        timeout_keep_alive=settings.keep_alive_timeout_s,
    )  # fmt: skip
    Server(config, settings.accept_batch).run()  # uvicorn's; MMS_ACCEPT_BATCH > 0: batch accept
    return 0


def _raise_file_limit(max_connections: int) -> None:
    """Lift the soft limit on open files to the hard one, so ``max_connections`` sockets fit
    beside the model files and threads; warn when even the hard limit is too low."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "the open-file limit (%d) is below MMS_MAX_CONNECTIONS + %d; lower "
            "MMS_MAX_CONNECTIONS or raise the limit (ulimit -n)", soft, _SPARE_FILES,
        )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
