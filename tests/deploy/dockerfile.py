"""A small Dockerfile reader for the tests: instructions, stages and build-argument defaults.

Enough of the syntax for docker/Dockerfile: ``\\`` line continuations, ``#`` comment lines (also
inside a continued instruction, as Docker allows), ``FROM image AS name``, and ``ARG NAME=value``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    """One instruction: upper-case keyword, its raw argument text, and its first line number."""

    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD, else None."""
        text = self.args.split("CMD", 1)[1] if self.keyword == "HEALTHCHECK" else self.args
        try:
            value = json.loads(text.strip())
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) else None


@dataclass
class Stage:
    """A build stage: its base image (as written), its name, and its instructions after FROM."""

    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Every instruction of this stage with ``keyword``."""
        return [i for i in self.instructions if i.keyword == keyword]

    def index(self, predicate: object) -> int:
        """Position of the first instruction matching ``predicate`` (callable), or -1."""
        for position, instruction in enumerate(self.instructions):
            if predicate(instruction):  # type: ignore[operator]
                return position
        return -1


def instructions(text: str) -> list[Instruction]:
    """Every instruction of a Dockerfile, continuation lines joined, comments dropped."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if not continued:
            keyword, _, args = " ".join(pending).partition(" ")
            result.append(Instruction(keyword.upper(), args.strip(), start))
            pending = []
    return result


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of the Dockerfile at ``path``."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions(path.read_text(encoding="utf-8")):
        if instruction.keyword == "FROM":
            match = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", instruction.args, re.IGNORECASE)
            assert match, f"unreadable FROM at line {instruction.line}"
            stages.append(Stage(match.group(1), match.group(2) or str(len(stages))))
        elif stages:
            stages[-1].instructions.append(instruction)
        elif instruction.keyword == "ARG":
            name, _, default = instruction.args.partition("=")
            global_args[name] = default.strip('"')
    return global_args, stages


def expand(text: str, args: dict[str, str]) -> str:
    """``text`` with ``${NAME}`` replaced by the ARG defaults (unknown names kept)."""
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), text)
