"""The README's client examples, run as written in a fresh virtual environment holding only the
client (``pip install`` of the client's wheel: httpx and its dependencies, nothing else).

The only change made to an example is the service's address: the examples say
``http://localhost:8000``, the test's service listens on a free port.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from PIL import Image as PILImage

from tests.live_server import ROOT

pytestmark = pytest.mark.e2e
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE_URL = "http://localhost:8000"


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


PYTHON = [b for b in blocks(section("Using the API"), "python") if "mapping_client" in b]
PYTHON += blocks(section("Python client and command line"), "python")
BASH = blocks(section("Python client and command line"), "bash")


def uses_gallery(code: str) -> bool:
    return "collection" in code


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the client's wheel installed, and nothing else of ours."""
    base = tmp_path_factory.mktemp("fresh")
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(ROOT / "client")],
                   check=True, timeout=300)  # fmt: skip
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *map(str, wheels.glob("*.whl"))], check=True, timeout=600)
    return env_dir


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, samples: Path) -> Path:
    """The files the examples name: cat.jpg and a folder photos/ of three JPEGs."""
    work = tmp_path_factory.mktemp("readme")
    PILImage.open(samples / "chelsea.png").convert("RGB").save(work / "cat.jpg")
    (work / "photos").mkdir()
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        image = PILImage.open(samples / name).convert("RGB")
        image.save(work / "photos" / f"{Path(name).stem}.jpg")
    return work


def clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH (it could reach the repository) and MMS_ variables."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("MMS_")}


def run_python(env_dir: Path, code: str, cwd: Path, url: str) -> str:
    done = subprocess.run([str(env_dir / "bin" / "python"), "-c", code.replace(EXAMPLE_URL, url)],
                          cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    assert done.returncode == 0, f"{code}\n--- stderr:\n{done.stderr}"
    return done.stdout


def run_bash(env_dir: Path, code: list[str], cwd: Path, url: str) -> list[str]:
    """Each ``mapping-serve`` line of the blocks, in order, as one shell session would run them
    (``export`` lines set the environment of the lines after them)."""
    env = clean_env()
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"
    outputs = []
    for line in "\n".join(code).splitlines():
        words = shlex.split(line.replace(EXAMPLE_URL, url), comments=True)
        if words[:1] == ["export"]:
            env.update(w.split("=", 1) for w in words[1:])  # type: ignore[arg-type]
        elif words[:1] == ["mapping-serve"]:
            done = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=180)  # fmt: skip
            assert done.returncode == 0, f"{line}\n--- stderr:\n{done.stderr}"
            outputs.append(done.stdout)
    return outputs


def test_the_fresh_environment_holds_only_the_client(fresh_venv: Path) -> None:
    python = str(fresh_venv / "bin" / "python")
    check = "import importlib.util as u; print([m for m in ('fastapi', 'numpy', 'PIL', 'service', 'onnxruntime') if u.find_spec(m)])"  # noqa: E501
    # Away from the repository (cwd, PYTHONPATH), whose service/ would be importable.
    done = subprocess.run([python, "-c", check], capture_output=True, text=True, check=True,
                          cwd=fresh_venv, env=clean_env())  # fmt: skip
    assert done.stdout.strip() == "[]"
    assert (fresh_venv / "bin" / "mapping-serve").exists()


def test_the_readme_has_client_examples() -> None:
    assert len(PYTHON) >= 4 and len(BASH) >= 3
    assert any(uses_gallery(b) for b in PYTHON) and any(not uses_gallery(b) for b in PYTHON)


def test_the_readme_client_examples_run_as_written(
    fresh_venv: Path, workdir: Path, server_url: str
) -> None:
    outputs = [run_python(fresh_venv, code, workdir, server_url)
               for code in PYTHON if not uses_gallery(code)]  # fmt: skip
    assert "tiger cat" in outputs[0] or "cat" in outputs[0]
    assert "415 unsupported_media_type" in "".join(outputs)
    shell = run_bash(fresh_venv, [b for b in BASH if not uses_gallery(b)], workdir, server_url)
    assert len(shell) == 5 and "espresso" not in shell[0] and "cat" in shell[0]


@pytest.mark.gallery
def test_the_readme_gallery_examples_run_as_written(
    fresh_venv: Path, workdir: Path, server_url: str
) -> None:
    outputs = [run_python(fresh_venv, code, workdir, server_url)
               for code in PYTHON if uses_gallery(code)]  # fmt: skip
    assert "chelsea.jpg" in outputs[0].splitlines()[1]  # the first hit for "a cat"
    shell = run_bash(fresh_venv, BASH, workdir, server_url)  # the export comes first
    assert "chelsea.jpg" in shell[-2].splitlines()[2]  # search "a cat": the first row


def test_no_example_is_left_out() -> None:
    """Every python block of the client section runs in one of the two tests above."""
    client_section = section("Python client and command line")
    assert len(blocks(client_section, "python")) == len(PYTHON) - 1
