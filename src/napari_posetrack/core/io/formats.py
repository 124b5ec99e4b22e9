"""The built-in formats: one :func:`register_format` call each (order = detection order).

Readers and writers live in :mod:`.sleap_formats` (through sleap-io), :mod:`.dlc`,
:mod:`.flat_csv`, :mod:`.movement_convert` and :mod:`.store_format`; importing this module
only builds the table (no heavy imports).
"""

from __future__ import annotations

from . import FormatSpec, register_format
from . import dlc, dlc_h5, dlc_project, flat_csv, movement_convert, sleap_formats, store_format

__all__: list[str] = []


def _c(occlusion, scores, tracks, images=False, edges=True, user_vs_predicted=True):
    return dict(occlusion=occlusion, scores=scores, tracks=tracks, images=images, edges=edges,
                user_vs_predicted=user_vs_predicted)


register_format(FormatSpec(
    "store", "napari-posetrack project store (*.posetrack.zarr)", ("*.zarr",), store_format.load_store,
    store_format.save_store, detect=store_format.is_store, carries=_c(True, True, True, True),
    extension=".posetrack.zarr", atomic=False))
register_format(FormatSpec(
    "pkg.slp", "SLEAP labels package with embedded frames", ("*.pkg.slp",), sleap_formats.load_slp,
    sleap_formats.save_pkg_slp, carries=_c(True, True, True, True), extension=".pkg.slp"))
register_format(FormatSpec(
    "slp", "SLEAP labels", ("*.slp",), sleap_formats.load_slp, sleap_formats.save_slp,
    carries=_c(True, True, True), extension=".slp"))
register_format(FormatSpec(
    "dlc-project", "DeepLabCut project (config.yaml + labeled-data/*/CollectedData_*.csv)",
    (), dlc.load_dlc_project, dlc_project.save_dlc_project, detect=dlc.is_dlc_project,
    carries=_c(False, False, True, True), extension="", atomic=False))
register_format(FormatSpec(
    "dlc", "DeepLabCut labels (CollectedData CSV)", ("*.csv",), dlc.load_dlc_csv, dlc.save_dlc_labels,
    detect=dlc.is_dlc_csv, carries=_c(False, False, True, False, False, False), extension=".csv"))
register_format(FormatSpec(
    "dlc-labels-h5", "DeepLabCut labels HDF5 (CollectedData_*.h5, read with pandas)", ("*.h5",),
    dlc_h5.load_dlc_labels_h5, None, detect=dlc_h5.is_dlc_labels_h5,
    carries=_c(False, False, True, False), extension=".h5"))
register_format(FormatSpec(
    "dlc-h5", "DeepLabCut predictions HDF5 (x, y, likelihood)", ("*.h5",), dlc.load_dlc_predictions,
    dlc.save_dlc_predictions_h5, detect=dlc.is_dlc_h5, carries=_c(False, True, True, False, False, False),
    extension=".h5"))
register_format(FormatSpec(
    "dlc-pred-csv", "DeepLabCut predictions CSV (x, y, likelihood)", ("*.csv",), dlc.load_dlc_predictions,
    dlc.save_dlc_predictions_csv, detect=dlc.is_dlc_predictions_csv, carries=_c(False, True, True, False, False, False),
    extension=".csv"))
register_format(FormatSpec(
    "analysis", "SLEAP analysis HDF5 (tracks matrix, occupancy, node and track names)", ("*.h5", "*.hdf5"),
    sleap_formats.load_analysis, sleap_formats.save_analysis, detect=sleap_formats.is_analysis_h5,
    carries=_c(False, True, True, False, True, False), extension=".analysis.h5"))
register_format(FormatSpec(
    "nwb", "Neurodata Without Borders with ndx-pose", ("*.nwb",), sleap_formats.load_nwb,
    sleap_formats.save_nwb, carries=_c(False, True, False), extension=".nwb"))
register_format(FormatSpec(
    "coco", "COCO keypoints JSON", ("*.json",), sleap_formats.load_coco, sleap_formats.save_coco,
    carries=_c(False, False, True, False, True, False), extension=".json"))
register_format(FormatSpec(
    "csv", "flat CSV, one row per instance and node", ("*.csv",), flat_csv.load_flat_csv,
    flat_csv.save_flat_csv, detect=flat_csv.is_flat_csv, carries=_c(True, True, True, False, False),
    extension=".csv"))
register_format(FormatSpec(
    "netcdf", "movement poses netCDF (xarray)", ("*.nc", "*.netcdf"), movement_convert.load_netcdf,
    movement_convert.save_netcdf, carries=_c(True, True, True), extension=".nc"))
