"""Invariants of docker/Dockerfile, read statically (no Docker engine needed)."""

from __future__ import annotations

import re

import pytest

from tests.deploy.conftest import DOCKER_DIR, ROOT
from tests.deploy.dockerfile import Instruction, Stage, expand, parse
from tests.deploy.dockerignore import is_sent, read_rules

DOCKERFILE = DOCKER_DIR / "Dockerfile"
GLOBAL_ARGS, STAGES = parse(DOCKERFILE)
BY_NAME = {stage.name: stage for stage in STAGES}
RUNTIME = {"runtime-cpu": "onnxruntime", "runtime-gpu": "onnxruntime-gpu"}
BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|python3-dev)\b")


def _is_source_copy(instruction: Instruction) -> bool:
    """COPY of the project's code: the wheel, or service/ and training/ sources."""
    return instruction.keyword == "COPY" and bool(
        re.search(r"--from=wheel|\bservice/|\btraining/", instruction.args)
    )


def _is_dependency_install(instruction: Instruction) -> bool:
    return instruction.keyword == "RUN" and bool(
        re.search(r"pip install[^&]*-r ", instruction.args)
    )


def test_stages_include_training_and_both_runtime_targets() -> None:
    assert {"wheel", "training", "runtime-cpu", "runtime-gpu"} <= set(BY_NAME)


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_runtime_stage_runs_as_a_non_root_user(name: str) -> None:
    users = BY_NAME[name].all("USER")
    assert users, f"{name} never sets USER"
    assert users[-1].args.split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_runtime_healthcheck_probes_readiness_in_exec_form(name: str) -> None:
    (check,) = BY_NAME[name].all("HEALTHCHECK")
    command = check.exec_form()
    assert command is not None, "HEALTHCHECK CMD must be a JSON array (no shell, no curl)"
    assert command[-1] == "/opt/mms/healthcheck.py"
    assert "/health/ready" in (DOCKER_DIR / "healthcheck.py").read_text()


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_runtime_entrypoint_is_exec_form_and_stops_on_sigterm(name: str) -> None:
    stage = BY_NAME[name]
    (entrypoint,) = stage.all("ENTRYPOINT")
    assert entrypoint.exec_form() == ["python", "/opt/mms/entrypoint.py"]
    assert [i.args for i in stage.all("STOPSIGNAL")] == ["SIGTERM"]


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_runtime_stage_has_no_torch_and_no_build_tools(name: str) -> None:
    for instruction in BY_NAME[name].instructions:
        if instruction.keyword in {"RUN", "COPY", "ENV"}:
            assert "torch" not in instruction.args.lower(), instruction
            assert not BUILD_TOOLS.search(instruction.args), instruction


@pytest.mark.parametrize("name", ["training", *sorted(RUNTIME)])
def test_stages_with_onnxruntime_turn_its_telemetry_off(name: str) -> None:
    # Otherwise the build bakes ONNX Runtime's device id into the image (the image check found it).
    env = " ".join(i.args for i in BY_NAME[name].all("ENV"))
    assert "ORT_DISABLE_TELEMETRY=1" in env.split()


@pytest.mark.parametrize(("name", "flavour"), sorted(RUNTIME.items()))
def test_runtime_installs_one_onnxruntime_flavour_and_verifies_it(name: str, flavour: str) -> None:
    runs = " ".join(i.args for i in BY_NAME[name].all("RUN"))
    assert f'--onnxruntime "{flavour}==${{ORT_VERSION}}"' in runs
    assert f"verify_runtime.py --onnxruntime {flavour}" in runs
    # The project goes in without its dependencies: its markers would pick onnxruntime-gpu.
    assert "pip install --no-deps /build/wheels/" in runs


@pytest.mark.parametrize("name", ["training", "runtime-cpu", "runtime-gpu"])
def test_dependency_layers_come_before_source_layers(name: str) -> None:
    stage = BY_NAME[name]
    dependencies = stage.index(_is_dependency_install)
    source = stage.index(_is_source_copy)
    assert 0 <= dependencies < source, f"{name}: pip install -r must precede the source COPY"


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_runtime_images_carry_the_models_built_by_the_training_stage(name: str) -> None:
    copies = [i.args for i in BY_NAME[name].all("COPY")]
    assert "--from=training /models /models" in copies


def test_training_stage_builds_defaults_with_the_pinned_cpu_torch() -> None:
    stage = BY_NAME["training"]
    runs = [i.args for i in stage.all("RUN")]
    assert any("python -m training build-defaults --models-dir /models" in r for r in runs)
    assert GLOBAL_ARGS["TORCH_VERSION"] == "2.13.0"
    assert GLOBAL_ARGS["TORCH_INDEX_URL"].endswith("/whl/cpu")
    assert any('"torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"' in r for r in runs)


def test_training_stage_copies_the_contract_and_none_of_the_service() -> None:
    copies = [i.args for i in BY_NAME["training"].all("COPY")]
    assert "contract/ contract/" in copies
    assert not [args for args in copies if "service/" in args], copies


def test_gpu_base_is_cuda13_with_cudnn_runtime() -> None:
    base = expand(BY_NAME["runtime-gpu"].base, GLOBAL_ARGS)
    assert re.fullmatch(r"nvidia/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu24\.04", base), base
    assert GLOBAL_ARGS["ORT_VERSION"].startswith("1.31.")


def _context_sources(stage: Stage) -> list[str]:
    sources = []
    for copy in stage.all("COPY"):
        if "--from=" not in copy.args:
            sources += copy.args.split()[:-1]
    return [s for s in sources if not s.startswith("--")]


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_every_copied_path_exists_and_is_in_the_build_context(stage: Stage) -> None:
    rules = read_rules(ROOT / ".dockerignore")
    for source in _context_sources(stage):
        path = ROOT / source
        assert path.exists(), f"COPY {source}: no such path"
        files = [p for p in path.rglob("*.py")] if path.is_dir() else [path]
        assert files, source
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if "__pycache__" not in relative:
                assert is_sent(rules, relative), f"{relative} is excluded by .dockerignore"


def _imports(package: str, prefix: str) -> set[tuple[str, str]]:
    pattern = re.compile(rf"^\s*(?:from|import)\s+({prefix}(?:\.\w+)*)", re.MULTILINE)
    return {
        (path.relative_to(ROOT).as_posix(), module)
        for path in (ROOT / package).rglob("*.py")
        for module in pattern.findall(path.read_text(encoding="utf-8"))
    }


def test_training_code_imports_the_contract_and_nothing_of_the_service() -> None:
    """The training stage copies contract/ but not service/; a service import would break it."""
    assert _imports("training", "contract"), "expected training/ to import the contract"
    assert not _imports("training", "service"), sorted(_imports("training", "service"))


def test_the_contract_imports_neither_half() -> None:
    assert not _imports("contract", "service") | _imports("contract", "training")


def test_the_wheel_stage_copies_every_package_the_project_ships() -> None:
    """A package the wheel stage leaves out is missing from the image (as the image check found)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {i.args.split()[0].rstrip("/") for i in BY_NAME["wheel"].all("COPY")}
    assert packages <= copied, sorted(packages - copied)
