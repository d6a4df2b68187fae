"""``python -m service --host 0.0.0.0 --port 8000``: run the API with uvicorn."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from service.app import create_app
from service.settings import Settings


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
    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=args.graceful_timeout,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
