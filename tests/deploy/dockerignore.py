"""The ``.dockerignore`` rules as Docker applies them, for the tests.

Docker's semantics (moby/patternmatcher): patterns are relative to the context root; ``*`` and
``?`` stay within one path segment, ``**`` spans any number of segments; a pattern that matches
a directory matches everything under it; ``!`` re-includes; the last matching rule wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    """One line of .dockerignore: its pattern compiled, and whether it re-includes."""

    pattern: re.Pattern[str]
    include: bool
    text: str


def _compile(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def read_rules(path: Path) -> list[Rule]:
    """The rules of a .dockerignore file, in order."""
    rules = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        text = line[1:].strip() if include else line
        rules.append(Rule(_compile(text), include, line))
    return rules


def _matches(rule: Rule, path: str) -> bool:
    parts = path.split("/")
    prefixes = ("/".join(parts[:n]) for n in range(1, len(parts) + 1))
    return any(rule.pattern.fullmatch(prefix) for prefix in prefixes)


def is_sent(rules: list[Rule], path: str) -> bool:
    """True when the file at context-relative ``path`` is part of the build context."""
    sent = True
    for rule in rules:
        if _matches(rule, path):
            sent = rule.include
    return sent
