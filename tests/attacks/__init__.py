"""A corpus of hostile submissions for the trusted grader (red-team tests).

Every attack is code: a builder that takes the released notebooks (and the batch's context:
paths, a unique token, the address of a loopback server the sandbox must not reach) and
returns the files it submits, with the *fair* outcome an honest grader must give (the most
points each resulting student may get). ``tests/test_attacks.py`` grades a batch of them
with honest students in the same run and checks that nobody gets an unfair point and that
nothing leaks out of the sandbox (see :mod:`attacks.harness`).

Categories: ``forge`` (score forging in the kernel), ``store`` (reaching the gradebook,
reports, other students, the instructor's files), ``harm`` (daemons, startup files, killing
parents, disk/memory/process/output bombs), ``network``, ``malformed`` (intake), ``feedback``
(active content and secrets in what students see), ``honest`` (controls).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat

TOY_NB = "squares"
RESNETS_NB1 = "1_residual_blocks"
RESNETS_NB2 = "2_resnet50_signs"


@dataclasses.dataclass
class Ctx:
    """What an attack builder may use (an attacker is assumed to know every path)."""

    token: str                      # unique per batch: names of planted files, daemon argv
    assignment: str
    course_root: Path
    class_dir: Path                 # the instructor's input folder (must stay untouched)
    reports: Path
    repo_root: Path
    release: dict                   # notebook name -> released NotebookNode
    solved: dict                    # notebook name -> fully solved NotebookNode
    pwn_dir: Path                   # host folder (/tmp/...) with victim.txt to tamper with
    tcp_port: int                   # TCP (and UDP) server on the host, all interfaces
    host_ips: list[str]
    abstract_socket: str            # abstract unix socket name (without the NUL) on the host
    unix_socket: Path               # filesystem unix socket on the host
    victim: str                     # an honest student graded after the attackers
    host_pid: int                   # the grading (pytest) process
    extra: dict = dataclasses.field(default_factory=dict)


Files = dict  # relative path under the class folder -> bytes | str | NotebookNode | Callable[[Path], None]


@dataclasses.dataclass
class Attack:
    name: str
    category: str
    description: str
    build: Callable[[Ctx], Files]
    fair: dict[str, float]          # student id -> most points an honest grader gives
    assignment: str = "toy"
    fast: bool = False              # in the fast subset of the normal test suite
    honest: bool = False            # must get exactly what grading it alone gives
    expect: str = ""                # what a sound grader does with it (for the report)

    @property
    def students(self) -> list[str]:
        return list(self.fair)


REGISTRY: list[Attack] = []


def attack(name: str, category: str, fair, *, assignment: str = "toy", fast: bool = False,
           honest: bool = False, expect: str = ""):
    """Register ``fn(ctx) -> files`` as an attack; ``fair`` is a number (the student is
    ``name``) or a {student id: points} dict for attacks that make several (intake)."""
    def register(fn):
        fairs = fair if isinstance(fair, dict) else {name: float(fair)}
        REGISTRY.append(Attack(name=name, category=category,
                               description=(fn.__doc__ or "").strip().splitlines()[0],
                               build=fn, fair={k: float(v) for k, v in fairs.items()},
                               assignment=assignment, fast=fast, honest=honest, expect=expect))
        return fn
    return register


# --- notebook helpers --------------------------------------------------------------------------

def nbg(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def cell_index(nb, grade_id: str) -> int:
    for i, cell in enumerate(nb.cells):
        if nbg(cell).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def set_cell(nb, grade_id: str, source: str):
    nb.cells[cell_index(nb, grade_id)].source = source
    return nb


def insert_code(nb, before_grade_id: str | None, source: str, *, after: bool = False):
    """A new (ungraded) code cell before (or after) the cell ``before_grade_id`` (None: end)."""
    cell = nbformat.v4.new_code_cell(source)
    if before_grade_id is None:
        nb.cells.append(cell)
    else:
        nb.cells.insert(cell_index(nb, before_grade_id) + (1 if after else 0), cell)
    return nb


WRONG_SQUARE = "def square(x):\n    return 0  # wrong on purpose"
WRONG_CUBE = "def cube(x):\n    return 0  # wrong on purpose"
RIGHT_SQUARE = "def square(x):\n    return x * x"
RIGHT_CUBE = "def cube(x):\n    return x ** 3"


def toy(ctx: Ctx, *, square: str = WRONG_SQUARE, cube: str = WRONG_CUBE, before: str = "",
        cells: list[tuple[str | None, str]] = (), base: str = "release"):
    """The toy notebook with the given answers; ``before`` is put at the top of the first
    answer cell (where an attacker's set-up runs); ``cells`` adds new cells (before the
    cell with that grade id, None: at the end)."""
    nb = copy.deepcopy(ctx.solved[TOY_NB] if base == "solved" else ctx.release[TOY_NB])
    set_cell(nb, "square", (before.rstrip() + "\n\n" if before else "") + square)
    set_cell(nb, "cube", cube)
    for where, source in cells:
        insert_code(nb, where, source)
    return nb


def one(ctx: Ctx, name: str, nb, notebook: str = TOY_NB) -> Files:
    return {f"{name}/{notebook}.ipynb": nb}


# What attacks run in the kernel to report what they could do (HOME is the job's work dir).
# Keys starting with "breach:" are hostile actions: ok=True means the sandbox let it happen.
# The probes go under captures/, which the grader copies out (harness.PROBE_FILES): the work
# folder itself is gone when grading ends (a filesystem of the job's own, or deleted).
PROBE_LIB = r'''
import json as _aj, os as _ao
def _probe(key, **kw):
    try:
        _d = _ao.path.join(_ao.environ.get("HOME", "/sandbox"), "captures")
        _ao.makedirs(_d, exist_ok=True)
        with open(_ao.path.join(_d, "attack-probe.jsonl"), "a") as _f:
            _f.write(_aj.dumps({"key": key, **kw}, default=str) + "\n")
    except Exception:
        pass
def _try(key, fn):
    try:
        r = fn()
        _probe(key, ok=True, result=repr(r)[:300])
        return True
    except BaseException as e:
        _probe(key, ok=False, error=f"{type(e).__name__}: {e}"[:300])
        return False
'''


def probe_code(body: str) -> str:
    return PROBE_LIB + "\n" + body


from . import honest, toy_forge, store, harm, network, malformed, feedback, resnets  # noqa: E402,F401


def select(*, assignment: str | None = None, fast: bool | None = None) -> list[Attack]:
    """Attacks of ``assignment`` (all if None); ``fast=True``: the fast subset only."""
    return [a for a in REGISTRY if (assignment is None or a.assignment == assignment)
            and (not fast or a.fast)]


__all__ = ["Attack", "Ctx", "REGISTRY", "attack", "select", "toy", "one", "probe_code"]
