"""docker/image_*.py, the image check's parts that run without buildah: config, base, index, probes.

The check itself (``make image-check``: build the image, start it, probe it) needs root, buildah
and minutes; CI runs it after the tests. These tests pin down the pieces it relies on.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from service.api.classify import ClassifyRequest
from tests.deploy.conftest import DOCKER_DIR

Loader = Callable[[str], ModuleType]
SECOND = 1_000_000_000  # the image config's durations are in nanoseconds


def _inspect(healthcheck: dict[str, object] | None) -> dict[str, object]:
    config = {
        "User": "mms",
        "Env": ["PATH=/opt/venv/bin:/usr/bin", "MMS_PORT=8000", "EMPTY="],
        "Entrypoint": ["python", "/opt/mms/entrypoint.py"],
        "Cmd": [],
        "StopSignal": "SIGTERM",
        "Healthcheck": healthcheck,
    }
    return {"Docker": {"config": config}, "OCIv1": {"config": {}}}


def test_image_config_runs_entrypoint_then_cmd_with_the_exec_form_healthcheck(
    docker_module: Loader,
) -> None:
    buildah = docker_module("image_buildah")
    check = {
        "Test": ["CMD", "python", "/opt/mms/healthcheck.py"],
        "Interval": 10 * SECOND,
        "Timeout": 5 * SECOND,
        "StartPeriod": 120 * SECOND,
        "Retries": 3,
    }
    config = buildah.image_config(_inspect(check))
    assert config.command == ["python", "/opt/mms/entrypoint.py"]
    assert config.user == "mms" and config.env["MMS_PORT"] == "8000" and config.env["EMPTY"] == ""
    assert config.healthcheck.command == ["python", "/opt/mms/healthcheck.py"]
    assert config.healthcheck.deadline_s == 150.0  # start period + 3 retries x 10 s


def test_image_config_shell_and_absent_healthchecks(docker_module: Loader) -> None:
    buildah = docker_module("image_buildah")
    shell = buildah.image_config(_inspect({"Test": ["CMD-SHELL", "curl -f localhost"]}))
    assert shell.healthcheck.command == ["/bin/sh", "-c", "curl -f localhost"]
    assert shell.healthcheck.interval_s == 30.0  # Docker's default when the field is 0/absent
    assert buildah.image_config(_inspect({"Test": ["NONE"]})).healthcheck is None
    assert buildah.image_config(_inspect(None)).healthcheck is None


def test_image_config_refuses_an_oci_image_without_docker_config(docker_module: Loader) -> None:
    buildah = docker_module("image_buildah")
    with pytest.raises(ValueError, match="--format docker"):
        buildah.image_config({"Docker": {}, "OCIv1": {"config": {"User": "mms"}}})


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("python:3.11-slim-bookworm", "docker.io/library/python:3.11-slim-bookworm"),
        ("nvidia/cuda:13.0.2", "docker.io/nvidia/cuda:13.0.2"),
        ("localhost/mapping-serve:cpu", "localhost/mapping-serve:cpu"),
        ("ghcr.io/owner/image:1", "ghcr.io/owner/image:1"),
    ],
)
def test_image_reference_qualifies_names_as_docker_does(
    docker_module: Loader, name: str, reference: str
) -> None:
    assert docker_module("image_base").image_reference(name) == reference


def test_the_local_base_stands_in_only_for_the_dockerfiles_python(docker_module: Loader) -> None:
    base, check = docker_module("image_base"), docker_module("image_check")
    args = check.dockerfile_args(DOCKER_DIR / "Dockerfile")
    base.check_stands_in(base.image_reference(args["PYTHON_IMAGE"]))  # the Dockerfile's: accepted
    for other in ("python:3.12-slim-bookworm", "python:3.11-slim-trixie", "debian:bookworm"):
        with pytest.raises(base.BaseImageError):
            base.check_stands_in(base.image_reference(other))


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal valid pure-Python wheel (what pip needs to download it)."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version.split('+')[0]}.dist-info"
    files = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/RECORD": "",
    }
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def test_wheelhouse_index_is_one_pip_can_install_from(
    docker_module: Loader, tmp_path: Path
) -> None:
    base = docker_module("image_base")
    wheel = _wheel(tmp_path, "mms_probe_pkg", "1.0+cpu")
    projects = base.write_simple_index(tmp_path)
    assert projects == {"mms-probe-pkg": [wheel.name]}
    page = (tmp_path / "simple" / "mms-probe-pkg" / "index.html").read_text()
    assert "1.0%2Bcpu" in page and hashlib.sha256(wheel.read_bytes()).hexdigest() in page
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--isolated", "--dest",
         str(tmp_path / "out"), "--index-url", f"file://{tmp_path}/simple", "mms-probe-pkg==1.0"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out" / wheel.name).is_file()


def test_the_wheelhouse_must_hold_the_cpu_build_of_torch(docker_module: Loader) -> None:
    base = docker_module("image_base")
    cpu = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    assert base.cpu_torch_wheel([cpu, "sympy-1.14.0-py3-none-any.whl"], "2.13.0") == cpu
    cuda = "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    for wheels in ([cuda], []):
        with pytest.raises(base.BaseImageError, match="CPU build"):
            base.cpu_torch_wheel(wheels, "2.13.0")


def test_base_recipe_hash_is_stable_and_short(docker_module: Loader) -> None:
    base = docker_module("image_base")
    assert base.recipe_hash() == base.recipe_hash() and len(base.recipe_hash()) == 16


def test_dockerfile_args_reads_the_global_defaults(docker_module: Loader, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('ARG A=1\nARG B="two"\n# ARG C=3\nFROM x\nARG D=4\n')
    assert docker_module("image_check").dockerfile_args(dockerfile) == {"A": "1", "B": "two"}


def test_classify_body_is_a_valid_classify_request(docker_module: Loader) -> None:
    probe = docker_module("image_probe")
    request = ClassifyRequest.model_validate_json(probe.classify_body(b"\x89PNG..."))
    assert request.model == "vision" and request.tasks == ["imagenet"]


def test_photo_labels_are_the_ones_the_vision_build_counts_right(docker_module: Loader) -> None:
    from training.data.photos import SAMPLE_PHOTOS

    probe = docker_module("image_probe")
    (chelsea,) = [photo for photo in SAMPLE_PHOTOS if photo.name == "chelsea"]
    assert set(chelsea.labels) == probe.PHOTO_LABELS
    assert probe.photo_bytes().startswith(b"\x89PNG")


def test_check_photo_labels_rejects_a_wrong_top_label(docker_module: Loader) -> None:
    probe = docker_module("image_probe")

    def response(label: str) -> dict[str, object]:
        head = {"labels": [{"label": label, "index": 0, "score": 0.9}]}
        return {"results": [{"heads": {"imagenet": head}}]}

    assert probe.check_photo_labels(response("tiger cat")) == [("tiger cat", 0.9)]
    with pytest.raises(probe.ProbeError, match="espresso"):
        probe.check_photo_labels(response("espresso"))


def test_passwd_uid_resolves_names_and_numbers(docker_module: Loader) -> None:
    probe = docker_module("image_probe")
    passwd = "root:x:0:0::/root:/bin/sh\nmms:x:10001:999::/home/mms:/usr/sbin/nologin\n"
    assert probe.passwd_uid(passwd, "mms") == 10001
    assert probe.passwd_uid(passwd, "10002:10002") == 10002
    with pytest.raises(probe.ProbeError):
        probe.passwd_uid(passwd, "nobody")


def test_find_server_finds_the_service_process_below_a_parent(docker_module: Loader) -> None:
    probe = docker_module("image_probe")
    child = "import time; time.sleep(30)"
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', "
         f"{child!r}, '-m', 'service'])"],
    )  # fmt: skip
    try:
        pid = None
        for _ in range(100):
            pid = probe.find_server(parent.pid)
            if pid:
                break
            time.sleep(0.05)
        assert pid is not None and pid != parent.pid
        uids, _ = probe.process_ids(pid)
        assert len(uids) == 4
    finally:
        for pid in probe.descendants(parent.pid):
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_steps_print_each_result_and_the_total(docker_module: Loader) -> None:
    out = io.StringIO()
    steps = docker_module("image_check").Steps(out)
    steps.run("first", lambda: "done")
    steps.summary()
    text = out.getvalue()
    assert "==> first" in text and "ok (" in text and "done" in text and "total" in text


def test_steps_list_a_failed_step_in_the_summary(docker_module: Loader) -> None:
    out = io.StringIO()
    steps = docker_module("image_check").Steps(out)

    def fail() -> str:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        steps.run("broken", fail)
    steps.summary()
    assert "broken (FAILED)" in out.getvalue() and "ok (" not in out.getvalue()


def test_preflight_refuses_to_build_without_the_disk_a_vfs_build_needs(
    docker_module: Loader, tmp_path: Path
) -> None:
    image_check = docker_module("image_check")
    assert "GiB free" in image_check.free_disk(tmp_path, need=1)
    with pytest.raises(image_check.CheckError, match=r"GiB free under .*free some disk"):
        image_check.free_disk(tmp_path, need=2**60)
