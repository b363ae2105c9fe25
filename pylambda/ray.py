"""Execution environments on a Ray cluster: ``Invoker(backend=RayBackend(address=...))``.

::

    from pylambda import Function, Invoker
    from pylambda.ray import RayBackend

    with Invoker(backend=RayBackend(address="auto")) as invoker:   # a running cluster
        results = invoker.map(fn, events)                         # spread over its nodes

``address=None`` starts a local Ray (a laptop), ``"auto"`` or ``"host:port"``
joins a cluster started with ``ray start --head``.  Each node runs
pylambda's own process backend, placed and reached through Ray; everything
else (limits, logs, history, bills, async, event sources) stays in the
caller.  Needs the ``ray`` extra (``pip install -e '.[ray]'`` in the checkout) on the
caller and on every node; docs/scale-out.md says how to go from a laptop to
a cluster.
"""

from __future__ import annotations

from ._environment.ray import RayBackend

__all__ = ["RayBackend"]

RayBackend.__module__ = "pylambda.ray"
