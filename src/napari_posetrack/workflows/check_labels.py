"""``posetrack check-labels``: draw every labeled frame with its skeleton, flag outlier labels.

The Python function behind the command (its command line is :mod:`napari_posetrack.cli.cmd_check_labels`).
"""

from __future__ import annotations


def check_labels(store, out, *, z: float = 3.5, suggest: bool = False, render: bool = True,
                 show_progress: bool = True):
    """Render labeled frames of ``store`` into ``out``; returns (paths, outliers)."""
    from ..core.progress import drain
    from ..core.qc import find_label_outliers, iter_render_labeled_frames, outlier_suggestions
    from ..core.store import ProjectStore
    from ..core.suggest import merge_suggestions

    with ProjectStore.open(store, mode="r+" if suggest else "r") as st:
        ds = st.load()
        paths = []
        if render:
            paths = drain(iter_render_labeled_frames(ds, out, st.open_video), desc="check-labels", show=show_progress)
        outliers = find_label_outliers(ds, z_threshold=z)
        if suggest and outliers:
            st.save(suggestions=merge_suggestions(ds.suggestions, outlier_suggestions(ds, z_threshold=z)))
    return paths, outliers

