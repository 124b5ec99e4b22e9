"""Backbones and models: output shapes per stride, ResNet pretrained weights from a local file."""

import pytest
import torch

from napari_posetrack.core.errors import ConfigError
from napari_posetrack.nn.backbones import BACKBONES, ResNetUNet
from napari_posetrack.nn.config import TrainingConfig
from napari_posetrack.nn.model import build_model

torch.set_num_threads(1)
SK = {"node_names": ["a", "b", "c"], "edges": [[0, 1], [1, 2]]}


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("stride", [1, 4])
def test_model_output_shapes(name, stride):
    cfg = TrainingConfig.from_dict({"skeleton": SK, "data": {"channels": 3}, "model": {
        "type": "bottomup", "output_stride": stride, "offsets": True,
        "backbone": {"name": name, "filters": 4, "down_blocks": 3}}})
    out = build_model(cfg)(torch.rand(2, 3, 32, 48))
    h, w = 32 // stride, 48 // stride
    assert out["confmaps"].shape == (2, 3, h, w)
    assert out["pafs"].shape == (2, 4, h, w)
    assert out["offsets"].shape == (2, 6, h, w)


def test_resnet_pretrained_from_local_file(tmp_path):
    from safetensors.torch import save_file

    base = {"skeleton": SK, "data": {"channels": 1},
            "model": {"backbone": {"name": "resnet", "filters": 4, "down_blocks": 2}}}
    m1 = build_model(TrainingConfig.from_dict(base))
    sd = {f"encoder.{k}": v.clone() for k, v in m1.backbone.encoder.state_dict().items()}
    save_file(sd, str(tmp_path / "enc.safetensors"))
    base["model"]["backbone"]["pretrained"] = str(tmp_path / "enc.safetensors")
    m2 = build_model(TrainingConfig.from_dict(base))
    for k, v in m1.backbone.encoder.state_dict().items():
        assert torch.equal(v, m2.backbone.encoder.state_dict()[k])
    (tmp_path / "bad.pt").write_bytes(b"not a pickle")
    base["model"]["backbone"]["pretrained"] = str(tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match="Cannot read pretrained"):
        build_model(TrainingConfig.from_dict(base))
    assert isinstance(m2.backbone, ResNetUNet)
