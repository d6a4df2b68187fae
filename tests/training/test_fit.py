"""Bring your own data: a JSONL file with images trains each method through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image, ImageDraw
from tokenizers import Tokenizer

from contract.manifest import read_manifest, verify_files
from training.cli import main
from training.errors import ConfigError
from training.methods.jsonl import load_jsonl

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220)}


def _write_dataset(root: Path, n: int = 30) -> Path:
    """Squares and discs in two colours; labels `shape` and `color`, captions as text."""
    rng = np.random.default_rng(0)
    (root / "img").mkdir()
    lines = []
    for i in range(n):
        shape, colour = ("square", "disc")[i % 2], ("red", "blue")[(i // 2) % 2]
        img = Image.new("RGB", (40, 40), tuple(int(v) for v in rng.integers(90, 160, 3)))
        box = (10, 10, 30, 30)
        draw = ImageDraw.Draw(img)
        (draw.rectangle if shape == "square" else draw.ellipse)(box, fill=COLOURS[colour])
        img.save(root / "img" / f"{i:02d}.png")
        lines.append(
            {
                "image": f"img/{i:02d}.png",
                "text": f"a {colour} {shape} number {i}",
                "shape": shape,
                "color": colour,
            }
        )
    path = root / "data.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def _feed(version: Path, images: np.ndarray, texts: list[str]) -> dict[str, np.ndarray]:
    manifest = read_manifest(version)
    feed: dict[str, np.ndarray] = {}
    for spec in manifest.inputs:
        if spec.role == "image":
            x = images.astype(np.float32).transpose(0, 3, 1, 2)
            feed[spec.name] = (x - spec.mean[0]) / spec.std[0]
        elif spec.role == "text":
            tok = Tokenizer.from_file(str(version / spec.tokenizer))
            rows = [tok.encode(t).ids for t in texts]
            width = max(map(len, rows))
            feed[spec.name] = np.array([r + [0] * (width - len(r)) for r in rows], np.int64)
        else:
            feed[spec.name] = (feed["input_ids"] != 0).astype(np.int64)
    return feed


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "outputs"),
    [
        ("hard_sharing", {"color": 2, "shape": 2}),
        ("hard_sharing_uncertainty", {"color": 2, "shape": 2}),
        ("soft_sharing", {"color": 2, "shape": 2}),
        ("fusion_concat", {"color": 2, "shape": 2}),
        ("fusion_attention", {"color": 2, "shape": 2}),
        ("alignment_contrastive", {"embedding": 64}),
    ],
)
def test_fit_each_method_on_jsonl_and_run_the_onnx_model(
    config: str, outputs: dict[str, int], tmp_path: Path
) -> None:
    data = _write_dataset(tmp_path)
    models = tmp_path / "models"
    code = main(
        [
            "fit",
            "--config",
            config,
            "--data",
            str(data),
            "--models-dir",
            str(models),
            "--name",
            "byo",
            "--epochs",
            "1",
        ]
    )
    assert code == 0
    names = ["byo-image", "byo-text"] if "embedding" in outputs else ["byo"]
    _train, held = load_jsonl(data, 64)
    for name in names:
        version = models / name / "1"
        manifest = read_manifest(version)
        verify_files(manifest, version)
        assert manifest.metrics["split"] == "eval"
        assert (version / "report" / "parity.png").is_file()
        session = ort.InferenceSession(
            str(version / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        result = session.run(None, _feed(version, held.images[:3], (held.texts or [])[:3]))
        by_name = dict(zip([o.name for o in manifest.outputs], result, strict=True))
        for out, width in outputs.items():
            assert by_name[out].shape == (3, width)
        for spec in manifest.outputs:
            if spec.type == "softmax":
                assert spec.labels == sorted(spec.labels)  # label sets come from the data
                np.testing.assert_allclose(by_name[spec.name].sum(1), 1.0, atol=1e-5)
            else:
                assert spec.space == "byo"
                np.testing.assert_allclose(
                    np.linalg.norm(by_name[spec.name], axis=1), 1.0, atol=1e-5
                )


@pytest.mark.slow
def test_fit_adds_a_version_and_writes_over_one_only_with_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, models = _write_dataset(tmp_path, n=12), tmp_path / "models"
    args = ["fit", "--config", "hard_sharing", "--data", str(data), "--models-dir", str(models)]
    args += ["--name", "byo", "--epochs", "1"]
    assert main(args) == 0
    assert main(args) == 0
    assert sorted(p.name for p in (models / "byo").iterdir()) == ["1", "2"]
    first = read_manifest(models / "byo" / "1")

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("fit trained although the version was taken")

    monkeypatch.setattr("training.methods.pipeline.fit", no_training)
    with pytest.raises(SystemExit, match="--force"):
        main([*args, "--version", "1"])  # refused before any training
    assert read_manifest(models / "byo" / "1") == first
    monkeypatch.undo()
    assert main([*args, "--version", "1", "--force", "--seed", "1"]) == 0
    assert sorted(p.name for p in (models / "byo").iterdir()) == ["1", "2"]
    rewritten = read_manifest(models / "byo" / "1")
    assert rewritten.training["seed"] == 1 and rewritten.sha256 != first.sha256


def _fit_args(data: Path, models: Path, config: str = "hard_sharing") -> list[str]:
    return ["fit", "--config", config, "--data", str(data), "--models-dir", str(models)]


def test_dry_run_prints_split_sizes_and_label_counts_and_trains_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, models = _write_dataset(tmp_path, n=30), tmp_path / "models"
    assert main([*_fit_args(data, models), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    train, held = load_jsonl(data, 64)
    assert out[0] == f"examples: {len(train)} train, {len(held)} eval"
    shape_train = next(line for line in out if line.startswith("shape (train)"))
    disc = int((train.labels["shape"] == train.classes["shape"].index("disc")).sum())
    assert f"disc={disc}," in shape_train
    assert {line.split(" ")[0] for line in out[1:]} == {"color", "shape"}
    assert not models.exists()


def test_config_type_error_is_one_line_with_file_and_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_dataset(tmp_path, n=6)
    config = tmp_path / "mine.json"
    config.write_text('{\n  "method": "hard_sharing",\n  "train": {"epochs": "2"}\n}\n')
    assert main(_fit_args(data, tmp_path / "m", str(config))) == 2
    err = capsys.readouterr().err
    assert err == f"error: {config}:3: train.epochs: expected int, got str '2'\n"
    with pytest.raises(ConfigError):  # --debug keeps the traceback
        main([*_fit_args(data, tmp_path / "m", str(config)), "--debug"])


def test_malformed_config_and_missing_image_name_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_dataset(tmp_path, n=6)
    config = tmp_path / "broken.json"
    config.write_text('{"method": "hard_sharing",\n "epochs" 2}\n')
    assert main(_fit_args(data, tmp_path / "m", str(config))) == 2
    assert capsys.readouterr().err.startswith(f"error: {config}:2: not valid JSON")
    (tmp_path / "img" / "03.png").unlink()
    assert main([*_fit_args(data, tmp_path / "m"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {data}:4: image ") and "03.png" in err
    assert len(err.splitlines()) == 1


def test_a_single_class_task_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write_dataset(tmp_path, n=8)
    lines = [json.loads(x) for x in data.read_text().splitlines()]
    data.write_text("".join(json.dumps({**x, "cell": "mono"}) + "\n" for x in lines))
    assert main([*_fit_args(data, tmp_path / "m"), "--dry-run"]) == 2
    assert f"error: {data}: task 'cell' has a single class ('mono')" in capsys.readouterr().err


def test_fit_report_has_confusion_matrices_f1_baselines_and_class_weights(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = _write_dataset(tmp_path, n=20)
    config = tmp_path / "weighted.json"
    config.write_text(
        json.dumps(
            {
                "method": "hard_sharing",
                "class_weights": "balanced",
                "image": {"image_size": 16, "widths": [4, 8]},
                "train": {"epochs": 1, "batch_size": 8, "warmup_steps": 1},
            }
        )
    )
    models = tmp_path / "models"
    with caplog.at_level("INFO"):
        assert main([*_fit_args(data, models, str(config)), "--name", "rep"]) == 0
    assert "epoch_s=" in caplog.text and "total_s=" in caplog.text
    version = models / "rep" / "1"
    manifest = read_manifest(version)
    assert manifest.training["config"]["class_weights"] == "balanced"
    metrics = json.loads((version / "report" / "metrics.json").read_text())["metrics"]
    assert metrics == manifest.metrics
    _train, held = load_jsonl(data, 16)
    for task in ("color", "shape"):
        report = metrics["classification"][task]
        matrix = np.array(report["confusion_matrix"]["rows_true_columns_predicted"])
        assert matrix.shape == (2, 2) and matrix.sum() == len(held) == metrics["examples"]
        assert report["accuracy"] == pytest.approx(metrics[f"{task}_accuracy"])
        assert np.trace(matrix) / matrix.sum() == pytest.approx(report["accuracy"])
        assert metrics[f"{task}_macro_f1"] == report["macro_f1"]
        assert 0.0 < metrics[f"{task}_majority_baseline_accuracy"] < 1.0
        assert set(report["per_class"]) == set(held.classes[task])
        assert (version / "report" / f"confusion_{task}.png").is_file()
