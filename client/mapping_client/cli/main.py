"""``mapping-serve``: the command line of the mapping-serve API.

    mapping-serve classify cat.jpg dog.jpg
    mapping-serve sentiment "The food was great"
    mapping-serve rank cat.jpg --labels "a cat" "a dog"
    mapping-serve index ~/Pictures --collection photos
    mapping-serve search "a cat" --collection photos
    mapping-serve models
    mapping-serve health

The service's URL and API key come from ``--url`` / ``--api-key`` or the environment variables
``MMS_URL`` / ``MMS_API_KEY``. Exit codes: 0 done, 1 a service error (message on stderr), 2 bad
arguments, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from mapping_client import Client, ServiceError
from mapping_client.cli import commands, index

Command = Callable[[Client, argparse.Namespace], int]
DEFAULT_URL = "http://localhost:8000"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    args = build_parser().parse_args(argv)
    try:
        with Client(args.url, api_key=args.api_key or None, timeout=args.timeout) as client:
            return int(args.command(client, args))
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return index.INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    """The parser: one sub-command per task, each taking the connection options."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--url", default=os.environ.get("MMS_URL", DEFAULT_URL),
                       help="service URL (env MMS_URL; default %(default)s)")  # fmt: skip
    group.add_argument("--api-key", default=os.environ.get("MMS_API_KEY"),
                       help="API key, sent as X-API-Key (env MMS_API_KEY)")  # fmt: skip
    group.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    group.add_argument("--json", action="store_true", help="print JSON instead of a table")

    parser = argparse.ArgumentParser(
        prog="mapping-serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(command=run)
        return p

    p = command("classify", commands.cmd_classify, "top labels of every head for each photo")
    p.add_argument("photos", nargs="+", help="image files (JPEG, PNG, WebP)")
    p.add_argument("--model", default="vision")
    p.add_argument("--top-k", type=int, default=3)

    p = command("sentiment", commands.cmd_sentiment, "sentiment label and valence of texts")
    p.add_argument("texts", nargs="+")
    p.add_argument("--model", default="text")

    p = command("rank", commands.cmd_rank, "rank text labels against a photo (zero-shot)")
    p.add_argument("photo")
    p.add_argument("--labels", nargs="+", required=True, help='e.g. --labels "a cat" "a dog"')
    p.add_argument("--space", default="semantic")

    p = command("index", index.run, "add a folder's photos to a collection (resumable)")
    index.add_arguments(p)

    p = command("search", commands.cmd_search, "search a collection by text or image")
    p.add_argument("query", nargs="?", help="text query")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--image", help="search by this image instead of a text")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument(
        "--filter",
        help='metadata filter as JSON, e.g. \'{"must": [{"key": "album", "match": "2024"}]}\'',
    )

    command("models", commands.cmd_models, "the models, their heads and providers")
    command("health", commands.cmd_health, "liveness and readiness (exit 1 when not ready)")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
