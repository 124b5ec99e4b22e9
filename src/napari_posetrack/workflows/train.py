"""``posetrack train``: train a pose model from labeled data.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_train`).
"""

from __future__ import annotations



def train(inputs, *, model: str = "single", out="model", config=None, epochs=None, max_minutes=None,
          batch_size=None, device=None, seed=None, resume: bool = False, show_progress: bool = True,
          cancel=None, identity_map=None) -> dict:
    """Train a model; returns ``{"kind", "out_dir", "stages": {stage: result}}``."""
    from ..core.progress import drain
    from ..nn.distributed import init_from_env
    from ..nn.train import iter_train

    dist = init_from_env()  # torchrun: data-parallel over all ranks

    tr = {k: v for k, v in {"epochs": epochs, "max_minutes": max_minutes, "batch_size": batch_size,
                            "device": device, "seed": seed}.items() if v is not None}
    overrides = {"train": tr} if tr else {}
    if identity_map:
        from ..core.identity import check_identity_map_kind, parse_identity_map

        check_identity_map_kind(identity_map, model)
        overrides["data"] = {"identity_map": parse_identity_map(identity_map)}
    gen = iter_train(list(inputs), model, out, config=config, overrides=overrides or None,
                     resume=resume, cancel=cancel, dist=dist)
    return drain(_log_messages(gen), desc="train", show=show_progress and (dist is None or dist.is_main))


def _log_messages(gen):
    import sys

    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            return stop.value
        if ev.message and ev.stage in ("setup", "stage", "validate"):
            print(ev.message, file=sys.stderr)
        yield ev

