"""Loopback ports for the servers the tests start (PostgreSQL, Ray nodes)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]

_GIVEN: set[int] = set()
"""Every port :func:`free_port` has handed out in this process: the kernel may give the same free
port to two ``bind(0)`` calls in a row once the first socket is closed, and Ray refuses to start when
two of its components are given one port ("... is trying to use a port number ... that is used by
other components": a CI run failed so)."""


def free_port() -> int:
    """A port free on loopback now and never handed out before by this process."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
