"""docker/entrypoint.py: environment to server command, argument pass-through, dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from tests.deploy.conftest import DOCKER_DIR, ROOT

Loader = Callable[[str], ModuleType]
SCRIPT = DOCKER_DIR / "entrypoint.py"


@pytest.fixture
def entrypoint(docker_module: Loader) -> ModuleType:
    return docker_module("entrypoint")


def test_defaults_listen_on_every_interface_port_8000(entrypoint: ModuleType) -> None:
    assert entrypoint.server_command({}, python="py") == [
        "py", "-m", "service", "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip


def test_environment_maps_to_flags(entrypoint: ModuleType) -> None:
    env = {"MMS_HOST": "127.0.0.1", "MMS_PORT": "9001", "MMS_GRACEFUL_TIMEOUT_S": "12.5"}
    assert entrypoint.server_command(env, python="py")[3:] == [
        "--host", "127.0.0.1", "--port", "9001", "--graceful-timeout", "12.5",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "env",
    [
        {"MMS_PORT": "http"},
        {"MMS_PORT": "0"},
        {"MMS_PORT": "70000"},
        {"MMS_GRACEFUL_TIMEOUT_S": "soon"},
        {"MMS_GRACEFUL_TIMEOUT_S": "-1"},
    ],
)
def test_invalid_values_are_refused_with_the_variable_named(
    entrypoint: ModuleType, env: dict[str, str]
) -> None:
    with pytest.raises(entrypoint.EntrypointError, match=next(iter(env))):
        entrypoint.server_command(env)


def test_flags_are_appended_and_commands_replace_the_server(entrypoint: ModuleType) -> None:
    served = entrypoint.resolve_command(["--graceful-timeout", "5"], {}, python="py")
    assert served[:3] == ["py", "-m", "service"] and served[-2:] == ["--graceful-timeout", "5"]
    other = ["python", "-m", "service", "--help"]
    assert entrypoint.resolve_command(other, {"MMS_PORT": "bad"}) == other


def test_invalid_environment_exits_2_without_running(
    entrypoint: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert entrypoint.main([], {"MMS_PORT": "x"}) == 2
    assert "MMS_PORT" in capsys.readouterr().err


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MMS_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env={**clean, **env},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_dry_run_prints_the_command_it_would_exec() -> None:
    result = _run([], MMS_ENTRYPOINT_DRY_RUN="1", MMS_PORT="8123")
    assert result.returncode == 0, result.stderr
    command = json.loads(result.stdout)
    assert command[0] == sys.executable
    assert command[1:] == ["-m", "service", "--host", "0.0.0.0", "--port", "8123"]


def test_exec_replaces_the_entrypoint_process() -> None:
    """Without dry run the script execs: the child's pid is the entrypoint's own pid."""
    code = "import os; print(os.getpid())"
    probe = subprocess.Popen(
        [sys.executable, str(SCRIPT), sys.executable, "-c", code],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, _ = probe.communicate(timeout=30)
    assert probe.returncode == 0
    assert int(out.strip()) == probe.pid


def test_every_flag_the_entrypoint_passes_is_accepted_by_the_service() -> None:
    """Guards against drift between this script and ``python -m service``'s command line."""
    help_text = subprocess.run(
        [sys.executable, "-m", "service", "--help"], cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    env = {"MMS_GRACEFUL_TIMEOUT_S": "5"}
    flags = [a for a in _flags(env) if a.startswith("--")]
    assert flags == ["--host", "--port", "--graceful-timeout"]
    for flag in flags:
        assert flag in help_text, f"python -m service does not take {flag}"


def _flags(env: dict[str, str]) -> list[str]:
    result = _run([], MMS_ENTRYPOINT_DRY_RUN="1", **env)
    return list(json.loads(result.stdout)[3:])
