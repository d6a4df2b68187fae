"""Container entrypoint: turn the deployment's environment into the server's command, then exec it.

The service reads its own settings (``MMS_MODEL_DIR``, batching, limits, ...) from ``MMS_*``
variables through pydantic-settings; only what ``python -m service`` takes on its command line is
mapped here:

=========================  ==========================  ==============================
variable                   flag                        default
=========================  ==========================  ==============================
``MMS_HOST``               ``--host``                  ``0.0.0.0`` (every interface)
``MMS_PORT``               ``--port``                  ``8000``
``MMS_GRACEFUL_TIMEOUT_S`` ``--graceful-timeout``      the server's own (flag omitted)
=========================  ==========================  ==============================

Arguments: none runs the server; arguments that start with ``-`` are appended to the server's
command; anything else runs instead of the server (``docker run IMAGE python -c "..."``).
The command replaces this process (``exec``), so the server gets SIGTERM directly and drains.
``MMS_ENTRYPOINT_DRY_RUN=1`` prints the command as JSON instead of running it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8000
DRY_RUN_VARIABLE = "MMS_ENTRYPOINT_DRY_RUN"


class EntrypointError(ValueError):
    """A deployment variable has a value the server cannot start with."""


def _port(env: Mapping[str, str]) -> int:
    raw = env.get("MMS_PORT", "").strip() or str(DEFAULT_PORT)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise EntrypointError(f"MMS_PORT={raw!r}: expected a TCP port number, 1 to 65535")
    return int(raw)


def _graceful_timeout(env: Mapping[str, str]) -> float | None:
    raw = env.get("MMS_GRACEFUL_TIMEOUT_S", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 3600:
        raise EntrypointError(f"MMS_GRACEFUL_TIMEOUT_S={raw!r}: expected seconds, > 0 and < 3600")
    return seconds


def server_command(env: Mapping[str, str], python: str = sys.executable) -> list[str]:
    """The ``python -m service ...`` command line that ``env`` asks for.

    Raises:
        EntrypointError: a variable holds a value the server would reject.
    """
    host = env.get("MMS_HOST", "").strip() or DEFAULT_HOST
    command = [python, "-m", "service", "--host", host, "--port", str(_port(env))]
    graceful = _graceful_timeout(env)
    if graceful is not None:
        command += ["--graceful-timeout", f"{graceful:g}"]
    return command


def resolve_command(
    args: Sequence[str], env: Mapping[str, str], python: str = sys.executable
) -> list[str]:
    """What to exec for the container's arguments ``args`` (see the module docstring)."""
    if args and not args[0].startswith("-"):
        return list(args)
    return [*server_command(env, python), *args]


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Exec the command (or print it in dry-run mode); 2 when the environment is invalid."""
    env = os.environ if env is None else env
    try:
        command = resolve_command(sys.argv[1:] if argv is None else argv, env)
    except EntrypointError as exc:
        print(f"entrypoint: {exc}", file=sys.stderr)
        return 2
    if env.get(DRY_RUN_VARIABLE, "").strip() not in ("", "0"):
        print(json.dumps(command))
        return 0
    sys.stdout.flush()
    os.execvp(command[0], command)  # replaces this process; never returns
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
