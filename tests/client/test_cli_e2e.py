"""The ``mapping-serve`` command line against a live service (``main(argv)`` in-process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mapping_client.cli.main import main

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def service(server_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL comes from MMS_URL, as a user would set it."""
    monkeypatch.setenv("MMS_URL", server_url)
    monkeypatch.delenv("MMS_API_KEY", raising=False)
    return server_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_prints_a_table_and_json(
    capsys: pytest.CaptureFixture[str], samples: Path
) -> None:
    code, out, _ = run(
        capsys, "classify", str(samples / "coffee.png"), str(samples / "chelsea.png")
    )
    assert code == 0
    header, rule, first, *_ = out.splitlines()
    assert header.split() == ["photo", "head", "label", "score"] and set(rule) <= {"-", " "}
    assert "espresso" in first and "imagenet" in first
    code, out, _ = run(capsys, "classify", str(samples / "coffee.png"), "--json", "--top-k", "1")
    (result,) = json.loads(out)
    assert result["photo"].endswith("coffee.png")
    assert result["heads"]["imagenet"]["labels"][0]["label"] == "espresso"


def test_sentiment_and_rank(capsys: pytest.CaptureFixture[str], samples: Path) -> None:
    code, out, _ = run(capsys, "sentiment", "I love this, it is wonderful!")
    assert code == 0 and "positive" in out.splitlines()[2]
    code, out, _ = run(capsys, "rank", str(samples / "chelsea.png"), "--labels", "a dog", "a cat")
    assert code == 0 and out.splitlines()[2].split()[:3] == ["1", "a", "cat"]
    code, out, _ = run(capsys, "rank", str(samples / "chelsea.png"), "--labels", "a dog", "a cat",
                       "--json")  # fmt: skip
    assert json.loads(out)[0]["text"] == "a cat"


def test_models_and_health(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models")
    names = [line.split()[0] for line in out.splitlines()[2:]]
    assert code == 0 and {"text", "vision"} <= set(names)
    code, out, _ = run(capsys, "health")
    assert code == 0 and out.startswith("live: yes   ready: yes")
    code, out, _ = run(capsys, "health", "--json")
    assert json.loads(out)["ready"] is True


def test_errors_go_to_stderr_with_exit_code_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("not a photo")
    code, out, err = run(capsys, "classify", str(note))
    assert code == 1 and out == ""
    assert err.startswith("error: 415 unsupported_media_type: ") and "request id" in err


def test_flags_beat_the_environment(capsys: pytest.CaptureFixture[str], samples: Path) -> None:
    code, _, err = run(capsys, "models", "--url", "http://127.0.0.1:9", "--timeout", "2")
    assert code == 1 and "connection_error" in err


def test_the_console_script_is_installed(service: str) -> None:
    script = shutil.which("mapping-serve") or str(Path(sys.executable).parent / "mapping-serve")
    done = subprocess.run([script, "health", "--url", service], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ready: yes" in done.stdout
