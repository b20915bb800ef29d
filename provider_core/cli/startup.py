"""The garbage collector during a CLI process's start-up.

A CLI process makes, while it starts, objects that live until it exits: the modules it
imports, their classes and functions, the registry and its plugins. The cyclic garbage
collector finds nothing to free among them, yet at its default thresholds it walks them
again and again: about twenty collections, 4 to 7 ms of a ``provider-core providers``
run on the machine bench/RESULTS.md was measured on (timed with :data:`gc.callbacks`).

So the console script (:mod:`provider_core.__main__`) turns the collector off before the
CLI is imported, and :func:`began` records that. The start-up ends with the registry
loaded (:func:`provider_core.cli.output.registry`) or, for ``serve``, before serving:
:func:`ended` then freezes what the start-up made (:func:`gc.freeze`: never collected
again) and turns the collector back on for the command's own work. A command that never
loads the registry (``install``, ``--help``) runs to its end with it off. Only the console
script does any of this: :func:`provider_core.cli.main`, which tests and embedders call,
leaves the collector alone.
"""

from __future__ import annotations

import gc

__all__ = ["began", "ended", "in_progress"]

_off = False  # the console script turned the collector off, and the start-up is not over


def began() -> None:
    """The console script turned the collector off for the start-up (it is off now)."""
    global _off
    _off = not gc.isenabled()


def in_progress() -> bool:
    """Whether the collector is off for a start-up that has not ended."""
    return _off


def ended() -> bool:
    """End the start-up: freeze its objects and turn the collector back on, if
    :func:`began` said it was off for it. Returns whether it did; later calls do nothing."""
    global _off
    if not _off:
        return False
    _off = False
    gc.freeze()
    gc.enable()
    return True
