"""Closed-loop hooks: ready-made conditions (pose -> bool) and outputs (pose -> action).

>>> close = NodesWithin("head", "abdomen", 40.0)             # any fly's head within 40 px of another's abdomen
>>> pulse = UDPTrigger("192.168.1.20", 5005)                 # one datagram per trigger
>>> live("models/flies", "camera:0", on_pose=pulse, condition=close)   # doctest: +SKIP

A condition is any callable ``condition(pose) -> bool``; an output is any callable
``output(pose)`` (a serial/TTL trigger is a plain function that writes to the port).
"""

from __future__ import annotations

import json
import socket

import numpy as np

from ...core.errors import ConfigError

__all__ = ["NodesWithin", "UDPTrigger", "CONDITIONS", "OUTPUTS"]


class NodesWithin:
    """True when node A of one animal is within ``distance`` px of node B of another animal.

    Parameters
    ----------
    node_a, node_b : str or int
        Node names (or indices) of the skeleton.
    distance : float
        In frame pixels.
    animal_a, animal_b : int or None
        Which animals (instance rank in the frame: 0 = the highest-scoring). ``None`` (the
        default) = any two different animals; live mode does not track identities.
    same_animal : bool
        Compare node A and node B of the *same* animal instead (e.g. a fly's legs near its head).
    """

    def __init__(self, node_a, node_b, distance: float, *, animal_a: int | None = None,
                 animal_b: int | None = None, same_animal: bool = False):
        if not distance > 0:
            raise ConfigError(f"NodesWithin distance should be > 0 px, got {distance!r}.",
                              hint="Give the trigger distance in frame pixels.")
        self.node_a, self.node_b = node_a, node_b
        self.distance = float(distance)
        self.animal_a, self.animal_b = animal_a, animal_b
        self.same_animal = bool(same_animal)
        self.last_distance = float("nan")

    def _index(self, node, names) -> int:
        if isinstance(node, (int, np.integer)):
            if not 0 <= int(node) < len(names):
                raise ConfigError(f"Node index {node} is out of range for the skeleton {names}.",
                                  hint="Use a node name or an index below the number of nodes.")
            return int(node)
        if node not in names:
            raise ConfigError(f"Node {node!r} is not in the model's skeleton {names}.",
                              hint="Use one of the model's node names.")
        return names.index(node)

    def bind(self, node_names) -> NodesWithin:
        """Check the node names against the model's skeleton (called once by live mode)."""
        names = list(node_names)
        self._ia, self._ib = self._index(self.node_a, names), self._index(self.node_b, names)
        return self

    def __call__(self, pose) -> bool:
        if not hasattr(self, "_ia"):
            self.bind(pose.node_names)
        pts = pose.points
        n = len(pts)
        a = pts[:, self._ia]  # (n, 2)
        b = pts[:, self._ib]
        if self.same_animal:
            d = np.linalg.norm(a - b, axis=-1)
            if self.animal_a is not None:
                d = d[self.animal_a:self.animal_a + 1] if self.animal_a < n else d[:0]
        else:
            d = np.linalg.norm(a[:, None] - b[None], axis=-1)  # (n, n): A of i vs B of j
            if n:
                np.fill_diagonal(d, np.nan)
            if self.animal_a is not None or self.animal_b is not None:
                ia = [self.animal_a] if self.animal_a is not None else list(range(n))
                ib = [self.animal_b] if self.animal_b is not None else list(range(n))
                if max(ia + ib, default=0) >= n:
                    self.last_distance = float("nan")
                    return False
                d = d[np.ix_(ia, ib)]
        finite = d[np.isfinite(d)]
        self.last_distance = float(finite.min()) if finite.size else float("nan")
        return bool(finite.size and self.last_distance <= self.distance)

    def __repr__(self) -> str:
        return f"NodesWithin({self.node_a!r}, {self.node_b!r}, {self.distance:g})"


class UDPTrigger:
    """Send one UDP datagram per call: ``message`` bytes, or a small JSON record of the pose.

    The JSON holds ``frame``, ``t`` (arrival, seconds on the perf counter), ``latency_ms``
    and ``n`` (animals). One socket is opened once; sending does not block.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 5005, message: bytes | None = None):
        self.address = (str(host), int(port))
        self.message = message
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.n_sent = 0

    def __call__(self, pose) -> None:
        data = self.message if self.message is not None else json.dumps(
            {"frame": int(pose.frame_idx), "t": pose.t_arrival, "latency_ms": round(pose.latency_ms(), 3),
             "n": int(len(pose.points))}).encode()
        self.sock.sendto(data, self.address)
        self.n_sent += 1

    def close(self) -> None:
        self.sock.close()

    def __repr__(self) -> str:
        return f"UDPTrigger({self.address[0]!r}, {self.address[1]})"


#: name -> condition class (for the CLI and the dock)
CONDITIONS = {"nodes_within": NodesWithin}
#: name -> output class
OUTPUTS = {"udp": UDPTrigger}
