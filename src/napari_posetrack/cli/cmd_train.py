"""``posetrack train``: train a pose model from labeled data."""

from __future__ import annotations

from ..core.registry import MODEL_KINDS

from ..workflows.train import train

NAME = "train"
HELP = "train a single-instance, top-down or bottom-up pose model"
DESCRIPTION = (
    "Train a pose model on INPUT (project stores, .slp files or DeepLabCut projects; several are merged) "
    "and write a model directory to --out (config.yaml + weights; for top-down, centroid/ and "
    "centered_instance/). A YAML --config holds sections model/preprocess/augment/train (see "
    "docs/training.md) and, for top-down, optional centroid:/centered_instance: override sections."
)


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="store, .slp file or DeepLabCut project")
    parser.add_argument("--model", default="single", choices=MODEL_KINDS.names(),
                        help="model kind: " + "; ".join(f"{k}: {v}" for k, v in MODEL_KINDS.items()))
    parser.add_argument("--identity-map", action="append", metavar="OLD=NEW",
                        help="identity models: rename track OLD to class NEW (repeat, or comma-separate)")
    parser.add_argument("--out", "-o", required=True, help="model directory to write")
    parser.add_argument("--config", help="YAML config (see docs/training.md)")
    parser.add_argument("--epochs", type=int, help="maximum epochs")
    parser.add_argument("--max-minutes", type=float, help="time limit in minutes (whole run)")
    parser.add_argument("--batch-size", type=int, help="batch size")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="device (default auto)")
    parser.add_argument("--seed", type=int, help="random seed (split, init, augmentation)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..core.metrics.pose import format_metrics

    result = train(args.inputs, model=args.model, out=args.out, config=args.config, epochs=args.epochs,
                   max_minutes=args.max_minutes, batch_size=args.batch_size, device=args.device, seed=args.seed,
                   resume=args.resume, show_progress=not args.quiet, identity_map=args.identity_map)
    for stage, res in result["stages"].items():
        print(f"{stage}: {res['epochs_run']} epochs ({res['stopped']}), best epoch {res['best_epoch']}, "
              f"best val loss {res['best_val_loss']:.4g}")
        if res.get("metrics"):
            print("  " + format_metrics(res["metrics"]).replace("\n", "\n  "))
    print(f"model written to {result['out_dir']}")
    return 0
