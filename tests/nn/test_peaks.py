"""Peak finding on synthetic Gaussian confidence maps."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from napari_posetrack.nn.inference.peaks import find_global_peaks, find_local_peaks  # noqa: E402


def gaussian_map(h, w, centers, sigma=2.0):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    m = np.zeros((h, w))
    for x, y in centers:
        m = np.maximum(m, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)))
    return m.astype(np.float32)


def test_local_peaks_quadratic_is_exact_on_gaussians():
    centers = [(10.3, 12.7), (40.81, 20.06), (25.5, 50.25)]
    cms = torch.from_numpy(np.stack([gaussian_map(64, 64, centers)]))[None]  # (1, 1, 64, 64)
    b, c, xy, val = find_local_peaks(cms, threshold=0.3, refine="quadratic")
    assert len(xy) == 3
    got = sorted(map(tuple, xy.numpy().round(4)))
    want = sorted(centers)
    np.testing.assert_allclose(np.array(got), np.array(want), atol=1e-3)
    assert (val > 0.8).all() and (b == 0).all() and (c == 0).all()


def test_integral_refinement_subpixel_and_none_is_integer():
    cms = torch.from_numpy(gaussian_map(32, 32, [(15.3, 9.6)], sigma=1.5))[None, None]
    _, _, xy, _ = find_local_peaks(cms, threshold=0.1, refine="integral")
    _, _, xy0, _ = find_local_peaks(cms, threshold=0.1, refine="none")
    np.testing.assert_array_equal(xy0.numpy()[0], [15.0, 10.0])
    err_int = np.abs(xy0.numpy()[0] - [15.3, 9.6])
    err = np.abs(xy.numpy()[0] - [15.3, 9.6])
    assert (err < err_int).all() and err.max() < 0.2  # biased towards the integer peak, but closer


def test_threshold_and_channels_and_batch():
    a = gaussian_map(32, 32, [(5, 5)])
    b_ = gaussian_map(32, 32, [(20, 25)]) * 0.1  # below threshold
    cms = torch.from_numpy(np.stack([np.stack([a, b_]), np.stack([b_, a])]))  # (2, 2, 32, 32)
    b, c, xy, val = find_local_peaks(cms, threshold=0.2)
    assert b.tolist() == [0, 1] and c.tolist() == [0, 1]
    gxy, gval = find_global_peaks(cms, threshold=0.2)
    assert gxy.shape == (2, 2, 2)
    assert torch.isnan(gxy[0, 1]).all() and torch.isnan(gxy[1, 0]).all()
    np.testing.assert_allclose(gxy[0, 0].numpy(), [5, 5], atol=1e-4)


def test_global_peaks_exact_and_border():
    m = gaussian_map(24, 30, [(7.25, 3.75)])
    cms = torch.from_numpy(np.stack([m, gaussian_map(24, 30, [(0.0, 0.0)])]))[None]
    xy, val = find_global_peaks(cms, threshold=0.1)
    np.testing.assert_allclose(xy[0, 0].numpy(), [7.25, 3.75], atol=1e-3)
    np.testing.assert_allclose(xy[0, 1].numpy(), [0.0, 0.0], atol=1e-6)  # border peak stays integer


def test_unknown_refinement_is_a_clear_error():
    from napari_posetrack.core.errors import ConfigError

    with pytest.raises(ConfigError, match="quadratic"):
        find_global_peaks(torch.zeros(1, 1, 4, 4), refine="bogus")
