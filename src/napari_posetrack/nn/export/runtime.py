"""onnxruntime backend: exported graphs behind the torch predictors, unchanged.

The predictors (:mod:`napari_posetrack.nn.inference.predictors`) call each network through
``_Stage.forward(x)``, which runs ``model(x)`` on a float tensor ``(B, C, H, W)`` and expects
``{head: tensor (B, n, h, w)}``. :class:`OnnxModule` is such a callable, backed by an
``onnxruntime.InferenceSession``; :func:`load_onnx_predictor` builds the existing predictor
classes (``PREDICTORS``) with one per stage. So preprocessing, peak finding, PAF grouping and
top-down crops are the torch path's own code, and any change to them applies to both backends.

>>> pred = load_onnx_predictor("exported/flies", device="cpu")      # doctest: +SKIP
>>> table = pred.predict_frames(frames)                             # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from ...core.errors import ConfigError
from .exporter import ExportError, is_export_dir, read_sidecar, require_onnx

__all__ = ["OnnxModule", "load_onnx_predictor", "load_backend_predictor", "BACKENDS", "onnx_providers"]

#: inference backends understood by :func:`load_backend_predictor`
BACKENDS = ("torch", "onnx")

_TEMP_EXPORTS: list[str] = []


def _cleanup_temp_exports():
    for d in _TEMP_EXPORTS:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_temp_exports)


def onnx_providers(device) -> list[str]:
    """onnxruntime execution providers for a torch device (CUDA first when asked for and present)."""
    _, ort = require_onnx("The onnx backend")
    have = ort.get_available_providers()
    if getattr(device, "type", str(device)) == "cuda":
        wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in have]
        if not wanted:
            raise ConfigError(f"Device {device} was asked for, but this onnxruntime has no CUDA provider "
                              f"(it has {have}).",
                              hint="pip install onnxruntime-gpu on the NVIDIA machine, or use --device cpu.")
        return wanted + ["CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxModule:
    """A stand-in for a torch pose model: ``module(x (B, C, H, W) float) -> {head: tensor}``.

    Parameters
    ----------
    path : path of the ``.onnx`` graph
    heads : list of output names, in the graph's order
    in_channels : int
    device : torch.device where the outputs are put (inputs may be anywhere)
    threads : int, optional
        onnxruntime intra-op threads (default: torch's thread count).
    spinning : bool, optional
        Whether onnxruntime's intra-op worker threads spin while they wait for work
        (``session.intra_op.allow_spinning``; onnxruntime's default, True, when None). Spinning
        saves the wake-up of the workers at each operator but keeps them busy, which slows down
        other threads of the process (a live grabber, torch's decoder) on a machine with few
        cores; it matters only with more than one thread.
    """

    def __init__(self, path, heads, in_channels: int, device=None, *, threads: int | None = None,
                 providers=None, spinning: bool | None = None):
        import torch

        require_onnx("The onnx backend")
        self.path = str(path)
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.in_channels = int(in_channels)
        self.training = False
        self.spinning = spinning
        self._providers = providers or onnx_providers(self.device)
        self._sessions = {}
        self.threads = int(threads or torch.get_num_threads())
        self.session = self._session(self.threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        missing = set(heads) - set(self.output_names)
        if missing:
            raise ExportError(f"{self.path} has outputs {self.output_names}; the sidecar lists {list(heads)} "
                              f"(missing {sorted(missing)}).", path=self.path,
                              hint="The .onnx file and export.json come from different exports; export again.")
        self.heads = list(heads)

    def _session(self, threads: int):
        """The session with ``threads`` intra-op threads (made once per count)."""
        if threads in self._sessions:
            return self._sessions[threads]
        _, ort = require_onnx("The onnx backend")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if self.spinning is not None:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        try:
            sess = ort.InferenceSession(self.path, opts, providers=self._providers)
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
            raise ExportError(f"onnxruntime cannot load {self.path}: {exc}", path=self.path,
                              hint="Export the model again with `posetrack export-model`.") from None
        self._sessions[threads] = sess
        return sess

    def set_threads(self, threads: int) -> None:
        """Run on ``threads`` intra-op threads from now on (one session per count, kept for switching back)."""
        self.session = self._session(int(threads))
        self.threads = int(threads)

    # the torch.nn.Module surface the predictors touch
    def to(self, *args, **kwargs):
        return self

    def eval(self):
        return self

    def __call__(self, x) -> dict:
        import torch

        arr = x.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
        outs = self.session.run(self.heads, {self.input_name: arr})
        if self.device.type == "cpu":
            return {n: torch.from_numpy(o) for n, o in zip(self.heads, outs)}
        return {n: torch.from_numpy(o).to(self.device) for n, o in zip(self.heads, outs)}

    forward = __call__

    def __repr__(self) -> str:
        return f"OnnxModule({self.path!r}, heads={self.heads}, providers={self.session.get_providers()})"


def load_onnx_predictor(path, device="cpu", settings=None, *, threads: int | None = None,
                        spinning: bool | None = None, **kwargs):
    """A predictor whose networks run in onnxruntime.

    Parameters
    ----------
    path : path
        An export directory (``export.json`` + ``.onnx``), or a trained model directory, which
        is then exported (and verified) into a temporary folder first.
    device : str
        ``"cpu"`` (default) or ``"cuda"`` (needs onnxruntime-gpu).
    settings : PredictorSettings, optional
    threads : int, optional
        onnxruntime threads per session (default: torch's thread count).
    spinning : bool, optional
        onnxruntime's ``session.intra_op.allow_spinning`` (see :class:`OnnxModule`).
    **kwargs
        Fields of PredictorSettings / FilterConfig to override, as for ``load_predictor``.
        ``compile``, ``fp16`` and ``cpu_bf16`` do not apply (the graph is float32) and are
        switched off.
    """
    from ..inference.predictors import PREDICTORS, PredictorSettings, apply_settings, resolve_device

    require_onnx("The onnx backend")
    d = Path(path)
    if not is_export_dir(d):
        if (d / "config.yaml").is_file():
            from .exporter import export_model

            tmp = tempfile.mkdtemp(prefix="posetrack-onnx-")
            _TEMP_EXPORTS.append(tmp)
            export_model(d, Path(tmp) / "export", overwrite=True)
            d = Path(tmp) / "export"
        else:
            raise ExportError(f"{d} is neither an exported model (no export.json) nor a model directory "
                              "(no config.yaml).", path=d,
                              hint="Pass the folder of `posetrack export-model --out`, or of `posetrack train`.")
    meta = read_sidecar(d)
    kind = meta.get("predictor")
    if kind not in PREDICTORS:
        raise ConfigError(f"The export {d} holds only a {meta.get('kind')!r} network, which predicts nothing by "
                          f"itself; predictors exist for {sorted(PREDICTORS)}.",
                          hint="Export the whole top-down model directory (the parent of centroid/ and "
                               "centered_instance/).")
    settings = settings or PredictorSettings()
    for k, v in (meta.get("thresholds") or {}).items():
        if k not in kwargs and hasattr(settings, k):
            setattr(settings, k, v)
    apply_settings(settings, kwargs)
    settings.compile = False
    settings.fp16 = False
    settings.cpu_bf16 = False
    dev = resolve_device(device)
    cls, names = PREDICTORS[kind]
    missing = [n for n in names if n not in meta["stages"]]
    if missing:
        raise ExportError(f"The export {d} of a {kind} model lacks the stage(s) {missing}.", path=d,
                          hint="Export the model again.")
    from ..identity_predict import identity_predictor_class  # topdown-id / bottomup-id: decoded with identities

    cls = identity_predictor_class(kind, {n: meta["stages"][n].get("config") for n in names}) or cls
    stages = {}
    for n in names:
        st = meta["stages"][n]
        module = OnnxModule(d / st["file"], list(st["heads"]), st["input"]["channels"], dev, threads=threads,
                            spinning=spinning)
        stages[n] = (module, st["config"])
    pred = cls(stages, dev, settings, model_dir=d)
    pred.backend = "onnx"
    pred.export_info = meta
    return pred


def load_backend_predictor(model_dir, device="auto", settings=None, *, backend: str = "torch", **kwargs):
    """``load_predictor`` with a backend choice: ``"torch"`` (checkpoint) or ``"onnx"`` (onnxruntime)."""
    from ..inference.predictors import load_predictor

    if backend not in BACKENDS:
        raise ConfigError(f"Unknown inference backend {backend!r}; known: {list(BACKENDS)}.",
                          hint="Use --backend torch or --backend onnx.")
    if backend == "onnx":
        return load_onnx_predictor(model_dir, "cpu" if device in (None, "", "auto") else device, settings,
                                   **kwargs)
    if is_export_dir(model_dir) and not (Path(model_dir) / "config.yaml").is_file():
        raise ConfigError(f"{model_dir} is an ONNX export; the torch backend needs the trained model directory.",
                          hint="Add --backend onnx, or pass the model directory written by `posetrack train`.")
    pred = load_predictor(model_dir, device, settings, **kwargs)
    pred.backend = "torch"
    return pred
