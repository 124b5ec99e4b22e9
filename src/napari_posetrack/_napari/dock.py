"""What every dock shares: a scroll area, the viewer's shell, one error policy, a clean close.

A dock subclasses :class:`PoseDock`, builds its widgets into ``self.body_layout`` and
registers its listeners with :meth:`PoseDock.listen` (viewer events) and
``self.shell.connect(self, ...)`` (session events). Closing the dock (its X, which napari
implements by taking the widget out of its dock, or the window closing) calls
:meth:`PoseDock.shutdown` once: every listener is disconnected and :meth:`on_shutdown`
removes the dock's own layers. The content sits in a :class:`QScrollArea`, so a dock never
needs more screen height than a few rows; :class:`Section` folds advanced settings away.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from .notify import notify as _notify
from .session import shell_for

__all__ = ["PoseDock", "Section"]


class Section(QWidget):
    """A titled section that folds open and closed (closed by default for advanced settings)."""

    def __init__(self, title: str, expanded: bool = False, parent=None):
        super().__init__(parent)
        self.toggle = QToolButton()
        self.toggle.setText(title)
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.toggle.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.body = QWidget()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.toggle)
        lay.addWidget(self.body)
        self.toggle.toggled.connect(self.set_expanded)
        self.set_expanded(expanded)

    def set_expanded(self, on: bool) -> None:
        self.toggle.blockSignals(True)
        self.toggle.setChecked(on)
        self.toggle.blockSignals(False)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()


#: the widest a dock asks to be (px): the content of every dock fits in this at 1366x768 (tests/napari)
MAX_MIN_WIDTH = 480


class PoseDock(QWidget):
    """Base of the docks: ``self.shell`` (the viewer's session shell), ``self.body_layout``
    (inside a scroll area), :meth:`_guard` (the shell's one error policy, reported through
    ``self.notify``, which tests may replace) and :meth:`shutdown` on close."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.shell = shell_for(napari_viewer)
        self.notify = self.say
        self.error_label = None  # a QLabel that also shows the first line of each error
        self._closed = False
        self._docked = False
        self._hooks: list[tuple[object, object]] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.scroll.setWidget(self.body)
        outer.addWidget(self.scroll)

    # ------------------------------------------------------------------ size
    def minimumSizeHint(self):  # noqa: N802 (Qt name)
        hint = super().minimumSizeHint()
        hint.setHeight(min(hint.height(), 160))  # the scroll area shows the rest
        # as wide as the content and its vertical scroll bar (up to MAX_MIN_WIDTH), so that the dock area
        # never scrolls sideways: a horizontal scroll bar cuts the buttons at the right edge
        # (+ 8 px: napari's stylesheet draws the bar a few px wider than its size hint says)
        bar = self.scroll.verticalScrollBar().sizeHint().width() + 8
        hint.setWidth(max(hint.width(), min(self.body.minimumSizeHint().width() + bar, MAX_MIN_WIDTH)))
        return hint

    # ------------------------------------------------------------------ listeners
    def listen(self, emitter, callback) -> None:
        """``emitter.connect(callback)``, disconnected again when the dock closes."""
        emitter.connect(callback)
        self._hooks.append((emitter, callback))

    def say(self, text: str, level: str = "info") -> None:
        """A napari notification; an error's first line also goes to ``self.error_label``."""
        _notify(text, level)
        if level == "error" and self.error_label is not None:
            try:
                self.error_label.setText(str(text).splitlines()[0] if str(text) else "")
            except RuntimeError:  # the label is already deleted
                pass

    def _guard(self, fn, *args):
        """Run a UI action under the shell's one error policy (messages go to ``self.notify``)."""
        return self.shell.guard(fn, *args, notify=lambda text, level="info": self.notify(text, level))

    # ------------------------------------------------------------------ closing
    def event(self, ev):  # noqa: D401 - Qt override
        if ev.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif self._docked and not self._closed:  # napari's X: the widget left its dock
                self.shutdown()
        return super().event(ev)

    def closeEvent(self, event):  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Disconnect every listener and remove the dock's own layers (once)."""
        if self._closed:
            return
        self._closed = True
        self.shell.disconnect(self)
        for emitter, cb in self._hooks:
            try:
                emitter.disconnect(cb)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._hooks.clear()
        try:
            self.on_shutdown()
        except RuntimeError:  # widgets already deleted by Qt
            pass

    def on_shutdown(self) -> None:
        """Subclasses: stop workers, remove own layers."""
