"""Training targets: Gaussian confidence maps, PAFs, offsets."""

import numpy as np
import torch

from napari_posetrack.nn.targets import centroid_maps, confmaps, offset_maps, pafs

torch.set_num_threads(1)


def test_confmap_peak_at_point_and_nan_ignored():
    pts = torch.tensor([[[[10.0, 6.0], [float("nan"), float("nan")]]]])  # (B=1, N=1, K=2, 2)
    cm = confmaps(pts, (16, 16), stride=2, sigma=2.0)
    assert cm.shape == (1, 2, 16, 16)
    r, c = divmod(int(cm[0, 0].argmax()), 16)
    assert (c * 2, r * 2) == (10, 6)
    assert float(cm[0, 0].max()) == 1.0
    assert float(cm[0, 1].max()) == 0.0


def test_confmap_max_over_instances():
    pts = torch.tensor([[[[4.0, 4.0]], [[20.0, 20.0]]]])
    cm = confmaps(pts, (32, 32), 1, 1.5)
    assert cm[0, 0, 4, 4] == 1 and cm[0, 0, 20, 20] == 1
    cen = centroid_maps(torch.tensor([[[8.0, 8.0]]]), (16, 16), 1, 1.0)
    assert cen.shape == (1, 1, 16, 16) and cen[0, 0, 8, 8] == 1


def test_paf_points_along_edge():
    pts = torch.tensor([[[[4.0, 10.0], [24.0, 10.0]]]])
    paf = pafs(pts, [(0, 1)], (20, 30), stride=1, width=2.0)
    assert paf.shape == (1, 2, 20, 30)
    assert torch.allclose(paf[0, :, 10, 14], torch.tensor([1.0, 0.0]))
    assert paf[0, 0, 18, 14] == 0  # far from the segment


def test_offsets_point_to_node():
    pts = torch.tensor([[[[5.3, 7.6]]]])
    off, w = offset_maps(pts, (8, 8), stride=2, sigma=1.5)
    assert off.shape == (1, 2, 8, 8)
    r, c = 4, 3  # grid (6, 8) -> node (5.3, 7.6)
    assert w[0, 0, r, c] == 1
    assert np.allclose(off[0, :, r, c].numpy(), [5.3 - 6, 7.6 - 8], atol=1e-5)
