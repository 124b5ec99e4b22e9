"""Small widget makers the docks share, so each dock states what it shows, not how Qt builds it.

Each returns an ordinary Qt widget or layout; callbacks given here run as they are (docks wrap
them in their ``_guard`` where an error must become a message).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from qtpy.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                            QSpinBox, QVBoxLayout, QWidget)

__all__ = ["button", "row", "spin", "dspin", "combo", "label", "path_row", "progress_bar", "run_controls"]


def button(text: str, slot: Callable | None = None, *, enabled: bool = True, tip: str | None = None) -> QPushButton:
    """A push button that calls ``slot()`` when clicked."""
    b = QPushButton(text)
    if slot is not None:
        b.clicked.connect(lambda _=False: slot())
    b.setEnabled(enabled)
    if tip:
        b.setToolTip(tip)
    return b


def row(*items, stretch: int | None = None) -> QHBoxLayout:
    """A horizontal layout of widgets (or layouts, or strings shown as labels)."""
    lay = QHBoxLayout()
    for item in items:
        if isinstance(item, str):
            lay.addWidget(QLabel(item))
        elif isinstance(item, QWidget):
            lay.addWidget(item)
        else:
            lay.addLayout(item)
    if stretch is not None:
        lay.addStretch(stretch)
    return lay


def spin(lo: int, hi: int, value: int | None = None, *, special: str | None = None,
         on_change: Callable | None = None) -> QSpinBox:
    """An integer spin box in ``[lo, hi]``; ``special`` is shown for ``lo`` (e.g. "no limit")."""
    s = QSpinBox()
    s.setRange(int(lo), int(hi))
    if value is not None:
        s.setValue(int(value))
    if special:
        s.setSpecialValueText(special)
    if on_change is not None:
        s.valueChanged.connect(lambda _: on_change())
    return s


def dspin(lo: float, hi: float, value: float, step: float = 0.05, decimals: int = 2) -> QDoubleSpinBox:
    """A float spin box in ``[lo, hi]``."""
    s = QDoubleSpinBox()
    s.setDecimals(decimals)
    s.setRange(float(lo), float(hi))
    s.setSingleStep(float(step))
    s.setValue(float(value))
    return s


def combo(items: Iterable = (), on_change: Callable | None = None, *, fit: bool = False) -> QComboBox:
    """A combo box of ``items`` (strings, or ``(text, data)`` pairs); ``fit`` widens it to its longest entry."""
    c = QComboBox()
    for item in items:
        if isinstance(item, tuple):
            c.addItem(str(item[0]), item[1])
        else:
            c.addItem(str(item))
    if fit:
        c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        c.setMinimumContentsLength(12)
    if on_change is not None:
        c.currentIndexChanged.connect(lambda _: on_change())
    return c


def label(text: str = "", *, wrap: bool = True) -> QLabel:
    """A (word-wrapping) label."""
    lab = QLabel(text)
    lab.setWordWrap(wrap)
    return lab


def path_row(placeholder: str, browse_text: str, browse: Callable) -> tuple[QLineEdit, QPushButton, QHBoxLayout]:
    """``(edit, button, layout)``: a path field with a Browse button."""
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    b = button(browse_text, browse)
    return edit, b, row(edit, b)


def progress_bar() -> QProgressBar:
    """An idle progress bar (0 of 1)."""
    p = QProgressBar()
    p.setRange(0, 1)
    p.setValue(0)
    return p


def run_controls(text: str, start: Callable, cancel: Callable):
    """``(start_button, cancel_button, progress_bar, layout)`` of a job run in a worker: the two
    buttons side by side (Cancel disabled until it runs) above an idle progress bar."""
    go, stop, bar = button(text, start), button("Cancel", cancel, enabled=False), progress_bar()
    lay = QVBoxLayout()
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addLayout(row(go, stop))
    lay.addWidget(bar)
    return go, stop, bar, lay
