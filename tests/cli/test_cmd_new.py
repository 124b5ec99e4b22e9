"""``posetrack new``: create a store from videos and a skeleton taken from many kinds of file."""

from __future__ import annotations

import json

import pytest

from conftest import shared_file
from napari_posetrack import api
from napari_posetrack.cli import main
from napari_posetrack.workflows.new import load_skeleton, new
from napari_posetrack.core.errors import FormatError
from napari_posetrack.core.skeleton import Skeleton
from napari_posetrack.core.store import ProjectStore


def test_cli_new_with_slp_skeleton_and_video(tmp_path, capsys):
    video = shared_file("flies", "two_flies.mp4")
    slp = shared_file("flies", "two_flies.slp")
    rc = main(["new", str(tmp_path / "flies.posetrack.zarr"), "--video", str(video), "--skeleton", str(slp)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "13 nodes" in out and "128 frames" in out
    store = ProjectStore.open(tmp_path / "flies.posetrack.zarr")
    assert store.skeleton.n_nodes == 13 and len(store.skeleton.edges) == 12
    assert store.videos[0].path == str(video) and store.videos[0].n_frames == 128
    # existing store: refused with a clear message, exit status 1
    assert main(["new", str(tmp_path / "flies.posetrack.zarr")]) == 1
    assert "already exists" in capsys.readouterr().err


def test_dlc_config_keeps_config_order(tmp_path):
    sk = load_skeleton(shared_file("mouse-openfield", "config.yaml"))
    assert sk.node_names == ["snout", "leftear", "rightear", "tailbase"]
    multi = load_skeleton(shared_file("fixtures", "dlc", "madlc_230_config.yaml"))
    assert multi.node_names == ["A", "B", "C", "D", "E"]
    assert multi.edge_names == [("A", "B"), ("B", "C"), ("A", "C")]
    # a DLC project with its labeled-data folder as images
    store = new(tmp_path / "mouse", [shared_file("mouse-openfield", "labeled-data", "m4s1")],
                shared_file("mouse-openfield"))
    assert store.path.name == "mouse.posetrack.zarr" and store.videos[0].kind == "images"
    assert store.videos[0].n_frames == 116


def test_json_yaml_and_store_skeletons(tmp_path):
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"node_names": ["a", "b", "c"], "edges": [[0, 1]], "symmetries": [[1, 2]]}))
    assert load_skeleton(ours) == Skeleton(["a", "b", "c"], [(0, 1)], [(1, 2)])
    named = tmp_path / "named.yaml"
    named.write_text("name: bug\nnodes: [head, tail]\nedges: [[head, tail]]\n")
    sk = load_skeleton(named)
    assert sk.node_names == ["head", "tail"] and sk.edges == [(0, 1)] and sk.name == "bug"
    store = api.new(tmp_path / "p.posetrack.zarr", skeleton=named)
    assert load_skeleton(store.path) == sk  # another store
    assert load_skeleton(tmp_path) == sk  # a folder holding one store


def test_bad_skeleton_files(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        load_skeleton(tmp_path / "nope.json")
    junk = tmp_path / "junk.yaml"
    junk.write_text("- just\n- a list\n")
    with pytest.raises(FormatError, match="skeleton"):
        load_skeleton(junk)
    odd = tmp_path / "skel.txt"
    odd.write_text("x")
    with pytest.raises(FormatError, match="Unknown skeleton file type"):
        load_skeleton(odd)
    with pytest.raises(FormatError):
        new(tmp_path / "x.posetrack.zarr", [], odd)
    assert not (tmp_path / "x.posetrack.zarr").exists()
