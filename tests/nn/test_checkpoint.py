"""Checkpoints: round trip, atomic writes, wrong type, newer version, corrupted weights."""

import pytest
import torch
import yaml

from napari_posetrack.nn.checkpoint import CheckpointError, load_model, save_checkpoint
from napari_posetrack.nn.config import TrainingConfig
from napari_posetrack.nn.model import build_model

torch.set_num_threads(1)


def _cfg(kind="single"):
    return TrainingConfig.from_dict({"skeleton": {"node_names": ["a", "b"], "edges": [[0, 1]]},
                                     "data": {"channels": 1},
                                     "model": {"type": kind, "backbone": {"filters": 4, "down_blocks": 2}}})


def test_round_trip(tmp_path):
    cfg = _cfg()
    m = build_model(cfg)
    save_checkpoint(tmp_path / "m", m, cfg, which=("best", "last"))
    m2, c2 = load_model(tmp_path / "m")
    x = torch.rand(1, 1, 16, 16)
    m.eval()
    assert torch.allclose(m(x)["confmaps"], m2(x)["confmaps"])
    assert c2["skeleton"]["node_names"] == ["a", "b"]


def test_failed_save_keeps_previous(tmp_path, monkeypatch):
    cfg = _cfg()
    m = build_model(cfg)
    save_checkpoint(tmp_path / "m", m, cfg)
    before = (tmp_path / "m" / "last.safetensors").read_bytes()
    from napari_posetrack.nn import checkpoint

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_config", fail)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "m", m, cfg)
    assert (tmp_path / "m" / "last.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp dirs left behind


def test_wrong_type_newer_version_and_corrupt(tmp_path):
    cfg = _cfg("bottomup")
    save_checkpoint(tmp_path / "m", build_model(cfg), cfg)
    with pytest.raises(CheckpointError, match="holds a 'bottomup' model, expected a 'single'"):
        load_model(tmp_path / "m", expect_type="single")
    d = yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())
    d["version"] = 99
    (tmp_path / "m" / "config.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(Exception, match="newer"):
        load_model(tmp_path / "m")
    d["version"] = 1
    (tmp_path / "m" / "config.yaml").write_text(yaml.safe_dump(d))
    (tmp_path / "m" / "last.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupted"):
        load_model(tmp_path / "m")
    with pytest.raises(CheckpointError, match="no config.yaml"):
        load_model(tmp_path / "nothing")
