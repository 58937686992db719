"""Lines of a log file: read once, or followed like ``tail -F``.

Following survives the two ways logs are rotated:

- **rename and recreate** (logrotate's default, nginx's USR1): when the path names a new
  file, the old one is read to its end and the new one from its start;
- **copytruncate**: when the file shrinks below the position read, it is read again from
  its start.

A missing file is waited for. A last line without its newline is held back until it is
completed, and given as is at rotation or at the end. Bytes that are not UTF-8 are replaced
(U+FFFD), never fatal. ``.gz`` files are decompressed when read once. A file that cannot be
read, or a ``.gz`` that is corrupt or cut short, ends the lines with ``LogUnreadable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Final

from sluice_client.errors import SluiceClientError

CHUNK_BYTES: Final = 256 * 1024
DEFAULT_POLL_INTERVAL_S: Final = 0.25

IDLE: Final = None
"""Yielded while following, each time the file has nothing new."""


def _open_if_present(path: Path) -> BinaryIO | None:
    try:
        return open(path, "rb")  # closed by the follower
    except FileNotFoundError:
        return None


class LogUnreadable(SluiceClientError):
    """The log file cannot be read (or decompressed) to its end."""

    def __init__(self, path: Path, error: OSError | EOFError) -> None:
        why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        super().__init__(f"cannot read {path}: {why}")
        self.path = path


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").removesuffix("\r")


class LogLines:
    """The lines of ``path``; with ``follow``, waits for more until ``stop`` is set."""

    def __init__(
        self,
        path: Path,
        *,
        follow: bool = False,
        from_end: bool = False,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.path = path
        self._follow = follow
        self._from_end = from_end
        self._poll_s = poll_interval_s
        self._stop = stop or asyncio.Event()
        self.rotations = 0
        """Times the path was found to name a new file."""
        self.truncations = 0
        """Times the file shrank under the reader (copytruncate)."""

    def __aiter__(self) -> AsyncIterator[str | None]:
        return self._follow_lines() if self._follow else self._read_once()

    async def _read_once(self) -> AsyncIterator[str | None]:
        opener = gzip.open if self.path.suffix == ".gz" else open
        try:
            with opener(self.path, "rb") as file:
                pending = b""
                while chunk := file.read(CHUNK_BYTES):
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        yield _decode(line)
                    await asyncio.sleep(0)
                if pending:
                    yield _decode(pending)
        except (OSError, EOFError) as error:  # unreadable; a corrupt or truncated .gz
            raise LogUnreadable(self.path, error) from None

    async def _follow_lines(self) -> AsyncIterator[str | None]:
        try:
            file = await self._open_when_present()
        except OSError as error:  # e.g. a file we may not read
            raise LogUnreadable(self.path, error) from None
        if file is None:
            return
        if self._from_end:
            file.seek(0, os.SEEK_END)
        pending = b""
        try:
            while True:
                chunk = file.read(CHUNK_BYTES)
                if chunk:
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        yield _decode(line)
                    continue
                if self._stop.is_set():
                    break
                replaced = self._replaced(file)
                if replaced is not None:
                    if pending:
                        yield _decode(pending)
                        pending = b""
                    file.close()
                    file = replaced
                    self.rotations += 1
                    continue
                if os.fstat(file.fileno()).st_size < file.tell():
                    file.seek(0)
                    pending = b""
                    self.truncations += 1
                    continue
                yield IDLE
                await self._pause()
            if pending:
                yield _decode(pending)
        except OSError as error:
            raise LogUnreadable(self.path, error) from None
        finally:
            file.close()

    def _replaced(self, file: BinaryIO) -> BinaryIO | None:
        """The new file at the path once it is no longer ``file``; reads ``file`` out first."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return None
        if current.st_ino == os.fstat(file.fileno()).st_ino:
            return None
        return _open_if_present(self.path)

    async def _open_when_present(self) -> BinaryIO | None:
        while not self._stop.is_set():
            file = _open_if_present(self.path)
            if file is not None:
                return file
            await self._pause()
        return None

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self._poll_s)
