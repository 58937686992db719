"""Spool directories: each worker process locks its own, and adopts what dead ones left."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from spool_helpers import record, values

from sluice.delivery.spool import dirs
from sluice.delivery.spool.frames import encode
from sluice.delivery.spool.segments import SegmentLog

HOLDER = f"""
import sys
sys.path[:0] = {sys.path!r}
from pathlib import Path
from sluice.delivery.spool import dirs
from sluice.delivery.spool.frames import encode
from sluice.delivery.spool.segments import SegmentLog
from spool_helpers import record
claim = dirs.claim(Path(sys.argv[1]))
log = SegmentLog(claim.directory, 1024)
log.open()
for n in range(int(sys.argv[2]), int(sys.argv[3])):
    log.append(encode(record(n)))
print(claim.directory.name, flush=True)
sys.stdin.read()  # hold the lock until the test closes stdin, or kills us
"""


class Holder:
    """A process that claims a spool directory, writes records ``first..last-1`` and holds."""

    def __init__(self, root: Path, first: int = 0, last: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(root), str(first), str(last)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent,
        )
        assert self.process.stdout is not None
        self.directory = self.process.stdout.readline().strip()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        if holder.process.poll() is None:
            holder.kill()


def read_back(directory: Path) -> list[bytes]:
    log = SegmentLog(directory, 1024)
    log.open()
    entries, _, _ = log.read(log.first(), 10_000)
    log.close()
    return values([e.record for e in entries])


def test_each_process_locks_a_directory_of_its_own(tmp_path: Path, holders: list[Holder]) -> None:
    holders += [Holder(tmp_path), Holder(tmp_path)]

    mine = dirs.claim(tmp_path)

    assert [h.directory for h in holders] == ["worker-0", "worker-1"]
    assert mine.directory == tmp_path / "worker-2"
    mine.release()


def test_a_killed_process_releases_its_directory(tmp_path: Path, holders: list[Holder]) -> None:
    holders.append(Holder(tmp_path, 0, 3))
    holders[0].kill()

    mine = dirs.claim(tmp_path)

    assert mine.directory == tmp_path / "worker-0"
    assert read_back(mine.directory) == values([record(n) for n in range(3)])
    mine.release()


def test_orphaned_segments_are_adopted_after_our_own_and_live_ones_are_left_alone(
    tmp_path: Path, holders: list[Holder]
) -> None:
    mine = dirs.claim(tmp_path)
    own = SegmentLog(mine.directory, 1024)
    own.open()
    for n in range(0, 20):
        own.append(encode(record(n)))
    own.close()
    holders += [Holder(tmp_path, 100, 130), Holder(tmp_path, 200, 210)]
    dead, alive = holders
    dead.kill()

    adopted = dirs.adopt(tmp_path, mine)

    assert adopted > 1
    expected = [record(n) for n in [*range(0, 20), *range(100, 130)]]
    assert read_back(mine.directory) == values(expected)
    assert read_back(tmp_path / dead.directory) == []
    assert dirs.adopt(tmp_path, mine) == 0
    alive.process.communicate("")  # lets it exit, unlocking its directory
    assert dirs.adopt(tmp_path, mine) > 0
    assert read_back(mine.directory)[-10:] == values([record(n) for n in range(200, 210)])
    mine.release()
