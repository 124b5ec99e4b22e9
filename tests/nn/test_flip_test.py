"""Flip test-time augmentation of top-down crops (``flip_test``): each crop is also predicted mirrored, and the
mirrored maps, put back on the crop's grid with left/right nodes swapped, are averaged with the direct ones."""

import math

import numpy as np
import pytest
import torch

from napari_posetrack.nn.inference.predictors import PredictorSettings, TopDownPredictor
from napari_posetrack.nn.inference.toy import blob_frames
from napari_posetrack.nn.inference.topdown import mirror_order, unmirror_maps
from napari_posetrack.nn.targets import confmaps


def test_mirror_order_swaps_pairs_and_is_none_without_them():
    assert mirror_order(5, [[3, 4], [1, 2]]) == [0, 2, 1, 4, 3]
    assert mirror_order(3, []) is None
    assert mirror_order(3, [[1, 1]]) is None


@pytest.mark.parametrize("width, stride", [(96, 2), (97, 2), (96, 1), (100, 4), (98, 4)])
def test_unmirrored_maps_peak_where_the_direct_maps_do(width, stride):
    """Maps of a mirrored image, put back, peak at the same sub-cell position as the maps of the image (node
    0 at x0 and node 1 at x1; in the mirrored image the left/right roles swap)."""
    side = math.ceil(width / stride)
    x0, x1, y = 31.3, 60.2, 20.0
    direct = confmaps(torch.tensor([[[[x0, y], [x1, y]]]]), (side, side), stride, 2.5)
    # the mirrored image shows node 0 at width-1-x0; a model names what it sees left/right-swapped
    mirrored = confmaps(torch.tensor([[[[width - 1 - x1, y], [width - 1 - x0, y]]]]), (side, side), stride, 2.5)
    back = unmirror_maps(mirrored, [1, 0], width, stride)
    xs = torch.arange(side, dtype=torch.float32)

    def centre(m):
        prof = m.sum(-2)
        return (prof * xs).sum(-1) / prof.sum(-1)

    np.testing.assert_allclose(centre(back[0]).numpy(), centre(direct[0]).numpy(), atol=0.01)


def _biased_stages(shift: int):
    """Echo top-down stages (the input image is every map) whose crop model puts every node ``shift`` px to
    the right of where it is: a left/right bias that the mirrored pass sees to the left."""
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.nn.inference.toy import echo_stages

    sk = Skeleton.from_names(["thorax", "left", "right"], [("thorax", "left"), ("thorax", "right")])
    stages = echo_stages("topdown", sk, crop_size=32)
    for name in stages:
        stages[name][1]["model"].update(anchor_node="thorax", heading_node="")
        stages[name][1]["skeleton"]["symmetries"] = [[1, 2]]
    echo, cfg = stages["centered_instance"]

    class Biased(torch.nn.Module):
        in_channels = 1

        def forward(self, x):
            out = echo(x)
            out["confmaps"] = torch.roll(out["confmaps"], shift, dims=-1)
            return out

    stages["centered_instance"] = (Biased(), cfg)
    return stages


@pytest.mark.parametrize("flip", [False, True])
def test_flip_test_cancels_a_left_right_bias(flip):
    truth = np.array([40.0, 50.0])
    frames = blob_frames(
        truth.reshape(1, 1, 1, 2), 100, 100, sigma=3.0)
    pred = TopDownPredictor(_biased_stages(2), torch.device("cpu"),
                            PredictorSettings(flip_test=flip, recenter=False, peak_threshold=0.05,
                                              centroid_threshold=0.05))
    assert pred.mirror_order == [0, 2, 1]
    tab = pred.predict_frames(frames)
    assert len(tab) == 1
    err_x = tab.points[0, :, 0] - truth[0]
    if flip:
        np.testing.assert_allclose(err_x, 0.0, atol=0.3)  # +2 px and -2 px averaged out
    else:
        np.testing.assert_allclose(err_x, 2.0, atol=0.3)
    np.testing.assert_allclose(tab.points[0, :, 1], truth[1], atol=0.3)


def test_flip_test_is_off_by_default_and_skipped_without_pairs():
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.nn.inference.toy import echo_stages

    assert PredictorSettings().flip_test is False
    sk = Skeleton.from_names(["thorax", "tail"], [("thorax", "tail")])
    pred = TopDownPredictor(echo_stages("topdown", sk, crop_size=32), torch.device("cpu"),
                            PredictorSettings(flip_test=True))
    assert pred.mirror_order is None
