"""Named JSON configs load into typed dataclasses; unknown keys are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.errors import ConfigError
from training.methods.config import CONFIG_DIR, FitConfig, from_dict, load_config


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_named_config_loads(path: Path) -> None:
    config = load_config(path.stem)
    assert isinstance(config, FitConfig)
    assert config.method in ("hard_sharing", "soft_sharing", "fusion", "alignment")


def test_named_configs_cover_the_four_methods() -> None:
    methods = {load_config(p.stem).method for p in CONFIG_DIR.glob("*.json")}
    assert methods == {"hard_sharing", "soft_sharing", "fusion", "alignment"}


def test_unknown_keys_and_values_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown FitConfig field"):
        from_dict(FitConfig, {"methd": "fusion"})
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        from_dict(FitConfig, {"train": {"epoch": 3}})
    with pytest.raises(ValueError, match="not one of"):
        from_dict(FitConfig, {"fusion": "sum"})
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"method": "alignment", "text": {"pooling": "mean"}}))
    config = load_config(path)
    assert config.method == "alignment" and config.text.pooling == "mean"


def test_missing_config_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="fusion_concat"):
        load_config("no_such_config")


@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        (
            '{\n  "train": {\n    "epochs": "2"\n  }\n}',
            3,
            r"train\.epochs: expected int, got str '2'",
        ),
        ('{\n  "train": {"seed": true}\n}', 2, r"train\.seed: expected int, got bool"),
        ('{\n  "label_smoothing": "0.1"\n}', 2, r"label_smoothing: expected float"),
        ('{"image": {"widths": [16, "32"]}}', 1, r"image\.widths\[1\]: expected int"),
        ('{"image": {"frozen": 1}}', 1, r"image\.frozen: expected bool, got int"),
        ('{"weighting": {"weights": {"a": "x"}}}', 1, r"weighting\.weights\.a: expected float"),
        ('{"image": 3}', 1, r"image: expected an object"),
        ('{"negatives": "4"}', 1, r"negatives: expected int \| None"),
    ],
)
def test_wrong_types_name_the_file_line_key_and_type(
    tmp_path: Path, body: str, line: int, expected: str
) -> None:
    path = tmp_path / "typed.json"
    path.write_text(body)
    with pytest.raises(ConfigError, match=rf"typed\.json:{line}: {expected}"):
        load_config(path)


def test_ints_pass_as_floats_and_none_as_optional(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text('{"train": {"lr": 1}, "negatives": null, "image": {"resample_to": 224}}')
    config = load_config(path)
    assert config.train.lr == 1 and config.negatives is None and config.image.resample_to == 224


def test_malformed_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "method": "fusion",\n  "fusion": concat\n}')
    with pytest.raises(ConfigError, match=r"broken\.json:3: not valid JSON"):
        load_config(path)


def test_efficientnet_takes_its_native_size_unless_the_config_says_otherwise(
    tmp_path: Path,
) -> None:
    path = tmp_path / "eff.json"
    path.write_text('{"image": {"kind": "efficientnet_lite0"}}')
    assert load_config(path).image.image_size == 224
    path.write_text('{"image": {"kind": "efficientnet_lite0", "image_size": 96}}')
    assert load_config(path).image.image_size == 96
    path.write_text('{"image": {"kind": "small_cnn"}}')
    assert load_config(path).image.image_size == 64


def test_minilm_takes_its_own_max_length_and_the_pretrained_configs_read(tmp_path: Path) -> None:
    path = tmp_path / "minilm.json"
    path.write_text('{"method": "fusion", "text": {"kind": "minilm", "trainable_layers": 2}}')
    config = load_config(path)
    assert (config.text.max_length, config.text.trainable_layers, config.tower_lr) == (256, 2, None)
    assert load_config("lit_image_locked").image.locked
    assert load_config("lit_text_locked").text.locked


@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        (
            '{\n "text": {"kind": "minilm", "trainable_layers": 7}}',
            2,
            r"text\.trainable_layers: 7 ",
        ),
        (
            '{"text": {"trainable_layers": 1}}',
            1,
            r'text\.trainable_layers: only for "kind": "minil',
        ),
        (
            '{"text": {"kind": "minilm", "trainable_layers": "1"}}',
            1,
            r"text\.trainable_layers: expected int",
        ),
        ('{\n"text": {"locked": true}}', 2, r"text\.locked: locks a pretrained tower"),
        ('{"image": {"locked": true}}', 1, r"image\.locked: locks a pretrained tower"),
        ('{\n"tower_lr": 0}', 2, r"tower_lr: must be > 0, got 0"),
        (
            '{"method": "fusion",\n "image": {"kind": "efficientnet_lite0", "locked": true}}',
            2,
            r"image\.locked: locking a tower is for alignment",
        ),
        (
            '{"method": "alignment", "image": {"kind": "efficientnet_lite0", "locked": true},\n'
            ' "text": {"kind": "minilm", "locked": true}}',
            2,
            "text.locked: both towers locked",
        ),
        (
            '{"method": "alignment", "image": {"kind": "efficientnet_lite0", "locked": true},\n'
            ' "embed_dim": 64}',
            2,
            "embed_dim: a locked tower's own features are the shared space",
        ),
    ],
)
def test_tower_rules_are_checked_at_read(
    tmp_path: Path, body: str, line: int, expected: str
) -> None:
    path = tmp_path / "towers.json"
    path.write_text(body)
    with pytest.raises(ConfigError, match=rf"towers\.json:{line}: {expected}"):
        load_config(path)
