"""The build context: what .dockerignore keeps out (and in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT
from tests.deploy.dockerignore import is_sent, read_rules

RULES = read_rules(ROOT / ".dockerignore")


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "models/vision/1/model.onnx",
        "models/README.md",
        ".cache/sentiment/hutto_ICWSM_2014.tar.gz",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/0.5/x",
        ".mypy_cache/3.11/service.json",
        "service/__pycache__/app.cpython-311.pyc",
        "training/shapes/__pycache__/data.cpython-311.pyc",
        "mapping_serve.egg-info/PKG-INFO",
        "tests/service/test_app.py",
        "docker/.env",
        "bench-results/run.json",
        "training/exported.onnx",
    ],
)
def test_kept_out_of_the_build_context(path: str) -> None:
    assert not is_sent(RULES, path)


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",
        "service/app.py",
        "contract/manifest.py",
        "training/cli.py",
        "training/configs/shapes.json",
        "docker/entrypoint.py",
        "docker/healthcheck.py",
        "docker/constraints.txt",
    ],
)
def test_sent_in_the_build_context(path: str) -> None:
    assert is_sent(RULES, path)


def test_matcher_follows_last_rule_wins(tmp_path: Path) -> None:
    """The helper itself: a later re-include beats an earlier exclude, and vice versa."""
    (tmp_path / ".dockerignore").write_text("*\n!keep/\nkeep/**/*.tmp\n")
    rules = read_rules(tmp_path / ".dockerignore")
    assert is_sent(rules, "keep/a.py")
    assert not is_sent(rules, "keep/sub/a.tmp")
    assert not is_sent(rules, "other/a.py")
