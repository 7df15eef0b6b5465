"""Write a judged job into nbgrader's gradebook: the coordinator is its only writer.

nbgrader's ``autograde`` keeps its own chain (sanitize the submission, restore test cells from
the gradebook, save grades, late penalties), but its execution step is replaced by
:class:`InjectResults`: the outputs come from the job, not from running anything. Ordinary
cells get the outputs the sandbox produced; every graded cell gets the judge's outputs, so
``SaveAutoGrades`` scores exactly what the judge decided (an error scores 0, anything else
full points: never more than the cell's points).
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import json
from pathlib import Path

import nbformat
from nbformat.notebooknode import from_dict
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

SKIPPED_PREFIX = "# (not run while grading:"
OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}


def clean_outputs(outputs) -> list:
    """Well-formed outputs only (the executed notebook was written by student code)."""
    kept = []
    for out in outputs if isinstance(outputs, list) else []:
        if not isinstance(out, dict) or out.get("output_type") not in OUTPUT_TYPES:
            continue
        kind = out["output_type"]
        if kind == "stream":
            text = out.get("text")
            text = "".join(map(str, text)) if isinstance(text, list) else str(text or "")
            kept.append({"output_type": "stream", "name": "stderr" if out.get("name") ==
                         "stderr" else "stdout", "text": text})
        elif kind == "error":
            tb = out.get("traceback")
            kept.append({"output_type": "error", "ename": str(out.get("ename", ""))[:200],
                         "evalue": str(out.get("evalue", ""))[:20000],
                         "traceback": [str(t) for t in tb] if isinstance(tb, list) else []})
        else:
            data = out.get("data")
            if not isinstance(data, dict):
                continue
            data = {str(k): v if isinstance(v, str) else
                    ("".join(map(str, v)) if isinstance(v, list) else json.dumps(v))
                    for k, v in data.items()}
            item = {"output_type": kind, "data": data, "metadata": {}}
            if kind == "execute_result":
                item["execution_count"] = None
            kept.append(item)
    return [from_dict(o) for o in kept]


class InjectResults(NbGraderPreprocessor):
    """Fill a submission's outputs from its sandbox run and its graded cells from the judge."""

    job_results = Unicode(
        "", help="Folder with executed/<notebook>.ipynb and verdicts.json of one graded job."
    ).tag(config=True)

    def preprocess(self, nb, resources):
        if not self.job_results:
            raise RuntimeError(
                "this course grades through `python -m autograder grade`, which runs student "
                "code in a sandbox and judges it outside; plain `nbgrader autograde` would run "
                "student code unsandboxed and is turned off (nbgrader_config.py)")
        name = resources["nbgrader"]["notebook"]
        folder = Path(self.job_results)
        self._verdicts = {}
        verdicts_path = folder / "verdicts.json"
        if verdicts_path.is_file():
            self._verdicts = json.loads(verdicts_path.read_text()).get(name, {})
        self._executed = []
        executed_path = folder / "executed" / f"{name}.ipynb"
        if executed_path.is_file():
            try:
                raw = json.loads(executed_path.read_text(encoding="utf-8", errors="replace"))
                cells = raw.get("cells") if isinstance(raw, dict) else None
                self._executed = cells if isinstance(cells, list) else []
            except ValueError:
                self._executed = []
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        cell.execution_count = None
        nbg = cell.metadata.get("nbgrader", {})
        if nbg.get("grade"):
            verdict = self._verdicts.get(nbg.get("grade_id"))
            if isinstance(verdict, dict):
                cell.outputs = clean_outputs(verdict.get("outputs"))
            else:
                cell.outputs = clean_outputs([{
                    "output_type": "error", "ename": "NotGraded",
                    "evalue": "the grader has no result for this test",
                    "traceback": ["NotGraded: the grader has no result for this test"]}])
            return cell, resources
        ran = self._executed[index] if index < len(self._executed) else None
        if isinstance(ran, dict) and ran.get("cell_type") == "code":
            source = ran.get("source")
            source = "".join(source) if isinstance(source, list) else str(source or "")
            if source.startswith(SKIPPED_PREFIX):
                cell.outputs = clean_outputs([{"output_type": "stream", "name": "stdout",
                                               "text": source.lstrip("# ").strip("()") + "\n"}])
            else:
                cell.outputs = clean_outputs(ran.get("outputs"))
        else:
            cell.outputs = []
        return cell, resources


def verdict_score(outputs, points: float) -> float:
    """nbgrader's rule on the judge's outputs: an error scores 0, anything else full points."""
    failed = any(isinstance(o, dict) and o.get("output_type") == "error" for o in outputs or [])
    return 0.0 if failed else float(points)


def read_notebook(path: Path):
    return nbformat.read(path, as_version=4)
