"""``posetrack predict``: run a trained model on videos, labeled frames or a whole project."""

from __future__ import annotations


from ..workflows.predict import predict

NAME = "predict"
HELP = "predict poses on videos, a labels file's labeled frames, or a project store"
DESCRIPTION = (
    "Run the model in MODEL_DIR (written by `posetrack train`) on each INPUT: a video file or image "
    "folder (every frame, or --frames A:B), a labels file such as .slp (its labeled frames), or a "
    "project store (all its videos). Predictions go to OUT: a .slp file (written once, at the end) or a "
    "project store (*.posetrack.zarr), where they stream in as they are made, so an interrupted run "
    "resumes where it stopped when you run the same command again."
)


def add_arguments(parser) -> None:
    from ..core.tracking import TRACKERS  # the registry (core: no torch, no napari)

    parser.add_argument("model_dir", help="model directory (single, bottom-up, or top-down with two sub-models)")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, labels files or project stores")
    parser.add_argument("--out", "-o", required=True, help="output .slp (or other labels format) or project store")
    parser.add_argument("--frames", default=None, help="frame range A:B (B excluded; A: or :B allowed)")
    parser.add_argument("--batch-size", type=int, default=8, help="frames per batch (default 8)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default auto)")
    parser.add_argument("--max-instances", type=int, default=None,
                        help="keep at most N animals per frame (default: --max-tracks when tracking)")
    parser.add_argument("--peak-threshold", type=float, default=0.2, help="minimum node confidence (default 0.2)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, faster runs)")
    parser.add_argument("--cpu-bf16", action="store_true",
                        help="on a CPU with native bfloat16 (AVX512-BF16/AMX), run the network in bfloat16: about 2x "
                             "faster, results differ slightly from float32")
    parser.add_argument("--flip-test", action="store_true",
                        help="top-down: also predict each crop mirrored (left/right nodes swapped) and average the "
                             "maps: more accurate (fly benchmark's default model: PCK@5px 0.804 -> 0.830), about 1.5x "
                             "slower")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="run the networks in torch (default) or onnxruntime; with onnx, MODEL_DIR may also be "
                             "a folder written by `posetrack export-model`")
    parser.add_argument("--tracker", default=None, choices=TRACKERS.names(),
                        help="track after predicting with this tracker")
    parser.add_argument("--max-tracks", type=int, default=None, help="number of animals for the tracker")
    parser.add_argument("--identity-weight", type=float, default=None, metavar="W",
                        help="identity models with --tracker: weight W (0..1, default 0.5) of the class "
                             "probabilities against the poses in the tracker's cost, then of the appearance against "
                             "the tracklets when they are named after the animals; 0 = poses and tracklets alone")
    parser.add_argument("--scheduler", default=None,
                        help="run on Dask distributed: 'local' (a local cluster) or a scheduler address")
    parser.add_argument("--workers", type=int, default=2, help="workers of a local cluster (default 2)")
    parser.add_argument("--chunk-frames", type=int, default=2000,
                        help="with --scheduler, frames per task (long videos are split; default 2000)")
    parser.add_argument("--scheduler-timeout", type=float, default=10.0,
                        help="seconds to wait for the scheduler to answer (default 10)")
    parser.add_argument("--flush-every", type=int, default=256,
                        help="with a store OUT, frames between writes (what a killed run can lose; default 256)")
    parser.add_argument("--no-resume", action="store_true", help="with a store OUT, predict again frames it has")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it is an existing file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import sys

    res = predict(args.model_dir, args.inputs, args.out, show=not args.quiet, frames=args.frames,
                  batch_size=args.batch_size, device=args.device, max_instances=args.max_instances,
                  peak_threshold=args.peak_threshold, tracker=args.tracker, max_tracks=args.max_tracks,
                  scheduler=args.scheduler, workers=args.workers, chunk_frames=args.chunk_frames,
                  resume=not args.no_resume, overwrite=args.overwrite, scheduler_timeout=args.scheduler_timeout,
                  flush_every=args.flush_every, compile=args.compile, cpu_bf16=args.cpu_bf16,
                  backend=args.backend, identity_weight=args.identity_weight, flip_test=args.flip_test)
    for w in res.warnings:
        print(f"posetrack predict: warning: {w}", file=sys.stderr)
    print(f"predicted {res.n_frames} frames, {res.n_instances} instances in {res.seconds:.1f} s "
          f"({res.fps:.1f} frames/s) -> {args.out}")
    return 0
