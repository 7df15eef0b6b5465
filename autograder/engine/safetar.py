"""Unpack a job's tar archive safely, on every Python the kit supports.

``tarfile``'s ``extractall(..., filter="data")`` exists only from Python 3.11.4 (and 3.10.12,
3.12); on Debian 12's Python 3.11.2 the keyword is a ``TypeError``. :func:`extract` therefore
checks every member itself first, with the same rules on every Python, and then extracts with
the data filter where ``tarfile`` has one (``tarfile.data_filter``), else by hand, treating
modes, owners and times as the data filter does.

The rules (stricter than the data filter: a job archive holds nothing else):

* only regular files and folders: no symbolic or hard links, no devices, fifos or other kinds;
* a relative name without ``..``: no absolute path (the data filter would strip a leading
  ``/``; here it is refused), and what the name points at, with the links already on disk
  resolved, stays inside the destination;
* files keep at most mode 0o755 (no setuid, setgid or sticky bit, no group or other write),
  are always readable and writable by their owner, and lose every execute bit when their
  owner has none; folders get the default mode; owners and groups in the archive are ignored.

Anything else raises :class:`UnsafeArchive` before a single file is written.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path


def has_data_filter() -> bool:
    """Whether this Python's tarfile has ``filter="data"`` (3.11.4+, 3.12+; 3.10.12+)."""
    return hasattr(tarfile, "data_filter")


class UnsafeArchive(tarfile.TarError):
    """A member the rules above refuse; nothing of the archive was extracted."""


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"hard link to {member.linkname!r}"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "fifo"
    return f"member of type {member.type!r}"


def check_member(member: tarfile.TarInfo, dest: str) -> str:
    """The path ``member`` extracts to under ``dest`` (a resolved folder), or UnsafeArchive."""
    name = member.name
    if not (member.isreg() or member.isdir()):
        raise UnsafeArchive(f"{name!r} is a {_kind(member)}: only files and folders may be unpacked")
    if not name or "\0" in name:
        raise UnsafeArchive(f"{name!r}: not a usable file name")
    if name.startswith(("/", os.sep)) or os.path.isabs(name):
        raise UnsafeArchive(f"{name!r}: an absolute path")
    if ".." in name.replace(os.sep, "/").split("/"):
        raise UnsafeArchive(f"{name!r}: a '..' component")
    target = os.path.realpath(os.path.join(dest, name))
    if os.path.commonpath([target, dest]) != dest:
        raise UnsafeArchive(f"{name!r} would be written outside the destination, at {target}")
    return target


def file_mode(mode: int) -> int:
    """The data filter's mode for a regular file."""
    mode &= 0o755  # no setuid/setgid/sticky, no group/other write
    if not mode & 0o100:
        mode &= ~0o111  # not executable by its owner: by nobody
    return mode | 0o600  # the owner reads and writes


def extract(tar: tarfile.TarFile, dest: str | os.PathLike, *,
            data_filter: bool | None = None) -> None:
    """Extract all of ``tar`` into the folder ``dest`` (made if missing) under the rules above.

    ``data_filter``: None uses ``filter="data"`` where tarfile has it; False always extracts by
    hand (what Python 3.11.0-3.11.3 get); True insists on the data filter."""
    if data_filter is None:
        data_filter = has_data_filter()
    elif data_filter and not has_data_filter():
        raise RuntimeError("this Python's tarfile has no data filter (needs 3.11.4+ or 3.12+)")
    os.makedirs(dest, exist_ok=True)  # as extractall does
    root = os.path.realpath(dest)
    members = tar.getmembers()
    for member in members:
        check_member(member, root)  # all of them before writing anything
    if data_filter:
        tar.extractall(root, members=members, filter="data")
    else:
        _extract_by_hand(tar, members, root)


def _extract_by_hand(tar: tarfile.TarFile, members: list[tarfile.TarInfo], root: str) -> None:
    """What ``extractall(filter="data")`` does with members that passed :func:`check_member`."""
    folders = []
    for member in members:
        target = check_member(member, root)  # again: earlier members change what is on disk
        if member.isdir():
            os.makedirs(target, exist_ok=True)  # default mode, as the data filter leaves it
            folders.append((target, member))
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        source = tar.extractfile(member)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out)
        os.chmod(target, file_mode(member.mode))
        os.utime(target, (member.mtime, member.mtime))
    # Folders' times last, deepest first (writing a file into a folder changes its time).
    for target, member in sorted(folders, key=lambda item: item[0], reverse=True):
        os.utime(target, (member.mtime, member.mtime))


def extract_bytes(data: bytes, dest: str | os.PathLike, *, data_filter: bool | None = None) -> None:
    """:func:`extract` for a .tar.gz (or any compression tarfile reads) held in memory."""
    import io

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        extract(tar, Path(dest), data_filter=data_filter)
