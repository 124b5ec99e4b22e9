"""Small models for tests, benchmarks and examples (no training needed).

* :func:`save_random_checkpoint` writes a randomly initialised checkpoint of any model kind
  through the real checkpoint API (``nn.checkpoint.save_checkpoint``), so the whole loading
  and inference path runs on it; outputs are meaningless but deterministic.
* :class:`EchoModel` follows the model output contract and returns the (pooled) input image
  as every head, so that a frame with bright blobs becomes confidence maps with peaks on the
  blobs: a geometry oracle for the predictors (scaling, stride, crops).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["toy_config", "save_random_checkpoint", "EchoModel", "echo_stages", "blob_frames", "write_video",
           "array_reader"]


def toy_config(model_type: str, skeleton, *, filters: int = 4, down_blocks: int = 2, output_stride: int = 2,
               input_scale: float = 1.0, channels: int = 1, crop_size: int = 0, offsets: bool = False):
    """A validated :class:`~napari_posetrack.nn.config.TrainingConfig` for a tiny UNet."""
    from ..config import TrainingConfig

    return TrainingConfig.from_dict({
        "model": {"type": model_type, "output_stride": output_stride, "crop_size": crop_size, "offsets": offsets,
                  "backbone": {"name": "unet", "filters": filters, "down_blocks": down_blocks}},
        "preprocess": {"input_scale": input_scale, "channels": channels},
        "skeleton": skeleton.to_dict(),
        "data": {"channels": channels, "crop_size": crop_size},
    })


def save_random_checkpoint(out_dir, kind: str, skeleton, *, seed: int = 0, crop_size: int = 64,
                           head_bias: float | None = None, identity_classes=(), favour: int = 0,
                           **cfg_kwargs) -> Path:
    """Write a random-init model directory of ``kind`` (single, bottomup, topdown); return it.

    ``head_bias`` sets the bias of every output head (e.g. 1.0 so that a single-instance model
    finds a node above threshold in every frame). With ``identity_classes`` a top-down model
    becomes a topdown-id model whose identity head leans to class ``favour``.
    """
    import torch

    from ..checkpoint import save_checkpoint, write_pipeline
    from ..model import build_model

    out = Path(out_dir)
    torch.manual_seed(seed)

    def build(cfg):
        model = build_model(cfg)
        with torch.no_grad():
            for name, head in model.heads.items():
                if name == "identity":
                    head.classify.bias.zero_()
                    head.classify.bias[favour] = 2.0
                elif head_bias is not None:
                    head.bias.fill_(float(head_bias))
        return model

    if kind == "topdown":
        for t, cs in (("centroid", 0), ("centered_instance", crop_size)):
            cfg = toy_config(t, skeleton, crop_size=cs, **cfg_kwargs)
            if t == "centered_instance" and identity_classes:
                cfg.data["identity_classes"] = list(identity_classes)
            save_checkpoint(out / t, build(cfg), cfg, which=("best",))
        if identity_classes:
            write_pipeline(out, "topdown", identity_classes=list(identity_classes))
        else:
            write_pipeline(out, "topdown")
        return out
    cfg = toy_config(kind, skeleton, **cfg_kwargs)
    save_checkpoint(out, build(cfg), cfg, which=("best",))
    return out


def _echo_class():
    import torch
    class _Echo(torch.nn.Module):
        def __init__(self, heads: dict, stride: int):
            super().__init__()
            self.heads = dict(heads)
            self.stride = int(stride)
            self.in_channels = 1
            self.dummy = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            g = x.mean(1, keepdim=True)
            if self.stride > 1:  # grid point (r, c) sits on input pixel (c * s, r * s)
                g = g[:, :, :: self.stride, :: self.stride]
            return {name: g.expand(-1, n, -1, -1) if n else g[:, :0] for name, n in self.heads.items()}

    return _Echo


def EchoModel(heads: dict, stride: int = 1):  # noqa: N802 - reads as a class
    """A torch module returning the grey input, subsampled by ``stride``, for each head.

    ``heads`` maps a head name to its channel count (e.g. ``{"confmaps": 3}``).
    """
    return _echo_class()(heads, stride)


def echo_stages(kind: str, skeleton, *, stride: int = 1, input_scale: float = 1.0, crop_size: int = 32) -> dict:
    """``{stage: (EchoModel, config dict)}`` to build a predictor with echo models."""
    k = skeleton.n_nodes
    heads = {"single": {"confmaps": k}, "centroid": {"centroids": 1}, "centered_instance": {"confmaps": k},
             "bottomup": {"confmaps": k, "pafs": 2 * len(skeleton.edges)}}
    names = ("centroid", "centered_instance") if kind == "topdown" else (kind,)
    out = {}
    for n in names:
        cfg = toy_config(n, skeleton, output_stride=stride, input_scale=input_scale,
                         down_blocks=max(1, stride.bit_length() - 1),
                         crop_size=crop_size if n == "centered_instance" else 0)
        out[n] = (EchoModel(heads[n], stride), cfg.to_dict())
    return out


def blob_frames(poses, height: int, width: int, sigma: float = 2.0):
    """Grey frames ``(T, H, W, 1)`` uint8 with a Gaussian blob at every finite point of ``poses``.

    Parameters
    ----------
    poses : ndarray (T, N, K, 2)
        (x, y) per frame, instance and node.
    """
    import numpy as np

    poses = np.asarray(poses, np.float64)
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.zeros((len(poses), height, width, 1), np.uint8)
    for t, frame in enumerate(poses):
        m = np.zeros((height, width))
        for x, y in frame.reshape(-1, 2):
            if np.isfinite(x) and np.isfinite(y):
                m = np.maximum(m, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2)))
        out[t, ..., 0] = np.round(m * 255)
    return out


def write_video(path, frames, fps: float = 30.0, *, crf: int = 10, gop: int = 10):
    """Write uint8 frames ``(T, H, W, C)`` (C = 1 or 3) as an H.264 file with PyAV; return the path."""
    import av
    import numpy as np

    frames = np.asarray(frames)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=int(fps))
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"crf": str(crf), "g": str(gop), "preset": "ultrafast"}
        for f in frames:
            rgb = np.repeat(f, 3, -1) if f.shape[-1] == 1 else f
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def array_reader(frames, path: str = "<array>", *, fail_at=(), stop_at: int | None = None):
    """A :class:`~napari_posetrack.core.video.VideoReader` over an array ``(T, H, W, C)``.

    ``fail_at`` frames raise :class:`~napari_posetrack.core.errors.VideoError` (a corrupt
    frame); ``stop_at`` makes the stream end early while ``n_frames`` still says ``T`` (a
    video shorter than its metadata).
    """
    import numpy as np

    from ...core.errors import VideoError
    from ...core.video import VideoReader

    class _ArrayReader(VideoReader):
        def __init__(self):
            super().__init__(path)
            self.frames = np.asarray(frames)
            self.n_frames, self.height, self.width, self.channels = self.frames.shape

        def _read_uncached(self, i):
            if i in fail_at:
                raise VideoError(f"frame {i} of {path} is corrupt")
            if stop_at is not None and i >= stop_at:
                raise VideoError(f"{path} ends at frame {stop_at}")
            return self.frames[i]

        def _iter_uncached(self, start, stop):
            for i in range(start, stop if stop_at is None else min(stop, stop_at)):
                yield i, self._read_uncached(i)

        def clone(self):
            return array_reader(frames, path, fail_at=fail_at, stop_at=stop_at)

    return _ArrayReader()
