"""Inference: peak finding, part grouping, predictors, the video pipeline, scale-out.

Import the submodules directly (``nn.inference.peaks``, ``.paf``, ``.predictors``,
``.pipeline``, ``.distributed``); this package does not import torch by itself.
"""
