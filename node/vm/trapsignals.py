"""Keeping wasmtime's trap handlers in place, so a faulting contract fails only its call.

wasmtime turns a contract's faults (memory out of bounds, division by zero, ``unreachable``, stack
overflow) into traps through signal handlers for SIGSEGV, SIGBUS, SIGILL and SIGFPE, installed
when the process makes its first engine. A fault outside wasm code is handed on to the handler
that was there before. A library that installs its own handler *afterwards* takes the signal
first, and a contract that divides by zero then kills the whole node: ``import gmpy2`` sets
SIGFPE to a handler that aborts, and ``faulthandler.enable()`` sets all four to one that dumps
the stack and exits. So ``record()`` (called when the shared engine is made) notes the handlers wasmtime installed, and
``ensure()`` (called before contract code runs in a new block, and before every read-only call)
puts back any that something replaced since, and logs which. Checking there, rather than wrapping
the imports known to do it, also covers libraries nobody has noticed yet.

The handlers are read and written with libc's ``sigaction`` through ctypes, because Python's
``signal`` module only sees handlers written in Python. On a platform without it, both do
nothing.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading

log = logging.getLogger(__name__)

TRAP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE)
_ACTION_BYTES = 256  # larger than any libc's struct sigaction (glibc x86-64: 152 bytes)
_HANDLER_BYTES = ctypes.sizeof(ctypes.c_void_p)  # the struct starts with the handler's address


def _load_sigaction() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        fn = ctypes.CDLL(None, use_errno=True).sigaction
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    fn.restype = ctypes.c_int
    return fn


_sigaction = _load_sigaction()
_lock = threading.Lock()
_recorded: dict[int, bytes] = {}


def current() -> dict[int, bytes]:
    """Each trap signal's installed action, as libc's ``struct sigaction`` bytes."""
    if _sigaction is None:
        return {}
    actions = {}
    for sig in TRAP_SIGNALS:
        buf = ctypes.create_string_buffer(_ACTION_BYTES)
        if _sigaction(sig, None, buf) == 0:
            actions[int(sig)] = buf.raw
    return actions


def _install(actions: dict[int, bytes]) -> list[str]:
    """Install ``actions`` where they differ from what is installed; the names of those signals."""
    if _sigaction is None:
        return []
    now = current()
    changed = []
    for sig, action in actions.items():
        # Only the handler's address identifies an action: libc leaves the unused tail of the
        # signal mask as it finds it, so two reads of one action can differ there.
        installed = now.get(sig)
        if installed is None or installed[:_HANDLER_BYTES] != action[:_HANDLER_BYTES]:
            buf = ctypes.create_string_buffer(action, _ACTION_BYTES)
            if _sigaction(sig, buf, None) == 0:
                changed.append(signal.Signals(sig).name)
    return changed


def record() -> None:
    """Note the handlers installed now (wasmtime's, just after the first engine was made)."""
    with _lock:
        if not _recorded:
            _recorded.update(current())


def ensure() -> list[str]:
    """Put back the recorded handlers that something replaced; the names of the signals put back."""
    if not _recorded:
        return []
    with _lock:
        restored = _install(_recorded)
    if restored:
        log.warning("wasmtime's trap handlers for %s had been replaced (by a library loaded after the "
                    "contract engine) and are restored: a faulting contract would have stopped the node",
                    ", ".join(restored))
    return restored
