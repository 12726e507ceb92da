"""The store's two primitives: whole-or-nothing writes that a web server can read, and a lock that takes turns."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from mlcheatsheet.cache import exclusive, write_atomically


def test_a_write_is_whole_or_absent_and_published_with_an_ordinary_mode(tmp_path: Path) -> None:
    path = write_atomically(tmp_path / "sub" / "record.json", lambda fh: fh.write(b"{}"), durable=True)
    assert path.read_bytes() == b"{}"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's private 0600

    def crash(fh) -> None:
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, crash)
    assert path.read_bytes() == b"{}" and sorted(p.name for p in path.parent.iterdir()) == ["record.json"]


def test_the_lock_lets_one_holder_in_at_a_time(tmp_path: Path) -> None:
    inside, most = [0], [0]
    entered = threading.Barrier(4)

    def work() -> None:
        entered.wait()
        for _ in range(20):
            with exclusive(tmp_path / "entry"):
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                time.sleep(0.002)  # let the others try to get in (without a lock they would)
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1 and (tmp_path / "entry.lock").exists()
