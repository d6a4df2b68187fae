"""docker/docker-compose.yml and docker/.env.example, read as data (no Docker needed)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from service.settings import Settings
from tests.deploy import compose
from tests.deploy.conftest import DOCKER_DIR

DATA = compose.load()
SERVICES: dict[str, Any] = DATA["services"]
APIS = {"api-cpu": "cpu", "api-gpu": "gpu"}
PROXIES = {"nginx-cpu": "api-cpu", "nginx-gpu": "api-gpu"}
# Read by docker/entrypoint.py, not by Settings.
ENTRYPOINT_VARIABLES = {"MMS_HOST", "MMS_PORT", "MMS_GRACEFUL_TIMEOUT_S"}
# Deliberately not the service's default in the compose file (with the reason).
DIFFERENT_ON_PURPOSE = {
    "MMS_REQUIRE_GPU",  # the gpu profile refuses a silent CPU fallback
    "MMS_GALLERY_QDRANT_URL",  # the stack's own qdrant service; read only with the qdrant backend
}
TEMPLATE = (DOCKER_DIR / "nginx.conf.template").read_text()


def test_profiles_split_cpu_gpu_and_monitoring() -> None:
    profiles = {name: service.get("profiles") for name, service in SERVICES.items()}
    assert profiles == {
        "api-cpu": ["cpu"], "api-gpu": ["gpu"], "nginx-cpu": ["cpu"], "nginx-gpu": ["gpu"],
        "prometheus": ["monitoring"], "qdrant": ["qdrant"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "target"), [("api-cpu", "runtime-cpu"), ("api-gpu", "runtime-gpu")]
)
def test_api_builds_its_target_and_mounts_the_model_repository(name: str, target: str) -> None:
    service = SERVICES[name]
    assert service["build"]["target"] == target
    assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert compose.relative(service["build"]["context"]) == DOCKER_DIR.parent
    assert "${MMS_MODEL_REPOSITORY:-models}:/models:ro" in service["volumes"]
    assert service["environment"]["MMS_MODEL_DIR"] == "/models"
    assert "ports" not in service, "replicas cannot share a host port: nginx publishes it"
    assert "replicas" in service["deploy"]


def test_gpu_replicas_reserve_nvidia_gpus() -> None:
    (device,) = SERVICES["api-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


@pytest.mark.parametrize("name", sorted(APIS))
def test_api_health_is_readiness_and_stop_outlasts_the_drain(name: str) -> None:
    service = SERVICES[name]
    assert service["healthcheck"]["test"] == ["CMD", "python", "/opt/mms/healthcheck.py"]
    assert service["init"] is True
    assert service["networks"]["default"]["aliases"] == ["api"]
    defaults = compose.compose_defaults()
    assert compose.seconds(defaults["MMS_STOP_GRACE_PERIOD"]) > float(
        defaults["MMS_GRACEFUL_TIMEOUT_S"]
    )


@pytest.mark.parametrize(("proxy", "api"), sorted(PROXIES.items()))
def test_nginx_waits_for_healthy_replicas_of_its_profile(proxy: str, api: str) -> None:
    assert SERVICES[proxy]["depends_on"] == {api: {"condition": "service_healthy"}}
    assert SERVICES[proxy]["profiles"] == SERVICES[api]["profiles"]


def test_every_variable_has_a_default_and_is_documented_in_env_example() -> None:
    text = compose.COMPOSE_FILE.read_text()
    undefaulted = [name for name, default in compose.references(text) if default is None]
    assert undefaulted == [], "use ${VAR:-default} everywhere"
    assert compose.env_example() == compose.compose_defaults()


@pytest.mark.parametrize("name", sorted(APIS))
def test_api_environment_names_real_settings_with_the_service_defaults(name: str) -> None:
    for variable, value in SERVICES[name]["environment"].items():
        if variable in ENTRYPOINT_VARIABLES or not variable.startswith("MMS_"):
            continue
        field = variable.removeprefix("MMS_").lower()
        assert field in Settings.model_fields, f"{variable} is not a setting of service/settings.py"
        references = compose.references(str(value))
        if variable in DIFFERENT_ON_PURPOSE or not references:
            continue
        default = references[0][1] or ""
        expected = Settings.model_fields[field].get_default(call_default_factory=True)
        if default == "":  # unset in the container's eyes: the setting must default to "off"
            assert not expected, variable
        else:
            parsed = Settings.model_validate({field: default})
            assert getattr(parsed, field) == expected, variable


def test_nginx_template_variables_come_from_the_proxy_environment() -> None:
    environment = SERVICES["nginx-cpu"]["environment"]
    used = {name for name, _ in compose.references(TEMPLATE) if name.startswith("NGINX_")}
    given = {name for name in environment if name != "NGINX_ENVSUBST_FILTER"}
    assert used == given
    assert environment["NGINX_ENVSUBST_FILTER"] == "^NGINX_"


def test_nginx_and_service_share_one_body_limit_and_nginx_waits_longer() -> None:
    proxy = SERVICES["nginx-cpu"]["environment"]
    api = SERVICES["api-cpu"]["environment"]
    assert proxy["NGINX_MAX_BODY_BYTES"] == api["MMS_MAX_BODY_BYTES"]
    defaults = compose.compose_defaults()
    assert int(defaults["MMS_MAX_BODY_BYTES"]) == Settings().max_body_bytes
    assert compose.seconds(defaults["NGINX_PROXY_TIMEOUT"]) > float(
        defaults["MMS_REQUEST_TIMEOUT_S"]
    )


def test_nginx_drops_idle_replica_connections_before_the_replicas_do() -> None:
    # else a request may go out on a connection the replica is closing: a 502 (template comment)
    upstream = re.search(r"upstream mms_api \{(.*?)\n\}", TEMPLATE, re.S).group(1)  # type: ignore[union-attr]
    nginx_idle = compose.seconds(re.search(r"keepalive_timeout (\w+);", upstream).group(1))  # type: ignore[union-attr]
    replica_idle = float(compose.compose_defaults()["MMS_KEEP_ALIVE_TIMEOUT_S"])
    assert nginx_idle < replica_idle == Settings().keep_alive_timeout_s


@pytest.mark.parametrize("proxy", PROXIES)
def test_nginx_outweighs_a_replica_for_the_cpu(proxy: str) -> None:
    # it answers the excess 429 while the replicas keep the cores busy (compose comment)
    assert SERVICES[proxy]["cpu_shares"] >= 4 * SERVICES[PROXIES[proxy]].get("cpu_shares", 1024)


def test_mounted_configuration_files_exist() -> None:
    mounts = [v for s in SERVICES.values() for v in s.get("volumes", []) if v.startswith("./")]
    # both nginx services mount the main configuration and the template; Prometheus its own
    assert {m.split(":")[0] for m in mounts} == {
        "./nginx.conf", "./nginx.conf.template", "./prometheus.yml"
    } and len(mounts) == 5  # fmt: skip
    for mount in mounts:
        assert compose.relative(mount.split(":")[0]).is_file(), mount


def test_reference_parser_sees_defaults_and_bare_variables() -> None:
    found = compose.references("a ${X:-1} ${Y} $Z $$ESCAPED ${W-2}")
    assert found == [("X", "1"), ("Y", None), ("Z", None), ("W", "2")]


def test_the_qdrant_profile_runs_the_official_image_on_its_own_volume() -> None:
    qdrant = SERVICES["qdrant"]
    assert qdrant["image"].startswith("qdrant/qdrant:")
    assert qdrant["volumes"] == ["qdrant-data:/qdrant/storage"]
    for name in APIS:
        environment = SERVICES[name]["environment"]
        assert (
            environment["MMS_GALLERY_QDRANT_URL"] == "${MMS_GALLERY_QDRANT_URL:-http://qdrant:6333}"
        )
        assert "gallery-data:/data" in SERVICES[name]["volumes"]
