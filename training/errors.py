"""Errors in what a user gave ``fit``: rendered by the CLI as ``error: <file>:<line>: <message>``.

The command line turns a ``FitInputError`` into one line on stderr and exit code 2, without a
traceback (``--debug`` keeps it); any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path

#: Exit code of a run refused because of its input (argparse uses 2 for bad arguments, too).
INPUT_ERROR_EXIT = 2


class FitInputError(ValueError):
    """The config, the JSONL file or an image it names is wrong; says where and how to fix it."""

    def __init__(
        self, message: str, path: Path | str | None = None, line: int | None = None
    ) -> None:
        self.message, self.path, self.line = message, path, line
        super().__init__(str(self))

    def __str__(self) -> str:
        """``<file>:<line>: <message>``, ``<file>: <message>`` or the bare message."""
        where = [str(part) for part in (self.path, self.line) if part is not None]
        return ": ".join([":".join(where), self.message]) if where else self.message


class ConfigError(FitInputError):
    """A config file that is not valid JSON, or whose keys or value types are wrong."""
