"""``posetrack live``: pose estimation on a camera, a stream or a replayed video, with latency figures."""

from __future__ import annotations

from ..workflows.live import live

NAME = "live"
HELP = "live pose estimation on a camera, network stream or replayed video (closed-loop hooks, latency)"
DESCRIPTION = (
    "Run a single-instance or top-down model on live frames, always on the newest frame (frames that "
    "arrive while one is processed are dropped and counted). SRC is a video file (every frame as fast as "
    "the model goes, or at its own frame rate with --realtime, as a simulated camera), camera:N "
    "(v4l2/avfoundation/dshow), or a stream URL (rtsp://, http://, udp://). Optionally send a UDP message "
    "when node A of one animal comes within D px of node B of another (--when-near A B D --udp HOST:PORT), "
    "and stream the poses into a project store (--record). Prints a latency summary at the end."
)


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model directory (`posetrack train`) or ONNX export (`posetrack export-model`)")
    parser.add_argument("--source", required=True, help="video file, camera:N, or a stream URL")
    parser.add_argument("--realtime", action="store_true",
                        help="replay a video file at its frame rate, as a camera (frames are dropped when busy)")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N processed frames")
    parser.add_argument("--record", default=None, help="project store (*.posetrack.zarr) to stream the poses into")
    parser.add_argument("--record-video", default=None, help="also write every arriving frame to this video file")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch", help="network runtime")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")
    parser.add_argument("--half", action="store_true",
                        help="bfloat16 on a CPU with native support, float16 on CUDA (torch backend)")
    parser.add_argument("--threads", default=None, metavar="N|auto",
                        help="CPU threads for the network and decoder: a count, or auto (default, unless "
                             "OMP_NUM_THREADS is set): measured on the live frames, the faster of 1 and all "
                             "cores (at most 4), re-checked every 200 frames")
    parser.add_argument("--busy-wait", action="store_true",
                        help="poll for each frame instead of sleeping until it arrives: about 1 ms lower p99 "
                             "latency for small networks, at the cost of one core kept busy")
    parser.add_argument("--max-instances", type=int, default=None, help="keep at most N animals per frame")
    parser.add_argument("--peak-threshold", type=float, default=0.2, help="minimum node confidence (default 0.2)")
    parser.add_argument("--frame-size", default=None, metavar="HxW",
                        help="frame size the model expects (default: the one recorded at export, if any)")
    parser.add_argument("--refuse-size-mismatch", action="store_true",
                        help="stop on frames of another size instead of resizing them")
    parser.add_argument("--when-near", nargs=3, metavar=("NODE_A", "NODE_B", "PX"), default=None,
                        help="condition: node A of one animal within PX pixels of node B of another")
    parser.add_argument("--same-animal", action="store_true",
                        help="with --when-near: compare node A and node B of the same animal instead")
    parser.add_argument("--udp", default=None, metavar="HOST:PORT",
                        help="send a UDP datagram (JSON) for each pose, or each pose meeting --when-near")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")


def _udp(text):
    from ..core.errors import ConfigError
    from ..nn.live import UDPTrigger

    host, _, port = str(text).rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--udp expects HOST:PORT (for example 127.0.0.1:5005), got {text!r}.",
                          hint="Give the receiver's address and port.")
    return UDPTrigger(host, int(port))


def run(args) -> int:
    import logging
    import sys

    logger = logging.getLogger("napari_posetrack.nn")  # warnings printed as they happen
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("posetrack live: warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        return _run(args)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _run(args) -> int:
    import json

    from ..core.errors import ConfigError
    from ..nn.live import NodesWithin
    from ..workflows.export_model import parse_size

    condition = None
    if args.when_near:
        a, b, d = args.when_near
        try:
            dist = float(d)
        except ValueError:
            raise ConfigError(f"--when-near expects NODE_A NODE_B PX, and PX {d!r} is not a number.",
                              hint="For example --when-near head abdomen 40") from None
        condition = NodesWithin(a, b, dist, same_animal=args.same_animal)
    out = _udp(args.udp) if args.udp else None
    stats = live(args.model, args.source, on_pose=out, condition=condition, duration=args.duration,
                 max_frames=args.max_frames, realtime=args.realtime, record=args.record,
                 record_video=args.record_video, backend=args.backend, device=args.device, half=args.half,
                 threads=args.threads, frame_size=parse_size(args.frame_size),
                 on_size_mismatch="refuse" if args.refuse_size_mismatch else "resize",
                 max_instances=args.max_instances, peak_threshold=args.peak_threshold,
                 busy_wait=args.busy_wait)
    if out is not None:
        out.close()
    print(stats.summary())
    if condition is not None:
        print(f"condition {condition}: held on {stats.n_triggers} of {stats.n_processed} frames"
              + (f"; {out.n_sent} UDP message(s) sent to {out.address[0]}:{out.address[1]}" if out else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(stats.to_dict(), f, indent=1, default=float)
    return 1 if stats.source_error and stats.n_processed == 0 else 0
