"""``posetrack calibrate`` on rendered ChArUco images of a known rig, and its bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

pytest.importorskip("cv2")

from napari_posetrack.cli import main  # noqa: E402
from napari_posetrack.core.multiview import BoardSpec, load_calibration, load_from_store  # noqa: E402
from napari_posetrack.core.multiview.synthetic import (board_poses, synthetic_rig, walking_points,  # noqa: E402
                                                       write_board_images, write_synthetic_session)

BOARD_TOML = ("board_x = 8\nboard_y = 11\nsquare_length = 24.0\nmarker_length = 18.75\nmarker_bits = 4\n"
              "dict_size = 1000\n")


@pytest.fixture()
def rig_session(tmp_path):
    board = BoardSpec(8, 11, 24.0, 18.75, 4, 1000)
    group = synthetic_rig(3, radius=420, height=300)
    folder = write_synthetic_session(tmp_path / "sess", group, walking_points(4, 3), write_calibration=False)
    write_board_images(folder, board, group, board_poses(board, 8, tilt_deg=25, seed=2))
    (folder / "board.toml").write_text(BOARD_TOML)
    return folder, group


def test_calibrate_rendered_session(rig_session, tmp_path, capsys):
    folder, truth = rig_session
    out, rep = tmp_path / "calibration.toml", tmp_path / "report.json"
    assert main(["calibrate", str(folder), "--board", str(folder / "board.toml"), "--out", str(out),
                 "--report", str(rep)]) == 0
    text = capsys.readouterr().out
    assert "reference camera: cam0" in text and "3 cameras calibrated" in text and "median px" in text
    group = load_calibration(out)
    assert group.names == ["cam0", "cam1", "cam2"]
    for a, b in zip(truth.cameras, group.cameras):
        assert b.matrix[0, 0] == pytest.approx(a.matrix[0, 0], rel=0.02)
        np.testing.assert_allclose(b.tvec, a.tvec, atol=8.0)
    report = json.loads(rep.read_text())
    assert all(r["median_px"] < 0.5 for r in report["per_camera"])
    assert {r["camera"] for r in report["per_view"]} == {"cam0", "cam1", "cam2"}
    # an existing output is kept unless --overwrite
    assert main(["calibrate", str(folder), "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_calibrate_into_a_store(rig_session, tmp_path, capsys):
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.core.store import ProjectStore

    folder, _ = rig_session
    proj = tmp_path / "p.posetrack.zarr"
    ProjectStore.create(proj, Skeleton.from_names(["n0", "n1", "n2"])).close()
    assert main(["calibrate", str(folder), "--out", str(tmp_path / "c.toml"), "--store", str(proj), "--quiet"]) == 0
    assert load_from_store(proj).names == ["cam0", "cam1", "cam2"]
    assert main(["calibrate", str(folder), "--out", str(tmp_path / "d.toml"), "--store",
                 str(tmp_path / "none.posetrack.zarr")]) == 1
    assert "No project store at" in capsys.readouterr().err and not (tmp_path / "d.toml").exists()


def test_board_not_found_in_enough_images(rig_session, tmp_path, capsys):
    import cv2

    folder, _ = rig_session
    for p in sorted((folder / "cam2" / "calibration_images").glob("*.png"))[3:]:
        cv2.imwrite(str(p), np.full((480, 640), 90, np.uint8))  # the board left the view
    assert main(["calibrate", str(folder), "--out", str(tmp_path / "c.toml"), "--min-views", "4"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"Camera 'cam2': the board was found in [0-3] of 8 images, but at least 4 are needed", err)
    assert "cam2-3.png" in err and "cam2-7.png" in err and not (tmp_path / "c.toml").exists()


def test_calibrate_without_a_board_description(rig_session, tmp_path, capsys):
    folder, _ = rig_session
    (folder / "board.toml").unlink()
    assert main(["calibrate", str(folder), "--out", str(tmp_path / "c.toml")]) == 1
    assert "names no board description" in capsys.readouterr().err
    (tmp_path / "b.toml").write_text("board_x = 8\nsquare_length = 24.0\n")
    assert main(["calibrate", str(folder), "--board", str(tmp_path / "b.toml"), "--out", str(tmp_path / "c.toml")]) == 1
    assert "lacks ['board_y']" in capsys.readouterr().err


def test_failed_calibration_leaves_the_project_store_untouched(rig_session, tmp_path, capsys):
    import cv2

    from napari_posetrack.core.multiview import CalibrationError
    from napari_posetrack.core.skeleton import Skeleton
    from napari_posetrack.core.store import ProjectStore

    folder, _ = rig_session
    proj = tmp_path / "p.posetrack.zarr"
    ProjectStore.create(proj, Skeleton.from_names(["n0", "n1", "n2"])).close()
    before = {str(p.relative_to(proj)): p.read_bytes() for p in sorted(proj.rglob("*")) if p.is_file()}
    for p in sorted((folder / "cam1" / "calibration_images").glob("*.png"))[2:]:
        cv2.imwrite(str(p), np.full((480, 640), 90, np.uint8))  # the board left the view
    assert main(["calibrate", str(folder), "--out", str(tmp_path / "c.toml"), "--store", str(proj)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"Camera 'cam1': the board was found in [0-2] of 8 images, but at least 3 are needed", err)
    assert "cam1-2.png" in err and not (tmp_path / "c.toml").exists()
    after = {str(p.relative_to(proj)): p.read_bytes() for p in sorted(proj.rglob("*")) if p.is_file()}
    assert after == before
    with pytest.raises(CalibrationError, match="holds no camera calibration"):
        load_from_store(proj)
