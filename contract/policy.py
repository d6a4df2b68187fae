"""Version policies: which of a model's version directories serve, as Triton's ``version_policy``.

* ``latest:N``: the N highest versions that load (a broken newest version is skipped, so the
  next older one keeps serving);
* ``all``: every version present;
* ``specific:1,3``: exactly these versions (those present).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

PolicyKind = Literal["latest", "all", "specific"]


@dataclass(frozen=True)
class VersionPolicy:
    """One model's version policy (``VersionPolicy.parse("latest:1")``)."""

    kind: PolicyKind = "latest"
    count: int = 1
    versions: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """``latest:N`` | ``all`` | ``specific:V[,V...]``; else ``ValueError`` saying which."""
        kind, _, arg = text.strip().partition(":")
        try:
            if kind == "all" and not arg:
                return cls("all")
            if kind == "latest":
                count = int(arg or "1")
                if count >= 1:
                    return cls("latest", count)
            if kind == "specific":
                versions = frozenset(int(v) for v in arg.split(",") if v.strip())
                if versions and min(versions) >= 1:
                    return cls("specific", 0, versions)
        except ValueError:
            pass
        raise ValueError(
            f"version policy {text!r} is not one of latest:N, all, specific:1,2 (N, versions >= 1)"
        )

    def candidates(self, present: Sequence[int]) -> list[int]:
        """The versions worth trying, newest first."""
        newest_first = sorted(present, reverse=True)
        if self.kind == "specific":
            return [v for v in newest_first if v in self.versions]
        return newest_first

    def enough(self, serving: int) -> bool:
        """True once ``serving`` versions satisfy the policy (only ``latest`` stops early)."""
        return self.kind == "latest" and serving >= self.count

    def __str__(self) -> str:
        if self.kind == "latest":
            return f"latest:{self.count}"
        if self.kind == "specific":
            return "specific:" + ",".join(str(v) for v in sorted(self.versions))
        return "all"
