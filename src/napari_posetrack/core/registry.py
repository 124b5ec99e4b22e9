"""Named registries: the one list of formats, backbones, trackers, costs, live sources and model kinds.

A registry is a ``dict`` from a name to what it names, so existing code keeps reading it as one
(``REG[name]``, ``list(REG)``, ``name in REG``). What it adds:

* a name can be registered once: a second, different entry under the same name is refused with a
  :class:`DuplicateNameError` that names both (re-registering the very same object, as a module
  reload does, is allowed);
* :meth:`Registry.lookup` fails with a :class:`~napari_posetrack.core.errors.ConfigError` that lists
  the names there are;
* :meth:`Registry.names` is what command-line ``choices``, dock combo boxes and config choices use,
  so a new entry shows up everywhere from its one registration.

:data:`MODEL_KINDS` lives here (not in ``nn``) so that the command line and the docks can list
the kinds of model without importing torch; ``nn.train`` implements one pipeline per kind (a test
checks that the two agree).
"""

from __future__ import annotations

from .errors import ConfigError

__all__ = ["Registry", "DuplicateNameError", "MODEL_KINDS"]


class DuplicateNameError(ConfigError):
    """A registry already holds another entry under this name."""


def _same(a, b) -> bool:
    if a is b:
        return True
    try:
        if a == b:
            return True
    except Exception:  # noqa: BLE001 - an entry whose == fails is simply not the same
        return False
    qa = (getattr(a, "__module__", None), getattr(a, "__qualname__", None))
    return qa[1] is not None and qa == (getattr(b, "__module__", None), getattr(b, "__qualname__", None))


def _describe(obj) -> str:
    name = getattr(obj, "__qualname__", None)
    return f"{getattr(obj, '__module__', '?')}.{name}" if name else repr(obj)[:80]


class Registry(dict):
    """A ``dict`` of named entries that refuses a second entry under a name already taken.

    Parameters
    ----------
    kind : str
        What the entries are, for messages ("tracking cost", "file format", ...).
    """

    def __init__(self, kind: str, entries=None):
        super().__init__()
        self.kind = kind
        for name, value in dict(entries or {}).items():
            self[name] = value

    def __setitem__(self, name, value) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"A {self.kind} needs a non-empty string name, got {name!r}.",
                              hint=f"Register it as register(\"my-{self.kind.split()[-1]}\").")
        if name in self and not _same(self[name], value):
            raise DuplicateNameError(
                f"The {self.kind} name {name!r} is taken by {_describe(self[name])}; "
                f"{_describe(value)} cannot be registered under it too.",
                hint=f"Pick another name, or unregister the old one first (del registry[{name!r}]).")
        super().__setitem__(name, value)

    def update(self, *args, **kwargs) -> None:  # through __setitem__, so duplicates are refused here too
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def setdefault(self, name, value=None):
        if name not in self:
            self[name] = value
        return self[name]

    def register(self, name: str, value=None):
        """``reg.register(name, value)``, or ``@reg.register(name)`` as a decorator; returns ``value``."""
        if value is not None:
            self[name] = value
            return value

        def deco(obj):
            self[name] = obj
            return obj

        return deco

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self)

    def lookup(self, name):
        """The entry called ``name``; an unknown name raises :class:`ConfigError` listing the known ones."""
        if name in self:
            return self[name]
        raise ConfigError(f"Unknown {self.kind} {name!r}.", hint=f"Use one of: {', '.join(self.names())}.")

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


#: kinds of model ``posetrack train --model`` and the Training dock offer (name -> what it is)
MODEL_KINDS = Registry("model kind", {
    "single": "one animal per frame: a single network finds every node",
    "topdown": "a centroid network finds the animals, a centred-instance network their nodes",
    "bottomup": "every node of every animal at once, grouped into animals by part affinity fields",
    "topdown-id": "top-down plus an identity head: learns who each animal is (classes = track names)",
    "bottomup-id": "bottom-up with one class map per identity instead of PAFs: nodes grouped by who they belong to",
})
