"""Config dataclasses: round trip, validation, field help, version checks."""

import pytest
import yaml

from napari_posetrack.core.errors import ConfigError
from napari_posetrack.nn.config import CONFIG_VERSION, TrainingConfig, iter_fields, load_config, save_config


def test_round_trip_and_update(tmp_path):
    cfg = TrainingConfig().update({"model": {"sigma": 3.5, "backbone": {"filters": 8}}, "train": {"epochs": 7}})
    assert cfg.model.sigma == 3.5 and cfg.model.backbone.filters == 8 and cfg.train.epochs == 7
    save_config(cfg, tmp_path / "config.yaml")
    back = load_config(tmp_path)
    assert back == cfg
    assert back.pad_to == 16  # 2 ** down_blocks


def test_validation_messages():
    with pytest.raises(ConfigError, match="model.type"):
        TrainingConfig.from_dict({"model": {"type": "nope"}})
    with pytest.raises(ConfigError, match="output_stride"):
        TrainingConfig.from_dict({"model": {"output_stride": 16, "backbone": {"down_blocks": 2}}})
    with pytest.raises(ConfigError, match="Unknown config key"):
        TrainingConfig.from_dict({"train": {"epochz": 3}})
    with pytest.raises(ConfigError, match="pretrained"):
        TrainingConfig.from_dict({"model": {"backbone": {"pretrained": "/no/such/file.safetensors"}}})


def test_newer_version_refused(tmp_path):
    d = TrainingConfig().to_dict()
    d["version"] = CONFIG_VERSION + 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match="newer"):
        load_config(tmp_path / "config.yaml")


def test_fields_have_help_for_forms():
    fields = list(iter_fields(TrainingConfig()))
    names = [f[0] for f in fields]
    assert "model.type" in names and "train.batch_size" in names and "augment.rotation" in names
    for name, _, meta, _ in fields:
        assert meta.get("help"), name
    choices = dict((n, m) for n, _, m, _ in fields)["model.type"]["choices"]
    assert "bottomup" in choices
