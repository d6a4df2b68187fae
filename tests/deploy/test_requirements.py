"""The images' package sets: one ONNX Runtime flavour, pinned closure, no training stack."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

import pytest
from packaging.requirements import Requirement

from tests.deploy.conftest import DOCKER_DIR, ROOT

PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = DOCKER_DIR / "constraints.txt"
Loader = Callable[[str], ModuleType]


def _names(module: ModuleType, requirements: list[str]) -> list[str]:
    return [module.distribution_name(r) for r in requirements]


@pytest.mark.parametrize("flavour", ["onnxruntime", "onnxruntime-gpu"])
def test_stage_requirements_hold_exactly_the_requested_flavour(
    docker_module: Loader, flavour: str
) -> None:
    module = docker_module("stage_requirements")
    names = _names(module, module.stage_requirements(PYPROJECT, f"{flavour}==1.31.1", []))
    assert [n for n in names if n in module.ORT_DISTRIBUTIONS] == [flavour]
    assert {"fastapi", "uvicorn", "tokenizers", "pillow"} <= set(names)
    assert "torch" not in names


def test_stage_requirements_add_the_train_extra_on_request(docker_module: Loader) -> None:
    module = docker_module("stage_requirements")
    names = _names(module, module.stage_requirements(PYPROJECT, "onnxruntime", ["train"]))
    assert "torch" in names and "onnxruntime-gpu" not in names


@pytest.mark.parametrize(
    ("onnxruntime", "extras"), [("torch==2.13.0", []), ("onnxruntime", ["no-such-extra"])]
)
def test_stage_requirements_reject_bad_arguments(
    docker_module: Loader, onnxruntime: str, extras: list[str]
) -> None:
    module = docker_module("stage_requirements")
    with pytest.raises(ValueError):
        module.stage_requirements(PYPROJECT, onnxruntime, extras)


def test_stage_requirements_cli_prints_one_requirement_per_line() -> None:
    script = DOCKER_DIR / "stage_requirements.py"
    command = [sys.executable, str(script), "--pyproject", str(PYPROJECT)]
    out = subprocess.run(
        [*command, "--onnxruntime", "onnxruntime"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert out[-1] == "onnxruntime"
    assert not any("onnxruntime-gpu" in line for line in out)


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[Requirement(name).name.lower().replace("_", "-")] = version
    return pins


def test_constraints_pin_every_base_dependency_within_its_range(docker_module: Loader) -> None:
    module = docker_module("stage_requirements")
    pins = _pins()
    for line in module.stage_requirements(PYPROJECT, "onnxruntime", []):
        requirement = Requirement(line)
        name = module.distribution_name(line)
        if name in module.ORT_DISTRIBUTIONS:
            assert name not in pins, "ONNX Runtime is pinned by ORT_VERSION, not constraints.txt"
            continue
        assert name in pins, f"{name} has no pin in docker/constraints.txt (regenerate it)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_verify_runtime_flags_both_flavours_and_training_packages(docker_module: Loader) -> None:
    module = docker_module("verify_runtime")
    forbidden = module.forbidden_distributions(PYPROJECT, CONSTRAINTS)
    assert "torch" in forbidden
    assert "tqdm" not in forbidden, "a runtime dependency (via huggingface-hub) must stay allowed"
    assert module.problems({"onnxruntime", "fastapi"}, "onnxruntime", forbidden) == []
    both = module.problems({"onnxruntime", "onnxruntime-gpu"}, "onnxruntime-gpu", forbidden)
    assert len(both) == 1 and "found ['onnxruntime', 'onnxruntime-gpu']" in both[0]
    assert module.problems({"onnxruntime"}, "onnxruntime-gpu", forbidden)
    stray = module.problems({"onnxruntime", "torch"}, "onnxruntime", forbidden)
    assert stray and "torch" in stray[0]


def test_verify_runtime_fails_on_this_development_environment() -> None:
    """The project's .venv has the train extra: the image check must refuse it (exit 1)."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed here, so there is nothing for the check to find")
    script = DOCKER_DIR / "verify_runtime.py"
    result = subprocess.run(
        [sys.executable, str(script), "--onnxruntime", "onnxruntime-gpu", "--skip-imports",
         "--pyproject", str(PYPROJECT), "--constraints", str(CONSTRAINTS)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "torch" in result.stderr
