"""``docker compose config`` validates docker/docker-compose.yml (no Docker engine needed).

Uses the Compose v2 plugin (``docker compose``) when present, else Debian's ``docker-compose``
1.29 (profiles, deploy.replicas and GPU device reservations are supported since 1.28).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import compose

INSTALL = "apt-get install -y --no-install-recommends docker-compose"


@dataclass(frozen=True)
class Compose:
    """The compose command line, run isolated from the caller's MMS_* variables and docker/.env."""

    command: list[str]
    empty_env_file: Path  # compose v1 refuses --env-file /dev/null ("not a file")

    def run(self, file: Path, *options: str) -> subprocess.CompletedProcess[str]:
        if "--env-file" not in options:
            options = ("--env-file", str(self.empty_env_file), *options)
        env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
        return subprocess.run(
            [*self.command, "-f", str(file), *options, "config"],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip

    def config(self, *options: str) -> dict[str, Any]:
        result = self.run(compose.COMPOSE_FILE, *options)
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = yaml.safe_load(result.stdout)
        return data


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        pytest.skip(f"neither `docker compose` nor docker-compose is installed (CI: {INSTALL})")
    return [legacy]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Compose:
    empty = tmp_path_factory.mktemp("compose") / "empty.env"
    empty.write_text("")
    return Compose(_compose_command(), empty)


@pytest.mark.parametrize("profile", ["cpu", "gpu", "monitoring", "qdrant"])
def test_compose_config_is_valid_for_each_profile(cli: Compose, profile: str) -> None:
    services = cli.config("--profile", profile)["services"]
    assert any(profile in s.get("profiles", []) for s in services.values())


def test_defaults_resolve_to_a_one_replica_cpu_stack_owning_the_embedded_gallery(
    cli: Compose,
) -> None:
    services = cli.config("--profile", "cpu")["services"]
    api = services["api-cpu"]
    assert int(api["deploy"]["replicas"]) == 1  # the embedded gallery store has one owner
    assert api["environment"]["MMS_GALLERY_BACKEND"] == "edge"
    assert api["environment"]["MMS_MAX_BODY_BYTES"] == "16777216"
    (port,) = services["nginx-cpu"]["ports"]
    assert "8080" in str(port)


def test_env_file_values_reach_the_services(cli: Compose, tmp_path: Path) -> None:
    text = compose.ENV_EXAMPLE.read_text()
    env_file = tmp_path / "deploy.env"
    env_file.write_text(text.replace("MMS_REPLICAS=1", "MMS_REPLICAS=5").replace(
        "MMS_MAX_BATCH_SIZE=16", "MMS_MAX_BATCH_SIZE=32"))  # fmt: skip
    services = cli.config("--env-file", str(env_file), "--profile", "cpu")["services"]
    assert int(services["api-cpu"]["deploy"]["replicas"]) == 5
    assert services["api-cpu"]["environment"]["MMS_MAX_BATCH_SIZE"] == "32"


def test_gpu_reservation_survives_validation(cli: Compose) -> None:
    api = cli.config("--profile", "gpu")["services"]["api-gpu"]
    (device,) = api["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


def test_an_invalid_file_is_rejected(cli: Compose, tmp_path: Path) -> None:
    """The check has teeth: a replica count that is not a number fails validation."""
    folder = tmp_path / "docker"
    folder.mkdir()
    broken = compose.COMPOSE_FILE.read_text().replace("${MMS_REPLICAS:-1}", "two")
    (folder / "docker-compose.yml").write_text(broken)
    result = cli.run(folder / "docker-compose.yml")
    assert result.returncode != 0
    assert "replicas" in result.stderr


def test_the_qdrant_profile_points_the_replicas_at_its_server(cli: Compose, tmp_path: Path) -> None:
    env_file = tmp_path / "qdrant.env"
    env_file.write_text("MMS_GALLERY_BACKEND=qdrant\n")
    services = cli.config("--env-file", str(env_file), "--profile", "cpu", "--profile", "qdrant")[
        "services"
    ]
    environment = services["api-cpu"]["environment"]
    assert environment["MMS_GALLERY_BACKEND"] == "qdrant"
    assert environment["MMS_GALLERY_QDRANT_URL"] == "http://qdrant:6333"
    assert "qdrant" in services
