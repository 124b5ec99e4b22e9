"""Labeling keys: one table used to bind them, to show them in the dock and in docs/labeling.md."""

from __future__ import annotations

__all__ = ["KEYS", "OTHER_KEYS", "install_keybindings", "bind_suspect_keys", "unbind_suspect_keys", "keys_markdown",
           "keys_html"]

#: the labeling keys as a table: napari key string | controller method | description
_KEY_TABLE = """
Right           | next_frame         | next frame
Left            | previous_frame     | previous frame
Shift-Right     | jump_forward       | jump forward N frames (N set in the dock)
Shift-Left      | jump_back          | jump back N frames
N               | next_suggestion    | next unlabeled suggested frame (keypoints layer or image selected)
Down            | next_node          | next node
Up              | previous_node      | previous node
O               | toggle_occluded    | toggle occluded on the selected node(s)
Delete          | delete_selected    | delete the selected node(s)
Backspace       | delete_selected    | delete the selected node(s)
Shift-Delete    | delete_instance    | delete the selected instance(s)
Shift-Backspace | delete_instance    | delete the selected instance(s)
C               | copy_previous      | copy the instances of the previous labeled frame
Enter           | accept_predictions | accept the selected (or all) predicted instances as labels
Control-Z       | undo               | undo
Control-Shift-Z | redo               | redo
Control-Y       | redo               | redo
"""

#: keys of the other docks, shown in the same table: key | dock | description
_OTHER_KEY_TABLE = """
G       | Inference    | accept the predicted instance under the cursor (or the first of the frame)
Shift-G | Inference    | accept every predicted instance of the frame
n       | Proofreading | next suspect frame (while a Proofreading layer is selected)
Shift-n | Proofreading | previous suspect frame (while a Proofreading layer is selected)
"""


def _table_rows(text: str) -> list[tuple[str, ...]]:
    return [tuple(cell.strip() for cell in line.split("|")) for line in text.strip().splitlines()]


def _numbered_keys() -> list[tuple[str, str, object, str]]:
    """1-9 and 0 select nodes 1-10; Ctrl-1 … Ctrl-9 set tracks 1-9."""
    nodes = [(str(i % 10), "select_node", i - 1, f"select node {i}") for i in range(1, 11)]
    tracks = [(f"Control-{i}", "set_track", i - 1, f"set track {i} on the selected instance") for i in range(1, 10)]
    return nodes + tracks


def _build_keys() -> list[tuple[str, str, object, str]]:
    rows = [(key, method, None, desc) for key, method, desc in _table_rows(_KEY_TABLE)]
    numbered = _numbered_keys()
    at = next(i for i, r in enumerate(rows) if r[1] == "toggle_occluded")  # node keys before O, as before
    accept = next(i for i, r in enumerate(rows) if r[1] == "accept_predictions") + 1
    nodes = [r for r in numbered if r[1] == "select_node"]
    tracks = [r for r in numbered if r[1] == "set_track"]
    return rows[:at] + nodes + rows[at:accept] + tracks + rows[accept:]


#: (napari key string, controller method, argument or None, description)
KEYS: list[tuple[str, str, object, str]] = _build_keys()

#: keys of the other docks, shown in the same table: (key, dock, description)
OTHER_KEYS: list[tuple[str, str, str]] = [tuple(r) for r in _table_rows(_OTHER_KEY_TABLE)]

_FRAME_STEPS = {"next_frame": 1, "previous_frame": -1}
_SUSPECT_STEPS = {"n": 1, "Shift-n": -1}


def bind_suspect_keys(layers, dock) -> None:
    """n / Shift-n step through ``dock``'s suspect frames while one of ``layers`` is selected.

    They are layer keys, so that n keeps meaning "next unlabeled suggestion" (a viewer key of
    the Labeling dock) while the keypoints layer or the image is selected: the selected layer
    says which dock the key is for, whichever dock was opened last.
    """
    for layer in layers:
        for key, step in _SUSPECT_STEPS.items():
            layer.bind_key(key, lambda _layer=None, s=step: dock.next_suspect(s), overwrite=True)


def unbind_suspect_keys(layers) -> None:
    for layer in layers:
        for key in _SUSPECT_STEPS:
            try:
                layer.bind_key(key, None)
            except (KeyError, TypeError, ValueError):
                pass


def _callback(controller, method: str, arg):
    def cb(_obj=None):
        if getattr(controller, "_closed", False):
            step = _FRAME_STEPS.get(method)
            dims = controller.viewer.dims
            if step and dims.ndim >= 3:  # labeling closed: arrows step frames as napari does
                dims.set_current_step(0, max(0, dims.current_step[0] + step))
            return
        fn = getattr(controller, method)
        fn() if arg is None else fn(arg)

    cb.__doc__ = f"posetrack labeling: {method}"
    return cb


def install_keybindings(controller, viewer, layers=()) -> None:
    """Bind every key of :data:`KEYS` to ``controller`` on the viewer and on ``layers``.

    Layer bindings win while the layer is selected (they override napari's Points keys such
    as 1-5 and Delete); viewer bindings work whichever layer is selected.
    """
    for key, method, arg, _ in KEYS:
        cb = _callback(controller, method, arg)
        viewer.bind_key(key, cb, overwrite=True)
        for layer in layers:
            layer.bind_key(key, cb, overwrite=True)


def _pretty(key: str) -> str:
    return key.replace("Control", "Ctrl").replace("-", "+")


def _grouped() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for key, method, _arg, desc in KEYS:
        if method in ("select_node", "set_track"):
            desc = "select node 1-10" if method == "select_node" else "set track 1-9 on the selected instance"
            key = "1 … 9, 0" if method == "select_node" else "Ctrl+1 … Ctrl+9"
        if desc in seen:
            if _pretty(key) not in rows[seen[desc]][0] and "…" not in key:
                rows[seen[desc]] = (rows[seen[desc]][0] + " / " + _pretty(key), desc)
            continue
        seen[desc] = len(rows)
        rows.append((key if "…" in key else _pretty(key), desc))
    return rows


def _all_rows() -> list[tuple[str, str]]:
    rows = _grouped()
    rows += [(_pretty(k), f"{d} [{dock}]") for k, dock, d in OTHER_KEYS]
    return rows


def keys_markdown() -> str:
    """The key table as Markdown (docs/labeling.md)."""
    lines = ["| key | action |", "|---|---|"]
    lines += [f"| {k} | {d} |" for k, d in _all_rows()]
    return "\n".join(lines)


def keys_html() -> str:
    """The key table as small HTML (shown in the labeling dock)."""
    rows = "".join(f"<tr><td><b>{k}</b></td><td>{d}</td></tr>" for k, d in _all_rows())
    return f"<table cellspacing='2'>{rows}</table>"
