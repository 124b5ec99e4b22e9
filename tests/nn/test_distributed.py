"""DDP on two CPU processes (gloo): parameters stay in sync and match one process on the global batch."""

import os
import socket

import numpy as np
import torch
import torch.multiprocessing as mp

CFG = {"model": {"sigma": 1.5, "backbone": {"filters": 4, "down_blocks": 2}},
       "train": {"epochs": 1, "batch_size": 2, "steps_per_epoch": 3, "eval_every": 0, "val_fraction": 0.0,
                 "device": "cpu", "scheduler": "none", "seed": 3,
                 "precision": "float32"},  # bf16 rounding differs between batches of 2 and 4 (0.016 on a bf16 CPU)
       "augment": {"enabled": False}}


def _fit(out_dir, batch_size, dist=None, train=None):
    from napari_posetrack.nn.config import TrainingConfig
    from napari_posetrack.nn.data import collect_frames
    from napari_posetrack.nn.toy import make_toy_dataset
    from napari_posetrack.nn.train import prepare_config
    from napari_posetrack.nn.trainer import iter_fit

    ds = make_toy_dataset(8, (32, 32))
    cfg = prepare_config(TrainingConfig(), "single", ds, CFG)
    cfg.train.batch_size = batch_size
    for k, v in (train or {}).items():
        setattr(cfg.train, k, v)
    gen = iter_fit(collect_frames(ds), cfg, out_dir, dist=dist)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value["model"] if train is None else stop.value


def _worker(rank, world, port, tmp):
    import torch.distributed as dist

    from napari_posetrack.nn.trainer import DistInfo

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = _fit(os.path.join(tmp, "ddp"), 2, DistInfo(rank, world))
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
                   os.path.join(tmp, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_match_single(tmp_path):
    torch.set_num_threads(1)
    # fork: the children inherit the imported torch (spawn would re-import it, ~10 s each)
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork")
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in r0:
        assert torch.allclose(r0[k], r1[k], atol=1e-6), k  # replicas in sync
    single = _fit(tmp_path / "single", 4).state_dict()  # one process, same global batch of 4
    diffs = [float((single[k] - r0[k]).abs().max()) for k in r0]
    assert max(diffs) < 1e-4, max(diffs)
    from napari_posetrack.nn.config import TrainingConfig
    from napari_posetrack.nn.model import build_model
    from napari_posetrack.nn.toy import make_toy_dataset
    from napari_posetrack.nn.train import prepare_config

    torch.manual_seed(CFG["train"]["seed"])
    init = build_model(prepare_config(TrainingConfig(), "single", make_toy_dataset(2, (32, 32)), CFG)).state_dict()
    moved = max(float((init[k].float() - r0[k].float()).abs().max()) for k in r0)
    assert np.isfinite(moved) and moved > 1e-4  # training really changed the weights
    assert (tmp_path / "ddp" / "best.safetensors").is_file()  # written by rank 0 only


def _budget_worker(rank, world, port, tmp):
    import torch.distributed as dist

    import napari_posetrack.nn.trainer as trainer
    from napari_posetrack.nn.trainer import DistInfo

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        if rank == 1:  # this rank's clock says the time is up; rank 0's does not
            trainer.Budget.over = lambda self, reserve=0.0: True
        res = _fit(os.path.join(tmp, "ddp"), 2, DistInfo(rank, world),
                   train={"epochs": 3, "max_minutes": 60.0, "scheduler": "cosine"})
        torch.save({"steps": torch.tensor(len(res["history"])),
                    **{k: v.detach().clone() for k, v in res["model"].state_dict().items()}},
                   os.path.join(tmp, f"rank{rank}.pt"))
        with open(os.path.join(tmp, f"stopped{rank}.txt"), "w") as f:
            f.write(res["stopped"])
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_stop_together_when_one_clock_runs_out(tmp_path):
    """Each rank reads its own clock; when one rank's budget is over, every rank stops at the same step (a rank
    that went on would wait forever in the gradient all-reduce) and the replicas stay equal."""
    import time

    torch.set_num_threads(1)
    ctx = mp.start_processes(_budget_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=False,
                             start_method="fork")
    deadline = time.monotonic() + 120
    while not ctx.join(timeout=2):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                proc.kill()
            raise AssertionError("the ranks did not finish together: one waited in the all-reduce")
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in r0:
        assert torch.allclose(r0[k].float(), r1[k].float(), atol=1e-6), k
    assert int(r0["steps"]) == 1  # one epoch: rank 1 asked to stop at its second step, rank 0 stopped with it
    assert (tmp_path / "stopped0.txt").read_text() == "time limit" == (tmp_path / "stopped1.txt").read_text()
