"""Registries are the single source of truth: taken names are refused, and the CLI lists what they hold."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from napari_posetrack.core.errors import ConfigError
from napari_posetrack.core.io import FORMATS, FormatSpec, register_format
from napari_posetrack.core.registry import MODEL_KINDS, DuplicateNameError, Registry
from napari_posetrack.core.tracking import COSTS, register_cost


def test_registry_refuses_a_second_entry_under_a_taken_name():
    reg = Registry("widget")

    @reg.register("a")
    def first():
        return 1

    def other():
        return 2

    with pytest.raises(DuplicateNameError, match="'a' is taken by .*first") as err:
        reg.register("a", other)
    assert "Pick another name" in err.value.hint
    with pytest.raises(DuplicateNameError):
        reg.update({"a": other})
    assert reg["a"] is first  # the refused entry left the old one in place
    reg.register("a", first)  # the same object again (a module reload) is fine
    del reg["a"]
    reg["a"] = other  # after unregistering, the name is free
    assert reg.names() == ["a"] and isinstance(reg, dict)


def test_registry_lookup_lists_the_known_names():
    reg = Registry("colour", {"red": 1, "green": 2})
    assert reg.lookup("green") == 2 and reg.get("blue") is None  # get stays dict.get
    with pytest.raises(ConfigError, match="Unknown colour 'blue'") as err:
        reg.lookup("blue")
    assert "red, green" in err.value.hint
    with pytest.raises(ConfigError, match="non-empty string name"):
        reg[""] = 3


def test_cost_and_format_registries_refuse_duplicates():
    with pytest.raises(DuplicateNameError, match="tracking cost name 'oks'"):
        @register_cost("oks")
        def my_oks(a, b):
            return np.zeros((len(a), len(b)))

    assert COSTS["oks"].__name__ != "my_oks"
    with pytest.raises(DuplicateNameError, match="file format name 'slp'"):
        register_format(FormatSpec("slp", "another slp", ("*.slp",), None, None))
    assert FORMATS["slp"].description != "another slp"


def test_live_sources_are_a_registry():
    pytest.importorskip("torch")
    from napari_posetrack.nn.live.sources import SOURCES, register_source

    assert {"file", "camera", "stream"} <= set(SOURCES)
    with pytest.raises(DuplicateNameError):
        @register_source("file")
        class Other:  # noqa: B903
            pass


def test_model_kinds_match_the_training_pipelines():
    pytest.importorskip("torch")
    from napari_posetrack.nn.train import PIPELINES

    assert set(MODEL_KINDS) == set(PIPELINES), "core.registry.MODEL_KINDS and nn.train.PIPELINES disagree"


def _choices(module, option: str):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    action = next(a for a in parser._actions if option in a.option_strings)
    return action


def test_cli_choices_come_from_the_registries():
    from napari_posetrack.cli import cmd_export, cmd_train

    assert list(_choices(cmd_train, "--model").choices) == MODEL_KINDS.names()
    help_text = _choices(cmd_export, "--format").help
    writable = [n for n, s in FORMATS.items() if s.save is not None]
    assert help_text == "one of: " + ", ".join(writable)


def test_trackers_and_backbones_refuse_duplicates_and_feed_the_cli():
    from napari_posetrack.cli import cmd_track
    from napari_posetrack.core.tracking import TRACKERS, register_tracker

    assert list(_choices(cmd_track, "--tracker").choices) == TRACKERS.names()
    assert list(_choices(cmd_track, "--cost").choices) == COSTS.names()
    with pytest.raises(DuplicateNameError, match="tracker name 'simple'"):
        @register_tracker("simple")
        class Mine(TRACKERS["kalman"]):
            pass

    pytest.importorskip("torch")
    from napari_posetrack.nn.backbones import BACKBONES, register_backbone

    assert isinstance(BACKBONES, Registry) and "unet" in BACKBONES
    with pytest.raises(DuplicateNameError):
        @register_backbone("unet")
        class Other:  # noqa: B903
            pass


def test_predict_tracker_and_import_info_formats_come_from_the_registries():
    from napari_posetrack.cli import cmd_import, cmd_info, cmd_predict
    from napari_posetrack.core.tracking import TRACKERS

    assert list(_choices(cmd_predict, "--tracker").choices) == TRACKERS.names()
    readable = [n for n, s in FORMATS.items() if s.load is not None]
    for module in (cmd_import, cmd_info):
        assert _choices(module, "--format").help.endswith(": " + ", ".join(readable))


def test_config_backbone_choices_are_the_backbone_registry():
    """model.backbone.name accepts exactly the registered backbones, a new one as soon as it is registered."""
    pytest.importorskip("torch")
    from napari_posetrack.nn.backbones import BACKBONES, UNet, register_backbone
    from napari_posetrack.nn.config import BackboneConfig, TrainingConfig, iter_fields

    def choices():
        return list(dict((n, m) for n, _, m, _ in iter_fields(TrainingConfig()))["model.backbone.name"]["choices"])

    assert choices() == BACKBONES.names()
    with pytest.raises(ConfigError, match=r"model.backbone.name = 'mine' is invalid: expected one of \['unet'"):
        BackboneConfig(name="mine").validate()

    @register_backbone("mine")
    class Mine(UNet):
        pass

    try:
        assert choices()[-1] == "mine"
        BackboneConfig(name="mine").validate()  # valid now, with no other edit
        cfg = TrainingConfig.from_dict({"model": {"backbone": {"name": "mine", "filters": 4, "down_blocks": 2}}})
        from napari_posetrack.nn.backbones import build_backbone

        assert isinstance(build_backbone(cfg.model.backbone, 1, 1), Mine)
    finally:
        del BACKBONES["mine"]
    assert "mine" not in choices()
