"""``posetrack eval``: score predictions against ground truth (pose and, if tracked, identity)."""

from __future__ import annotations

from ..workflows.eval import eval

NAME = "eval"
HELP = "compare predictions with ground truth: OKS mAP/mAR, PCK, pixel errors (+ tracking and identity metrics)"
DESCRIPTION = (
    "Score PRED against GT (labels files or project stores with the same skeleton). Ground truth is the "
    "user labels of GT; predictions are the predicted instances of PRED (or its labels if it has none). "
    "Instances are matched per frame by Hungarian assignment on OKS (sigma 0.025 for every node unless "
    "--sigma). When both have track ids, tracking metrics (IDF1, ID switches, MOTA) are added, and when the "
    "predicted tracks carry the ground truth's track names (an identity model), identity accuracy per class."
)


def add_arguments(parser) -> None:
    parser.add_argument("gt", help="ground truth: labels file or project store")
    parser.add_argument("pred", help="predictions: labels file or project store")
    parser.add_argument("--json", dest="json_out", help="write all metrics to this JSON file")
    parser.add_argument("--sigma", type=float, default=None, help="OKS sigma for every node (default 0.025)")
    parser.add_argument("--plots", help="folder to write error-distribution plots into")


def run(args) -> int:
    from ..core.metrics.pose import format_metrics

    res = eval(args.gt, args.pred, json_out=args.json_out, sigma=args.sigma, plots=args.plots)
    print(format_metrics(res["pose"]))
    for name, s in res["pose"]["per_node"].items():
        print(f"  {name:>16s}: mean {s['mean']:.2f} px, p90 {s['p90']:.2f} px, PCK@5 {s['pck_5']:.3f} (n={s['n']})")
    if "tracking" in res:
        t = res["tracking"]
        print("tracking: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in t.items() if not isinstance(v, (dict, list))))
    elif "tracking_note" in res:
        print(res["tracking_note"])
    if "identity" in res:
        i = res["identity"]
        print("identity accuracy: " + ", ".join(f"{c} {a:.3f} (n={i['n'][c]})" for c, a in i["per_class"].items())
              + f", overall {i['accuracy']:.3f}")
    if args.json_out:
        print(f"metrics written to {args.json_out}")
    return 0
