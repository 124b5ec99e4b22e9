import numpy as np

from napari_posetrack.core.dataset import PoseDataset
from napari_posetrack.core.edits import Command, UndoStack
from napari_posetrack.core.posetable import PoseTable
from napari_posetrack.core.session import EditSession
from napari_posetrack.core.skeleton import Skeleton


class Add(Command):
    text = "add"

    def __init__(self, value):
        self.value = value

    def do(self, target):
        target.append(self.value)

    def undo(self, target):
        target.pop()


class Move(Command):
    """Merges consecutive moves of the same key into one undo step (like a drag)."""

    def __init__(self, key, old, new):
        self.key, self.old, self.new = key, old, new

    def do(self, target):
        target[self.key] = self.new

    def undo(self, target):
        target[self.key] = self.old

    def merge_with(self, other):
        if isinstance(other, Move) and other.key == self.key:
            self.new = other.new
            return True
        return False


def test_undo_redo_and_redo_cleared_by_new_edit():
    data = []
    stack = UndoStack(data)
    events = []
    stack.connect(lambda action, cmd: events.append(action))
    stack.push(Add(1))
    stack.push(Add(2))
    assert data == [1, 2]
    stack.undo()
    assert data == [1] and stack.can_redo
    stack.redo()
    assert data == [1, 2]
    stack.undo()
    stack.push(Add(3))
    assert data == [1, 3] and not stack.can_redo
    assert events == ["do", "do", "undo", "redo", "undo", "do"]
    assert stack.revision == 6


def test_merging_collapses_a_drag_into_one_step():
    data = {"x": 0}
    stack = UndoStack(data)
    for v in range(1, 6):
        stack.push(Move("x", v - 1, v))
    assert data["x"] == 5 and len(stack) == 1
    stack.undo()
    assert data["x"] == 0


def test_failed_command_is_not_recorded():
    class Boom(Command):
        def do(self, target):
            raise ValueError("no")

    stack = UndoStack([])
    try:
        stack.push(Boom())
    except ValueError:
        pass
    assert len(stack) == 0 and stack.revision == 0


def test_session_tracks_dirty_state():
    class SetPoint(Command):
        def do(self, session):
            self.old = session.dataset.labels
            pts = self.old.points.copy()
            pts[0, 0] = (7, 8)
            session.dataset.labels = self.old.with_columns(points=pts)

        def undo(self, session):
            session.dataset.labels = self.old

    sk = Skeleton.from_names(["a", "b"])
    ds = PoseDataset(sk, labels=PoseTable.from_arrays(np.zeros((1, 2, 2))))
    saved = []

    class FakeStore:
        def save(self, dataset):
            saved.append(dataset.labels.points.copy())

    s = EditSession(ds, FakeStore())
    assert not s.dirty
    s.push(SetPoint())
    assert s.dirty and s.dataset.labels.points[0, 0].tolist() == [7, 8]
    assert s.save() and not s.dirty
    assert saved[0][0, 0].tolist() == [7, 8]
    s.undo()
    assert s.dirty and s.dataset.labels.points[0, 0].tolist() == [0, 0]
