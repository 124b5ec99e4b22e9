"""Averaged weights (``train.ema``): the running average follows the steps, is what validation and checkpoints
see, and the raw weights the optimizer steps come back unchanged."""

import pytest
import torch

from napari_posetrack.nn.config import TrainingConfig
from napari_posetrack.nn.ema import WeightAverage


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))


def test_average_follows_the_steps_with_the_early_decay_ramp():
    net = _net()
    ema = WeightAverage(net, 0.9)
    w0 = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update(net)  # first step: decay min(0.9, 2/11)
    d = 2.0 / 11.0
    expect = d * w0 + (1 - d) * (w0 + 1.0)
    with ema.applied(net):
        assert torch.allclose(net[0].weight, expect, atol=1e-6)
    for _ in range(200):
        ema.update(net)  # the weights stay put: the average converges on them
    with ema.applied(net):
        assert torch.allclose(net[0].weight, w0 + 1.0, atol=1e-4)
    assert ema.steps == 201


def test_applied_swaps_in_the_average_and_restores_the_raw_weights():
    net = _net()
    ema = WeightAverage(net, 0.99)
    raw_before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
        net[1].running_mean.fill_(5.0)  # norm statistics are averaged too
    raw = {k: v.clone() for k, v in net.state_dict().items()}
    ema.update(net)
    with ema.applied(net):
        assert not torch.allclose(net[0].weight, raw["0.weight"])
        assert float(net[1].running_mean.mean()) == pytest.approx(5.0 * (1 - 2.0 / 11.0), rel=1e-5)
    for k, v in net.state_dict().items():
        assert torch.equal(v, raw[k]), k
    assert not torch.equal(raw["0.weight"], raw_before["0.weight"])


def test_default_and_bad_decay():
    assert TrainingConfig().train.ema == pytest.approx(0.998)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(_net(), 1.0)


def test_copy_to_leaves_the_average_in_the_model():
    from napari_posetrack.nn.ema import WeightAverage

    model = torch.nn.Linear(3, 2)
    avg = WeightAverage(model, 0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    avg.update(model)
    want = [t.clone() for t in avg.shadow]
    avg.copy_to(model)
    assert torch.equal(model.weight, want[avg.names.index("weight")])
    assert not torch.equal(model.weight, avg.shadow[avg.names.index("weight")] + 1.0)
