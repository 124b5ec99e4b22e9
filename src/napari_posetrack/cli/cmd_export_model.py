"""``posetrack export-model``: a trained model as ONNX graphs + a JSON sidecar, for deployment."""

from __future__ import annotations

from ..workflows.export_model import export_model

NAME = "export-model"
HELP = "export a trained model to ONNX (with a JSON sidecar for the decoder)"
DESCRIPTION = (
    "Export every network of MODEL_DIR (single, bottom-up, or both stages of a top-down model) to ONNX "
    "in OUT, with export.json holding what the decoder needs: input scale, stride, channels, padding, "
    "heads, node names, edges, crop size and thresholds. Height, width and batch are dynamic. The export "
    "is checked against torch in onnxruntime before it is kept. Use the result with "
    "`posetrack predict --backend onnx` and `posetrack live --backend onnx`, or build a TensorRT "
    "engine from the .onnx files (docs/live.md)."
)


def add_arguments(parser) -> None:
    parser.add_argument("model_dir", help="model directory written by `posetrack train`")
    parser.add_argument("--out", "-o", required=True, help="export folder to create")
    parser.add_argument("--format", default="onnx", help="export format (only 'onnx')")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    parser.add_argument("--weights", choices=("best", "last"), default=None,
                        help="weights to export (default: best, else last)")
    parser.add_argument("--frame-size", default=None, metavar="HxW",
                        help="frame size the model is meant for (recorded; live mode resizes or refuses others)")
    parser.add_argument("--no-verify", action="store_true", help="skip the onnxruntime-vs-torch check")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run(args) -> int:
    meta = export_model(args.model_dir, args.out, format=args.format, opset=args.opset, weights=args.weights,
                        frame_size=args.frame_size, verify=not args.no_verify, overwrite=args.overwrite)
    for name, st in meta["stages"].items():
        check = st.get("verified")
        diff = f"max |onnx - torch| {check['max_abs_diff']:.1e}" if check else "not verified"
        print(f"{name}: {st['file']} (input x{st['input_scale']:g}, {st['input']['channels']} channel(s), stride "
              f"{st['output_stride']}, heads {', '.join(st['heads'])}; {diff})")
    print(f"exported a {meta['kind']} model -> {args.out}")
    return 0
