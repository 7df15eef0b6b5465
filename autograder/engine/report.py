"""Grades CSV, terminal table and histogram from the per-student results."""

from __future__ import annotations

import csv
import io
from pathlib import Path


def columns(results: list[dict]) -> list[str]:
    """Graded-cell columns: ``grade_id``, or ``notebook/grade_id`` where ids repeat."""
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
        w.writerow(["student", *names, "total", "max", "status", "details"])
        for r in sorted(results, key=lambda r: r["student"]):
            cells = [f"{r['cells'][k]['score']:g}" if k in r["cells"] else "" for k in keys]
            w.writerow([r["student"], *cells, f"{r['total']:g}", f"{r['max']:g}", r["status"],
                        " | ".join(r.get("details", []))])
    return path


def table(results: list[dict]) -> str:
    if not results:
        return "(no graded submissions)"
    rows = [("student", "total", "status")]
    for r in sorted(results, key=lambda r: r["student"]):
        rows.append((r["student"], f"{r['total']:g}/{r['max']:g}", r["status"]))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    buf = io.StringIO()
    for n, row in enumerate(rows):
        buf.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")
        if n == 0:
            buf.write("  ".join("-" * w for w in widths) + "\n")
    totals = [r["total"] for r in results]
    buf.write(f"{len(results)} student(s); mean {sum(totals) / len(totals):.2f} of {results[0]['max']:g}\n")
    return buf.getvalue()


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
