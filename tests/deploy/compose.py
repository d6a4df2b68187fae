"""Reading docker/docker-compose.yml and docker/.env.example for the tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bench import nginx
from tests.deploy.conftest import DOCKER_DIR

COMPOSE_FILE = DOCKER_DIR / "docker-compose.yml"
ENV_EXAMPLE = nginx.ENV_EXAMPLE
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, and bare $NAME ($$ escapes).
_REFERENCE = re.compile(r"(?<!\$)\$(?:\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def load() -> dict[str, Any]:
    """The compose file as data (YAML anchors and merge keys resolved)."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return data


def references(text: str) -> list[tuple[str, str | None]]:
    """(variable, default or None) for every interpolation in ``text``."""
    found = []
    for braced, operator, default, bare in _REFERENCE.findall(text):
        name = braced or bare
        found.append((name, default if operator in (":-", "-") else None))
    return found


def compose_defaults() -> dict[str, str]:
    """Each interpolated variable of the compose file with its default value."""
    return {name: default or "" for name, default in references(COMPOSE_FILE.read_text())}


def env_example() -> dict[str, str]:
    """The NAME=value lines of docker/.env.example."""
    return nginx.deployment_defaults()


def seconds(duration: str) -> float:
    """A compose/nginx duration (``30s``, ``2m``, ``1m30s``, ``45``) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s|)", duration.strip())
    assert parts, duration
    return sum(float(value) * units[unit] for value, unit in parts)


def relative(path: str) -> Path:
    """A path of the compose file, resolved as compose does: against docker/."""
    return (DOCKER_DIR / path).resolve()
