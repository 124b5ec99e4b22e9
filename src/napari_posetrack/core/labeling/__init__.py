"""Labeling edits (undoable commands), instance templates, skeleton edits that migrate labels.

Everything here is headless: the napari layers only turn user actions into these commands
and push them on the viewer's :class:`~napari_posetrack.core.session.EditSession`.
"""

from .commands import (
    AcceptPredictions,
    AddInstances,
    CompoundCommand,
    DeleteInstances,
    LabelingError,
    MoveNodes,
    SetNodeState,
    SetSuggestions,
    SetTrack,
    check_inside,
    check_skeleton,
)
from .skeleton_edits import (
    EditSkeleton,
    add_edge,
    add_node,
    add_symmetry,
    delete_edge,
    delete_node,
    delete_symmetry,
    move_node,
    node_has_data,
    rename_node,
    reorder_nodes,
    replace_skeleton,
    set_alignment,
)
from .templates import (
    copy_frame_command,
    labeling_progress,
    mean_pose,
    nearest_instance_pose,
    new_instance,
    next_unlabeled_suggestion,
    place_template,
    previous_labeled_frame,
    template_offsets,
)

__all__ = [
    "AcceptPredictions", "AddInstances", "CompoundCommand", "DeleteInstances", "LabelingError",
    "MoveNodes", "SetNodeState", "SetSuggestions", "SetTrack", "check_inside", "check_skeleton",
    "EditSkeleton", "add_edge", "add_node", "add_symmetry", "delete_edge", "delete_node",
    "delete_symmetry", "move_node", "node_has_data", "rename_node", "reorder_nodes", "replace_skeleton",
    "set_alignment",
    "copy_frame_command", "labeling_progress", "mean_pose", "nearest_instance_pose", "new_instance",
    "next_unlabeled_suggestion", "place_template", "previous_labeled_frame", "template_offsets",
]
