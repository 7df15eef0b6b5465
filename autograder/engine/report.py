"""Grades CSV, terminal table and histogram from the per-student results.

Tests come in notebook order (as the results list them). Every failed test's reason is
whole in the CSV (``failures``); the terminal table lists each failing student's reasons
under their row, shortened to :data:`TABLE_REASON_CHARS` around the middle, so that both
the start of a message and its end (where the reason of a "context: reason" message is)
stay in view.
"""

from __future__ import annotations

import csv
import io
import re
import textwrap
from pathlib import Path

# How much of one failure's message the terminal table shows (the CSV and feedback: all).
TABLE_REASON_CHARS = 240
TABLE_WIDTH = 100
# The status flag of a student the grader failed (grading.GRADER_ERROR), and how the table
# says it: the row is the grader's failure, not the student's.
GRADER_ERROR = "grader error"
GRADER_ERROR_SAID = "grader error (not the student's fault: re-grade after fixing)"


def columns(results: list[dict]) -> tuple[list[str], list[str]]:
    """Graded-cell columns in notebook order: ``grade_id``, or ``notebook/grade_id`` where
    ids repeat; and the results' keys for them."""
    keys: list[str] = []
    for r in results:
        for key in r["cells"]:
            if key not in keys:
                keys.append(key)
    ids = [k.split("/", 1)[1] for k in keys]
    return [k if ids.count(k.split("/", 1)[1]) > 1 else k.split("/", 1)[1] for k in keys], keys


def write_csv(results: list[dict], path: Path) -> Path:
    names, keys = columns(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", *names, "total", "max", "status", "failures", "details"])
        for r in sorted(results, key=lambda r: r["student"]):
            cells = [f"{r['cells'][k]['score']:g}" if k in r["cells"] else "" for k in keys]
            failures = " | ".join(f"{test}: {why}" for test, why in failures_of(r, names, keys))
            w.writerow([r["student"], *cells, f"{r['total']:g}", f"{r['max']:g}", r["status"],
                        failures, " | ".join(r.get("details", []))])
    return path


def failed(cell: dict) -> bool:
    try:
        return not float(cell["score"]) >= float(cell["max"]) > 0
    except (KeyError, TypeError, ValueError):
        return True


def failures_of(result: dict, names: list[str] | None = None,
                keys: list[str] | None = None) -> list[tuple[str, str]]:
    """``(test, why)`` for each test ``result`` did not pass, in notebook order, the message
    whole (as the results hold it)."""
    if names is None or keys is None:
        names, keys = columns([result])
    out = []
    for name, key in zip(names, keys):
        cell = result["cells"].get(key)
        if cell is not None and failed(cell):
            out.append((name, str(cell.get("error") or "failed")))
    return out


def shorten(text: str, limit: int = TABLE_REASON_CHARS) -> str:
    """``text`` on one line; if longer than ``limit``, its start and its end with an
    ellipsis between: a message that starts with its context ("block(X, ...) with X of shape
    ...:") keeps its reason at the end, one that starts with its reason keeps it at the
    start."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    if len(text) <= limit:
        return text
    head = limit * 2 // 5
    tail = limit - head - 3
    return text[:head].rstrip() + " \u2026 " + text[-tail:].lstrip()


def reasons(result: dict, width: int = TABLE_WIDTH, indent: str = "    ") -> list[str]:
    """The table's lines under a student's row: why each failed test failed, tests with the
    same reason on one line."""
    grouped: dict[str, list[str]] = {}
    for test, why in failures_of(result):
        grouped.setdefault(shorten(why), []).append(test)
    lines = []
    for why, tests in grouped.items():
        lines += textwrap.wrap(f"{', '.join(tests)}: {why}", width=width, initial_indent=indent,
                               subsequent_indent=indent + "  ", break_on_hyphens=False)
    return lines


def table(results: list[dict], why: bool = True) -> str:
    """Student, total and status per row; with ``why``, each failing student's reasons
    (shortened, see :func:`shorten`) under their row."""
    if not results:
        return "(no graded submissions)"
    ordered = sorted(results, key=lambda r: r["student"])
    rows = [("student", "total", "status")]
    for r in ordered:
        status = r["status"]
        if GRADER_ERROR in (r.get("flags") or []):
            status = status.replace(GRADER_ERROR, GRADER_ERROR_SAID)
        rows.append((r["student"], f"{r['total']:g}/{r['max']:g}", status))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    buf = io.StringIO()
    for n, row in enumerate(rows):
        buf.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")
        if n == 0:
            buf.write("  ".join("-" * w for w in widths) + "\n")
        elif why:
            buf.writelines(line + "\n" for line in reasons(ordered[n - 1]))
    totals = [r["total"] for r in results]
    buf.write(f"{len(results)} student(s); mean {sum(totals) / len(totals):.2f} of {results[0]['max']:g}\n")
    return buf.getvalue()


def grader_error_banner(results: list[dict], width: int = TABLE_WIDTH) -> str | None:
    """A framed block for the students the grader itself failed (``grader error`` rows), or
    None when there are none: how many, who and why, and the first one's whole traceback (the
    results keep every one's: ``grader_error`` in results/<student>.json)."""
    failed = [r for r in results if GRADER_ERROR in (r.get("flags") or [])]
    if not failed:
        return None
    rule = "#" * width
    lines = [rule,
             f"# THE GRADER FAILED for {len(failed)} of {len(results)} student(s): their rows say "
             f"'{GRADER_ERROR}'.",
             "# Their points are NOT their work's: fix the grader, then grade them again.", "#"]
    for r in failed:
        reason = (r.get("grader_error") or {}).get("reason") or "; ".join(
            d for d in r.get("details", []) if d.startswith(GRADER_ERROR)) or "(no reason kept)"
        lines += textwrap.wrap(f"{r['student']}: {shorten(reason)}", width=width - 2,
                               initial_indent="# ", subsequent_indent="#     ")
    first = next((r for r in failed if (r.get("grader_error") or {}).get("traceback")), None)
    lines.append("#")
    if first is None:
        lines.append("# (no traceback was kept)")
    else:
        lines.append(f"# The first traceback ({first['student']}):")
        lines.append("#")
        lines += ["#   " + line for line in
                  first["grader_error"]["traceback"].rstrip().splitlines()]
    lines.append(rule)
    return "\n".join(lines) + "\n"


def histogram(results: list[dict], path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = [r["total"] for r in results]
    top = max([r["max"] for r in results] + [1.0])
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    bins = min(20, max(5, int(top) + 1))
    ax.hist(totals, bins=bins, range=(0, top), color="#4472c4", edgecolor="white")
    ax.set_xlabel(f"total points (of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(title or "Grade distribution")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path
