"""The segment log: order across segments and reservations, space freed per segment, and
recovery of what a crash or a bad disk leaves behind."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest
from spool_helpers import record, values

from sluice.core.batch import Record
from sluice.delivery.spool.frames import HEAD_BYTES, encode
from sluice.delivery.spool.repair import HEADER_BYTES
from sluice.delivery.spool.segments import Position, SegmentLog, segment_ids, segment_name

SEGMENT_BYTES = 1024


def opened(directory: Path) -> SegmentLog:
    log = SegmentLog(directory, SEGMENT_BYTES)
    log.open()
    return log


def read_all(log: SegmentLog, position: Position | None = None) -> list[Record]:
    entries, _, _ = log.read(position or log.first(), 10_000)
    return [entry.record for entry in entries]


def append(log: SegmentLog, numbers: range, segment: int | None = None) -> None:
    for n in numbers:
        log.append(encode(record(n)), segment)


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    log = opened(tmp_path)
    append(log, range(60))

    assert len(segment_ids(tmp_path)) > 3
    assert values(read_all(log)) == values([record(n) for n in range(60)])
    assert log.held_bytes == sum(p.stat().st_size for p in tmp_path.glob("*.seg"))


def test_reading_resumes_where_it_stopped_and_sees_later_appends(tmp_path: Path) -> None:
    log = opened(tmp_path)
    append(log, range(5))
    first, after, _ = log.read(log.first(), 3)
    append(log, range(5, 8))
    rest, end, _ = log.read(after, 100)

    assert values([e.record for e in first + rest]) == values([record(n) for n in range(8)])
    assert log.at_end(end)
    assert not log.at_end(after)


def test_a_reserved_segment_is_read_first_but_only_once_sealed(tmp_path: Path) -> None:
    log = opened(tmp_path)
    append(log, range(0, 2))
    reserved = log.reserve()
    append(log, range(10, 12))  # newer: after the reservation
    append(log, range(2, 4), segment=reserved)  # older ones, given back later

    entries, stopped, _ = log.read(log.first(), 100)
    assert values([e.record for e in entries]) == values([record(n) for n in range(4)])
    log.seal(reserved)
    rest, _, _ = log.read(stopped, 100)
    assert values([e.record for e in rest]) == values([record(10), record(11)])


def test_space_is_freed_a_whole_delivered_segment_at_a_time(tmp_path: Path) -> None:
    log = opened(tmp_path)
    append(log, range(60))
    entries, _, _ = log.read(log.first(), 100)
    before = segment_ids(tmp_path)

    second_segment = next(e for e in entries if e.start.segment == before[1])
    freed = log.release_before(second_segment.start)

    assert segment_ids(tmp_path) == before[1:]
    assert freed == HEADER_BYTES + sum(
        len(encode(e.record)) for e in entries if e.start.segment == before[0]
    )
    assert log.clear() > 0
    assert segment_ids(tmp_path) == []
    assert log.held_bytes == 0


def test_after_a_restart_every_record_is_there_and_appends_go_after_them(tmp_path: Path) -> None:
    log = opened(tmp_path)
    append(log, range(30))
    log.close()

    again = opened(tmp_path)
    append(again, range(30, 33))

    assert values(read_all(again)) == values([record(n) for n in range(33)])


def damage(path: Path, how: str) -> None:
    """Tear the end off the segment at ``path``, or corrupt its second record."""
    data = bytearray(path.read_bytes())
    second = HEADER_BYTES + len(encode(record(0)))
    if how == "torn tail":
        del data[-7:]
    elif how == "flipped byte":
        data[second + HEAD_BYTES + 3] ^= 0x55
    else:
        data[second + 5] ^= 0x10  # the length field
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("how", "lost"),
    [("torn tail", -1), ("flipped byte", 1), ("flipped length", 1)],
)
def test_recovery_cuts_out_damage_counts_it_and_keeps_every_intact_record(
    tmp_path: Path, how: str, lost: int
) -> None:
    log = opened(tmp_path)
    append(log, range(40))
    entries, _, _ = log.read(log.first(), 100)
    log.close()
    last = segment_ids(tmp_path)[-1]
    in_last = [e.record for e in entries if e.start.segment == last]
    damage(tmp_path / segment_name(last), how)

    repaired = SegmentLog(tmp_path, SEGMENT_BYTES)
    recovery = repaired.open()

    expected = [e.record for e in entries if e.record is not in_last[lost]]
    assert (recovery.records, recovery.damaged) == (39, 1)
    assert recovery.dropped_bytes > 0
    assert values(read_all(repaired)) == values(expected)
    assert repaired.held_bytes == sum(p.stat().st_size for p in tmp_path.glob("*.seg"))
    repaired.close()
    assert SegmentLog(tmp_path, SEGMENT_BYTES).open().damaged == 0  # repaired for good


def test_a_segment_with_no_intact_record_is_removed(tmp_path: Path) -> None:
    (tmp_path / segment_name(3)).write_bytes(b"SLSPOOL1" + b"\x00" * 50)
    (tmp_path / segment_name(4)).write_bytes(b"")
    log = SegmentLog(tmp_path, SEGMENT_BYTES)

    recovery = log.open()

    assert (recovery.records, recovery.damaged) == (0, 1)
    assert segment_ids(tmp_path) == []
    append(log, range(1))
    assert segment_ids(tmp_path) == [5]  # numbering never goes back


FILE_SIZE_LIMIT = 3000
APPEND_UNTIL_REFUSED = f"""
import resource, signal, sys
from pathlib import Path
sys.path[:0] = {sys.path!r}
from sluice.delivery.spool.frames import encode
from sluice.delivery.spool.segments import SegmentLog
from spool_helpers import record
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, ({FILE_SIZE_LIMIT}, {FILE_SIZE_LIMIT}))
log = SegmentLog(Path(sys.argv[1]), 1 << 20)
log.open()
try:
    for n in range(1000):
        log.append(encode(record(n, size=100)))
except OSError as exc:
    print(exc.errno, log.held_bytes)
"""


def test_a_failed_write_leaves_no_partial_frame(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", APPEND_UNTIL_REFUSED, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).parent,
    )
    errno_code, held = map(int, done.stdout.split())

    (segment,) = segment_ids(tmp_path)
    assert errno_code == errno.EFBIG
    assert (tmp_path / segment_name(segment)).stat().st_size == held
    log = SegmentLog(tmp_path, SEGMENT_BYTES)
    recovery = log.open()
    assert recovery.damaged == 0
    assert values(read_all(log)) == values([record(n, size=100) for n in range(recovery.records)])
