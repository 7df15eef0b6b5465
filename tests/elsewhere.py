"""Run a command as if on another host: in a user namespace of our own making, with user
namespaces switched off, as another uid. The tests use it to grade where the kit must work.

    python tests/elsewhere.py [--map INSIDE:OUTSIDE:COUNT]... [--no-userns] [--uid UID]
                              [--reach PATH]... -- COMMAND...

--map        make a user namespace with these id ranges (uids and gids alike; written by this
             process as root, so any ranges work, with no newuidmap), and run in it as its
             root; ``--map 0:0:1`` alone is ``unshare --user --map-root-user``
--no-userns  then write 0 to /proc/sys/user/max_user_namespaces inside it: no user
             namespace can be made any more (the value is per namespace; the host's is kept)
--uid        run COMMAND as this uid and gid, no supplementary groups
--reach      make PATH reachable for that uid: every folder above it that others may not
             enter is covered, in a private mount namespace, by a 0755 tmpfs holding only the
             way to PATH (a venv under /root, say); nothing changes outside that namespace

Needs root. Exits with COMMAND's exit status.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    _check(libc.mount(source and str(source).encode(), str(target).encode(),
                      fstype and fstype.encode(), flags, data and data.encode()),
           f"mount {target}")


def make_reachable(paths: list[Path]) -> None:
    """In this (private) mount namespace, cover each folder that others may not enter on the
    way to ``paths`` with a tmpfs that holds only the way on (bound back from a saved view)."""
    blocked: dict[Path, set[str]] = {}
    for path in paths:
        path = path.resolve()
        for parent in reversed(path.parents[:-1]):
            if os.stat(parent).st_mode & 0o001 == 0:
                child = path.relative_to(parent).parts[0]
                blocked.setdefault(parent, set()).add(child)
    saved = Path("/run") if Path("/run").is_dir() else Path("/tmp")
    for n, (folder, children) in enumerate(sorted(blocked.items(), key=lambda kv: -len(kv[0].parts))):
        view = saved / f".elsewhere-{os.getpid()}-{n}"
        view.mkdir()
        _mount(folder, view, None, MS_BIND | MS_REC)
        _mount("tmpfs", folder, "tmpfs", 0, "mode=0755")
        for child in children:
            inner = view / child
            target = folder / child
            if inner.is_dir():
                target.mkdir()
            else:
                target.touch()
            _mount(inner, target, None, MS_BIND | MS_REC)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--map", action="append", default=[])
    p.add_argument("--no-userns", action="store_true")
    p.add_argument("--uid", type=int)
    p.add_argument("--reach", action="append", default=[], type=Path)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(to_child_w)
            os.close(to_parent_r)
            _check(libc.unshare(CLONE_NEWNS | (CLONE_NEWUSER if args.map else 0)), "unshare")
            os.write(to_parent_w, b"1")
            os.read(to_child_r, 1)  # the parent has written the id maps
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            if args.no_userns:
                Path("/proc/sys/user/max_user_namespaces").write_text("0")
            make_reachable(args.reach)
            if args.uid is not None:
                os.setgroups([])
                os.setresgid(args.uid, args.uid, args.uid)
                os.setresuid(args.uid, args.uid, args.uid)
            os.execvp(command[0], command)
        except BaseException as exc:  # noqa: BLE001
            print(f"elsewhere: {exc}", file=sys.stderr)
            os._exit(126)
    os.close(to_child_r)
    os.close(to_parent_w)
    os.read(to_parent_r, 1)
    if args.map:
        lines = "".join(" ".join(m.split(":")) + "\n" for m in args.map)
        Path(f"/proc/{pid}/uid_map").write_text(lines)
        Path(f"/proc/{pid}/gid_map").write_text(lines)
    os.write(to_child_w, b"1")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
