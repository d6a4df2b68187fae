"""docker/prometheus.yml: every replica scraped on its own, and valid for promtool."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy import compose
from tests.deploy.conftest import DOCKER_DIR, require_tool

CONFIG = DOCKER_DIR / "prometheus.yml"


def test_replicas_are_found_by_dns_on_the_service_alias_and_port() -> None:
    jobs = {job["job_name"]: job for job in yaml.safe_load(CONFIG.read_text())["scrape_configs"]}
    (discovery,) = jobs["mapping-serve"]["dns_sd_configs"]
    services = compose.load()["services"]
    aliases = {
        a
        for name in ("api-cpu", "api-gpu")
        for a in services[name]["networks"]["default"]["aliases"]
    }
    assert discovery["names"] == ["api"] and aliases == {"api"}
    assert discovery["type"] == "A" and discovery["port"] == 8000
    assert jobs["mapping-serve"]["metrics_path"] == "/metrics"


def test_promtool_accepts_the_configuration() -> None:
    promtool = require_tool("promtool", "apt-get install -y --no-install-recommends prometheus")
    result = subprocess.run(
        [promtool, "check", "config", str(CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
