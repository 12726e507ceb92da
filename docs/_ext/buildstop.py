"""Stopping a docs build: Ctrl-C, SIGTERM or a killed worker ends all of it, promptly, and says what was kept.

The gallery's examples run in this process or in joblib's worker processes
(:mod:`examplecache`). Left to themselves, three things went wrong:

- SIGTERM killed the main process at once and left the workers running their examples to
  the end, minutes later, still writing into the build (and holding its output pipe open).
- A worker killed by the system ended the build in a page of internal traceback that said
  nothing about the cache (:func:`end_quietly_when_a_worker_dies`).
- A signal that reaches the process while its main thread is deep in native code is
  handled only when that code returns, which can be the end of the example.

So, for the build's main process, :func:`guard` makes SIGTERM unwind like Ctrl-C (joblib then
stops its workers); wakes a watcher thread on either signal through
:func:`signal.set_wakeup_fd`, which works whatever the main thread is doing, and if the
process has not ended within :data:`GRACE_SECONDS`, says what was kept, kills every process
the build started and exits; and at exit, when the gallery did not finish, kills what is
left and prints one line: which examples of this build were stored in the cache and which
will run again. Each worker watches its parent (:func:`watch_parent`) and exits when the
build has gone, however it went (even ``kill -9``).

The cache itself needs none of this to stay whole: entries are renamed into place only when
complete (:func:`examplecache.store_entry`).
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from pathlib import Path
from typing import Any

__all__ = ["BUILD_PID_ENV", "GRACE_SECONDS", "end_quietly_when_a_worker_dies", "gallery_finished", "guard", "watch_parent"]

#: The build's main process, for its workers (set by :func:`guard`).
BUILD_PID_ENV = "MLCHEATSHEET_BUILD_PID"
#: How long the main process may take to unwind after a signal before it is ended from outside.
GRACE_SECONDS = 5.0

_SIGNALS = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.summary: Callable[[], str] | None = None  # the line that says what was kept
        self.finished = False  # the gallery ran to its end (failed examples included)
        self.reason = ""
        self.said = False
        self.watching_parent = False


_STATE = _State()


def guard(summary: Callable[[], str]) -> None:
    """In the build's main thread, before any example runs: stop promptly on a signal.

    Args:
        summary: Returns the line that says which examples were stored and which will run
            again; called once, when the build stops before the gallery finished.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # Sphinx embedded in another program's thread: signals are that program's to handle
    _STATE.summary = summary
    os.environ[BUILD_PID_ENV] = str(os.getpid())  # the workers inherit it
    for stop in _SIGNALS:  # SIGTERM unwinds as Ctrl-C does, instead of dying with the workers running
        signal.signal(stop, _unwind)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    # The thread holds the writer too: were it collected, its descriptor would close under set_wakeup_fd.
    threading.Thread(target=_watch, args=(reader, writer), name="build-stop", daemon=True).start()
    atexit.register(_at_exit)


def end_quietly_when_a_worker_dies(app: Any) -> None:
    """Run sphinx-gallery's gallery step so that a worker the system killed ends the build in one line.

    joblib reports a dead worker as an exception that Sphinx prints as a page of internal
    traceback. Wrapping sphinx-gallery's ``builder-inited`` handler (same priority) turns it
    into an exit whose one line, printed at exit, says what was kept.
    """
    from sphinx_gallery.gen_gallery import generate_gallery_rst

    for listener in list(app.events.listeners["builder-inited"]):
        if listener.handler is generate_gallery_rst:
            app.disconnect(listener.id)
            app.connect("builder-inited", _ends_on_dead_worker(generate_gallery_rst), priority=listener.priority)
            return


def _ends_on_dead_worker(run: Callable[[Any], None]) -> Callable[[Any], None]:
    def gallery(app: Any) -> None:
        try:
            run(app)
        except BrokenExecutor as exc:
            codes = re.search(r"exit codes of the workers are (\{.*?\})", str(exc))
            _STATE.reason = f"a worker process that died{f' (exit {codes.group(1)})' if codes else ''}"
            raise SystemExit(1) from None  # past Sphinx's error report; _at_exit says what was kept

    return gallery


def gallery_finished() -> None:
    """Every example of the build has run (or failed): a later exit is not an interruption."""
    _STATE.finished = True


def watch_parent() -> None:
    """In a worker: exit as soon as the build's main process is gone (started once per process)."""
    build = os.environ.get(BUILD_PID_ENV, "")
    if not build.isdigit() or int(build) == os.getpid() or _STATE.watching_parent:
        return
    _STATE.watching_parent = True
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)  # the build is gone: nothing will read what this example makes

    threading.Thread(target=watch, name="build-parent", daemon=True).start()


def _unwind(signum: int, frame: object) -> None:
    _STATE.reason = _SIGNALS.get(signal.Signals(signum), f"signal {signum}")
    raise KeyboardInterrupt


def _watch(reader: socket.socket, writer: socket.socket) -> None:
    while True:
        try:
            received = reader.recv(64)
        except OSError:
            return
        stops = [signal.Signals(n) for n in received if n in (signal.SIGINT, signal.SIGTERM)]
        if stops:
            break
    _STATE.reason = _STATE.reason or _SIGNALS[stops[0]]
    time.sleep(GRACE_SECONDS)  # the main thread normally unwinds and exits well within this
    if not _STATE.finished:
        _say(f"{_STATE.reason}; the build did not unwind within {GRACE_SECONDS:g} s, so it was ended")
    _kill_descendants()
    os._exit(130 if stops[0] == signal.SIGINT else 143)


def _at_exit() -> None:
    if _STATE.finished:
        return
    _kill_descendants()  # workers still running an example that no one will use
    _say(_STATE.reason or "an error (above)")


def _say(reason: str) -> None:
    with _STATE.lock:
        if _STATE.said or _STATE.summary is None:
            return
        _STATE.said = True
    try:
        line = _STATE.summary()
    except Exception as exc:  # noqa: BLE001 - the build is stopping: say what can be said
        line = f"what was stored could not be read ({exc})"
    print(f"gallery: build stopped by {reason}: {line}", file=sys.__stderr__ or sys.stderr, flush=True)


def _descendants(root: int) -> list[int]:
    """Every living process below ``root`` (Linux's /proc; elsewhere none, and workers watch their parent)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while we looked
        fields = text[text.rindex(")") + 2:].split()  # after "pid (name) ": state, ppid, ...
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _kill_descendants() -> None:
    for pid in _descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)  # joblib's resource trackers ignore SIGINT and SIGTERM
        except (ProcessLookupError, PermissionError):
            pass
