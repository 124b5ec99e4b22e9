"""Augmentation: the affine moves image content and points together; flips swap symmetric nodes."""

import torch

from napari_posetrack.nn.augment import apply_affine, augment_batch, random_affine
from napari_posetrack.nn.config import AugmentConfig

torch.set_num_threads(1)


def test_affine_moves_image_and_points_together():
    cfg = AugmentConfig(rotation=180, scale_min=0.8, scale_max=1.2, translate=0.1, flip=0.5)
    g = torch.Generator().manual_seed(0)
    img = torch.zeros(1, 1, 64, 64)
    img[0, 0, 20, 30] = 1.0
    pts = torch.tensor([[[[30.0, 20.0]]]])
    for _ in range(8):
        M, t, flip = random_affine(1, cfg, (64, 64), generator=g)
        out, p = apply_affine(img, pts, M, t, flip, [0])
        r, c = divmod(int(out[0, 0].argmax()), 64)
        assert abs(c - float(p[0, 0, 0, 0])) <= 1.0 and abs(r - float(p[0, 0, 0, 1])) <= 1.0


def test_flip_swaps_symmetric_nodes():
    cfg = AugmentConfig(rotation=0, scale_min=1, scale_max=1, translate=0, flip=1.0, brightness=0, contrast=0,
                        noise=0)
    img = torch.rand(1, 1, 32, 32)
    pts = torch.tensor([[[[10.0, 5.0], [20.0, 5.0], [15.0, 9.0]]]])  # left, right, centre
    out, p, _ = augment_batch(img.clone(), pts, cfg, flip_perm=[1, 0, 2], generator=torch.Generator().manual_seed(1))
    assert torch.allclose(out, img.flip(-1), atol=1e-5)
    # mirrored x = 31 - x, and nodes 0/1 swapped: new "left" is the mirror of the old "right"
    assert torch.allclose(p[0, 0], torch.tensor([[31 - 20.0, 5.0], [31 - 10.0, 5.0], [31 - 15.0, 9.0]]))


def test_photometric_stays_in_range():
    cfg = AugmentConfig(rotation=0, translate=0, brightness=0.5, contrast=0.5, noise=0.2)
    out, _, _ = augment_batch(torch.rand(4, 1, 16, 16), None, cfg, generator=torch.Generator().manual_seed(2))
    assert out.min() >= 0 and out.max() <= 1
