"""Each worker's own spool directory, held with an exclusive ``flock``, and orphans adopted.

Layout: ``<root>/worker-<n>/`` holds a ``lock`` file and the segment files. A worker claims
the first ``worker-<n>`` whose lock it can take, so a restarted worker usually gets its old
directory back. At start it then adopts every other directory it can lock: a directory no
live worker holds is an orphan (its worker died, or the worker count shrank), and its
segments move into the claimant's directory, numbered after its own, to be replayed too.

The kernel drops a ``flock`` when its process dies, even by ``kill -9``, so a lock never
outlives its worker. Directories and lock files are never deleted: deleting a lock file
while another process may be opening it would let two processes lock different inodes.
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sluice.delivery.spool.repair import fsync_directory
from sluice.delivery.spool.segments import segment_ids, segment_name

log = logging.getLogger(__name__)

PREFIX: Final = "worker-"
LOCK_NAME: Final = "lock"
MAX_DIRECTORIES: Final = 4096


class SpoolDirError(OSError):
    """No spool directory could be claimed."""


@dataclass(slots=True)
class Claim:
    """A locked spool directory; the lock lasts until ``release`` or the process's end."""

    directory: Path
    fd: int

    def release(self) -> None:
        """Unlock the directory (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = -1


def claim(root: Path) -> Claim:
    """Lock the first free ``worker-<n>`` directory under ``root``, creating what is missing."""
    root.mkdir(parents=True, exist_ok=True)
    for index in range(MAX_DIRECTORIES):
        held = _try_lock(root / f"{PREFIX}{index}", create=True)
        if held is not None:
            return held
    raise SpoolDirError(f"all {MAX_DIRECTORIES} spool directories under {root} are locked")


def adopt(root: Path, own: Claim) -> int:
    """Move the segments of every unlocked ``worker-<n>`` directory into ``own``'s, after its
    own segments and in their order; returns how many segments were adopted."""
    adopted = 0
    for other in sorted(root.glob(f"{PREFIX}*")):
        if other == own.directory or not other.is_dir():
            continue
        held = _try_lock(other, create=False)
        if held is None:
            continue
        try:
            adopted += _move_segments(other, own.directory)
        finally:
            held.release()
    return adopted


def _move_segments(source: Path, target: Path) -> int:
    ids = segment_ids(source)
    if not ids:
        return 0
    for leftover in source.glob("*.tmp"):
        leftover.unlink()
    next_id = max(segment_ids(target), default=0) + 1
    for offset, segment in enumerate(ids):
        os.rename(source / segment_name(segment), target / segment_name(next_id + offset))
    fsync_directory(target)
    fsync_directory(source)
    log.warning(
        "adopted orphaned spool segments",
        extra={"from": str(source), "to": str(target), "segments": len(ids)},
    )
    return len(ids)


def _try_lock(directory: Path, create: bool) -> Claim | None:
    if create:
        directory.mkdir(exist_ok=True)
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return Claim(directory, fd)
