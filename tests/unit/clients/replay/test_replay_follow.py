"""Reading a log once, and following it across appends, rotation and truncation."""

from __future__ import annotations

import asyncio
import gzip
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sluice_client.replay import IDLE, LogLines
from sluice_client.replay.follow import LogUnreadable

POLL_S = 0.01
ROUNDS = 500


async def read_all(lines: LogLines) -> list[str]:
    return [line async for line in lines if line is not IDLE]


async def test_read_once_gives_every_line(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(b"one\r\ntwo\n\nbad \xff byte\nlast without newline")
    assert await read_all(LogLines(path)) == [
        "one",
        "two",
        "",
        "bad \ufffd byte",
        "last without newline",
    ]


async def test_read_once_decompresses_gzip(tmp_path: Path) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(b"one\ntwo\n"))
    assert await read_all(LogLines(path)) == ["one", "two"]


class Follower:
    """Follows a file in a task, collecting lines, until stopped."""

    def __init__(self, path: Path, **options: bool) -> None:
        self.stop = asyncio.Event()
        self.lines = LogLines(path, follow=True, poll_interval_s=POLL_S, stop=self.stop, **options)
        self.seen: list[str] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for line in self.lines:
            if line is not IDLE:
                self.seen.append(line)

    async def until(self, condition: Callable[[], bool]) -> None:
        for _ in range(ROUNDS):
            if condition():
                return
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"not reached; seen {self.seen}")

    async def finish(self) -> list[str]:
        self.stop.set()
        await asyncio.wait_for(self.task, 5)
        return self.seen


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(text)


async def test_follow_waits_for_the_file_and_for_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    follower = Follower(path)
    await asyncio.sleep(5 * POLL_S)
    path.write_text("first\nhal")
    await follower.until(lambda: follower.seen == ["first"])
    append(path, "f\n")
    await follower.until(lambda: follower.seen == ["first", "half"])
    append(path, "unfinished")
    assert await follower.finish() == ["first", "half", "unfinished"]


async def test_follow_from_the_end_skips_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("old\n")
    follower = Follower(path, from_end=True)
    await asyncio.sleep(5 * POLL_S)
    append(path, "new\n")
    await follower.until(lambda: follower.seen == ["new"])
    assert await follower.finish() == ["new"]


async def test_follow_survives_rename_and_recreate(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("a1\n")
    follower = Follower(path)
    await follower.until(lambda: follower.seen == ["a1"])
    append(path, "a2\n")
    path.rename(tmp_path / "access.log.1")
    append(tmp_path / "access.log.1", "a3 written after the rename\n")
    await asyncio.sleep(5 * POLL_S)
    path.write_text("b1\n")
    await follower.until(lambda: len(follower.seen) == 4)
    assert await follower.finish() == ["a1", "a2", "a3 written after the rename", "b1"]
    assert follower.lines.rotations == 1


async def test_follow_restarts_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("a long first line\nsecond\n")
    follower = Follower(path)
    await follower.until(lambda: len(follower.seen) == 2)
    path.write_text("c1\n")  # copytruncate: same file, shorter
    await follower.until(lambda: len(follower.seen) == 3)
    assert await follower.finish() == ["a long first line", "second", "c1"]
    assert follower.lines.truncations == 1


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not gzip at all\n", "Not a gzipped file"),
        (gzip.compress(b"one\ntwo\n" * 1000)[:-20], "ended before the end-of-stream marker"),
    ],
)
async def test_a_corrupt_or_truncated_gzip_is_named_not_a_crash(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(content)

    with pytest.raises(LogUnreadable, match=f"cannot read {path}: .*{why}"):
        await read_all(LogLines(path))


async def test_replay_of_a_corrupt_gzip_says_so_and_exits_1(tmp_path: Path, target: str) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(b"not gzip at all\n")
    command = [sys.executable, "-m", "sluice", "replay", "access", str(path), "--target", target]

    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 1
    assert f"sluice replay: cannot read {path}: Not a gzipped file" in err.decode()
    assert "Traceback" not in err.decode()
    assert "replay: 0 lines" in out.decode()


async def test_following_a_path_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(LogUnreadable, match=f"cannot read {tmp_path}: Is a directory"):
        await read_all(LogLines(tmp_path, follow=True, poll_interval_s=POLL_S))
