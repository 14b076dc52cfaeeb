"""The landing folder: which entries are event files, and opening one without leaving the folder.

Files are read only if they are *regular files inside the folder*: the scan never follows a
symbolic link (to a file or to a folder), and opening a landed file checks that its real path is
the folder's real path plus its own relative path (no symlinked component, no ``..``) and that
what was opened is a regular file (not a FIFO, socket or device, which could block or never end).
An entry that fails these checks is still *listed* (a producer dropped it, and it must not be lost
silently): ingesting it quarantines it as a whole with the reason, without reading a byte.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

LANDING_SUFFIXES = (".jsonl", ".jsonl.gz", ".csv", ".parquet")
HASH_BLOCK = 1 << 20


class RefusedFile(Exception):
    """A landed entry the platform does not read; the message says why and what to do."""


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "regular file"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def is_event_file_name(name: str) -> bool:
    """A name the landing folder takes as an event file (hidden and ``*.tmp``/``*.part`` names are not)."""
    return not name.startswith(".") and name.lower().endswith(LANDING_SUFFIXES)


def scan_folder(root: Path) -> list[Path]:
    """Every entry under ``root`` whose name is an event file's, without following any link.

    Symbolic links (to files or folders), FIFOs, sockets and devices with such a name are listed
    too, so that ingesting them quarantines them with a reason instead of losing them silently;
    a symlinked folder is never entered.
    """
    found: list[Path] = []
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in filenames:
            if is_event_file_name(name):
                found.append(base / name)
        for name in list(dirnames):
            if (base / name).is_symlink() and is_event_file_name(name):
                found.append(base / name)
    return sorted(found)


def relative_inside(root: Path, relative: str) -> Path:
    """``root / relative`` if ``relative`` names an entry inside ``root`` lexically, else :class:`RefusedFile`."""
    parts = Path(relative).parts
    if not relative or Path(relative).is_absolute() or any(part in ("..", ".") for part in parts) or "\x00" in relative:
        raise RefusedFile(f"{relative!r} is not a path inside the landing folder {root}; only files dropped in that "
                          "folder are ingested.")
    return root / relative


def _check_inside(path: Path, root: Path) -> None:
    """Refuse ``path`` unless its real path is ``root``'s real path plus its path relative to ``root``."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise RefusedFile(f"{path} is outside the landing folder {root}; only files dropped in that folder are ingested.") from None
    relative_inside(root, str(relative))
    real_root = Path(os.path.realpath(root))
    if Path(os.path.realpath(path.parent)) != real_root / relative.parent:
        raise RefusedFile(f"{path} lies behind a symbolic link to a folder; links are never followed out of the landing "
                          "folder. Copy the file itself into the folder.")


def open_event_file(path: Path, root: Path | None = None) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file (inside ``root``, without following links).

    With ``root`` (a landing folder, or a folder named on the command line) a symbolic link is
    refused, and so is any path that leaves ``root``. Without it (a file the operator named
    explicitly) links are followed, the operator's choice, but the target must still be a regular
    file. Raises :class:`RefusedFile` with the reason; never blocks on a FIFO.
    """
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if root is not None:
        _check_inside(path, Path(root))
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RefusedFile(f"{path.name} is a symbolic link; links in the landing folder are never followed. Copy "
                              "the file itself into the folder.") from None
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket, or a FIFO/device that cannot be opened so
            raise RefusedFile(f"{path.name} is a {_kind(os.lstat(path).st_mode)}, not a regular file; only regular "
                              "files are ingested.") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise RefusedFile(f"{path.name} is a {_kind(mode)}, not a regular file; only regular files are ingested. Drop "
                          "the events as a file.")
    return os.fdopen(fd, "rb")


def refused_identity(path: Path, reason: str) -> str:
    """The content hash that stands for an entry that is not read: sha256 of its path and reason.

    A refused entry is claimed once like any file (re-scanning it is a no-op); a regular file
    put in its place later has a content hash of its own and is ingested.
    """
    return hashlib.sha256(f"subledger:refused:{path}:{reason}".encode()).hexdigest()


@dataclass(frozen=True)
class FileIdentity:
    """A landed file as a batch claims it and as its quarantine entries point at it."""

    path: Path
    content_hash: str  # sha256 of the bytes, or refused_identity() when the file is not read
    sha256: str | None  # None when not read
    size: int | None


def identify(path: Path, root: Path | None = None) -> FileIdentity:
    """Hash ``path`` as :func:`open_event_file` would open it (without ``root``: within its own folder,
    so a link is never followed here); never blocks, never reads what would not be ingested."""
    path = Path(path)
    try:
        handle = open_event_file(path, root if root is not None else path.parent)
    except RefusedFile as exc:
        return FileIdentity(path, refused_identity(path, str(exc)), None, None)
    digest = hashlib.sha256()
    size = 0
    with handle:
        for block in iter(lambda: handle.read(HASH_BLOCK), b""):
            digest.update(block)
            size += len(block)
    return FileIdentity(path, digest.hexdigest(), digest.hexdigest(), size)


def file_hash(path: Path, root: Path | None = None) -> str:
    """sha256 of the file's bytes, or :func:`refused_identity` if it is not read (see :func:`identify`)."""
    return identify(path, root).content_hash


def event_files(paths: Iterable[Path]) -> list[tuple[Path, Path | None]]:
    """(file, the folder it was found in or None) for ``paths``: folders are scanned, files are taken as named.

    A file or folder named explicitly is the operator's choice: a symbolic link to it is followed
    (resolved here), but a file must still be a regular file when it is read, and a folder's own
    entries are scanned without following links.
    """
    found: dict[Path, Path | None] = {}
    for path in paths:
        path = Path(path)
        path = path.resolve() if path.is_symlink() else path  # named here: the operator's choice
        if path.is_dir():
            for entry in scan_folder(path):
                found.setdefault(entry, path)
        else:
            found.setdefault(path, None)
    return sorted(found.items(), key=lambda item: item[0])
