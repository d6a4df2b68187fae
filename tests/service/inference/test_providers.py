"""Execution providers: ``auto`` is probed once, quietly; ``cpu`` and ``cuda`` are taken as set."""

from __future__ import annotations

import subprocess
import sys

import pytest

import service.inference.providers as providers

PROBE = (
    "import logging; logging.basicConfig(level='INFO', format='%(message)s');"
    "from service.inference.providers import resolve_mode; print(resolve_mode('auto'))"
)


def test_explicit_modes_are_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "cuda_usable", lambda: pytest.fail("probed"))
    assert providers.resolve_mode("cpu") == "cpu" and providers.resolve_mode("cuda") == "cuda"
    assert providers.requested_providers("cpu") == [providers.CPU]
    assert providers.requested_providers("cuda") == [providers.CUDA, providers.CPU]


def test_the_auto_probe_prints_no_onnx_runtime_error_and_one_line_of_its_own() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    mode = done.stdout.strip()
    assert mode in ("cpu", "cuda")
    assert "onnxruntime" not in done.stderr and "[E:" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and ("the CPU serves" if mode == "cpu" else "GPU") in lines[0]
