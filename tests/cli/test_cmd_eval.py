"""`posetrack eval`: pose metrics (+ tracking metrics when both files are tracked)."""

import json

import numpy as np
import sleap_io as sio

from napari_posetrack.cli import main

from conftest import shared_file


def test_eval_identical_files(tmp_path, capsys):
    slp = shared_file("flies", "two_flies.slp")
    rc = main(["eval", str(slp), str(slp), "--json", str(tmp_path / "m.json"), "--plots", str(tmp_path / "plots")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "OKS mAP 1.000" in out and "PCK@5px 1.000" in out
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["pose"]["oks_map"] == 1.0 and m["pose"]["error"]["mean"] == 0.0
    assert "tracking" in m or "tracking_note" in m  # both files carry tracks
    assert (tmp_path / "plots" / "errors.png").is_file()


def test_eval_shifted_predictions(tmp_path, capsys):
    slp = shared_file("flies", "two_flies.slp")
    labels = sio.load_slp(str(slp))
    for lf in labels.labeled_frames:
        for inst in lf.instances:
            inst.numpy()  # make sure points exist
            pts = inst.points
            pts["xy"] = pts["xy"] + np.array([3.0, 4.0])
    labels.save(str(tmp_path / "shifted.slp"))
    rc = main(["eval", str(slp), str(tmp_path / "shifted.slp"), "--json", str(tmp_path / "m.json")])
    assert rc == 0
    m = json.loads((tmp_path / "m.json").read_text())["pose"]
    assert abs(m["error"]["mean"] - 5.0) < 1e-3 and m["pck"]["4"] == 0.0 and m["pck"]["6"] == 1.0
