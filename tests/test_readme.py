"""The newcomer's page: every `make` target and command the README names exists."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.MULTILINE))


def _code_spans() -> list[str]:
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", README, flags=re.DOTALL)
    inline = re.findall(r"`([^`\n]+)`", README)
    return [line.strip() for block in blocks for line in block.splitlines()] + inline


def test_readme_names_the_two_setup_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make serve" in quick_start
    assert "make test" in quick_start


def test_every_make_target_in_the_readme_exists() -> None:
    named = {m for span in _code_spans() for m in re.findall(r"\bmake ([a-z][a-z0-9-]*)", span)}
    assert {"serve", "test", "models"} <= named
    assert named <= _makefile_targets(), (
        f"README names missing targets {named - _makefile_targets()}"
    )


def test_every_python_module_command_in_the_readme_exists() -> None:
    modules = {m for span in _code_spans() for m in re.findall(r"python -m ([a-z_.]+)", span)}
    assert {"training", "service"} <= modules
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    assert not missing, f"README names modules that do not exist: {missing}"


def test_make_targets_dry_run() -> None:
    """`make -n` parses each quick-start target without running it."""
    for target in ("serve", "test", "models"):
        done = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_every_setting_is_documented() -> None:
    from service.settings import Settings

    undocumented = [f for f in Settings.model_fields if f"`MMS_{f.upper()}`" not in README]
    assert not undocumented, f"settings missing from the README's table: {undocumented}"
