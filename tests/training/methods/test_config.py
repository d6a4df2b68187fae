"""Named JSON configs load into typed dataclasses; unknown keys are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    with pytest.raises(FileNotFoundError, match="fusion_concat"):
        load_config("no_such_config")
