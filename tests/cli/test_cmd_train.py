"""`posetrack train` on a real .pkg.slp (embedded frames) with a YAML config."""

import torch
import yaml

from napari_posetrack.cli import main
from napari_posetrack.nn.checkpoint import load_model

from conftest import shared_file

torch.set_num_threads(1)


def test_train_cli_bottomup_on_pkg_slp(tmp_path, capsys):
    slp = shared_file("fixtures", "minimal_instance.pkg.slp")
    cfg = {"model": {"sigma": 3.0, "backbone": {"filters": 4, "down_blocks": 2}},
           "preprocess": {"input_scale": 0.25}, "train": {"steps_per_epoch": 2, "batch_size": 1, "val_fraction": 0.0}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "model"
    rc = main(["train", str(slp), "--model", "bottomup", "--out", str(out), "--config", str(tmp_path / "c.yaml"),
               "--epochs", "2", "--seed", "1", "--device", "cpu", "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "bottomup: 2 epochs" in text and f"model written to {out}" in text
    model, conf = load_model(out)
    assert conf["preprocess"]["input_scale"] == 0.25 and conf["train"]["seed"] == 1
    assert conf["skeleton"]["node_names"] == ["A", "B"]


def test_train_cli_errors_cleanly(tmp_path, capsys):
    rc = main(["train", str(tmp_path / "missing.slp"), "--out", str(tmp_path / "m")])
    assert rc == 1
    assert "does not exist" in capsys.readouterr().err
