"""Feedback pages: what student code displayed is inert, pages that would show the course's
secrets are withheld, honest pages are kept.

Pages are rendered the way nbgrader's generate_feedback renders them, with the course's own
nbgrader_config.py (its exporter and preprocessor chain), minus GetGrades: no gradebook.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from html.parser import HTMLParser

import h5py
import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from traitlets.config import Config

from autograder.engine.course import (REPO_ROOT, Course, build_secrets, hidden_regions,
                                      load_config, split_marked, text_leaks)
from autograder.engine.feedback import (HIDDEN_NOTE, active_content, check_page, clean_svg,
                                        course_secrets, feedback_settings,
                                        remove_hidden_regions, render, summary_page)

CONFIG = load_config(REPO_ROOT)
SECRET_DIR = REPO_ROOT / "autograder" / "resnets"


def tiny_png() -> str:
    """A valid 2x2 RGB PNG, base64 (what matplotlib's inline backend sends)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes([10 * y, 200, 30, 40, 50, 60]) for y in range(2))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


PNG = tiny_png()
# What pandas' DataFrame._repr_html_ gives (with its scoped style).
TABLE = """<div>
<style scoped>
    .dataframe tbody tr th:only-of-type { vertical-align: middle; }
    .dataframe thead th { text-align: right; }
</style>
<table border="1" class="dataframe">
  <thead><tr style="text-align: right;"><th></th><th>epoch</th><th>loss</th></tr></thead>
  <tbody>
    <tr><th>0</th><td>1</td><td>1.7931</td></tr>
    <tr><th>1</th><td>2</td><td>1.2048</td></tr>
  </tbody>
</table>
</div>"""


def display(data, metadata=None, kind="display_data"):
    extra = {"execution_count": 4} if kind == "execute_result" else {}
    return new_output(kind, data=data, metadata=metadata or {}, **extra)


def notebook(*cells, outputs=()):
    """An autograded-like notebook: a solution cell with ``outputs``, a plot and a table."""
    answer = new_code_cell("show()", metadata={"nbgrader": {
        "grade": False, "grade_id": "answer", "locked": False, "schema_version": 3,
        "solution": True, "task": False}})
    answer.outputs = list(outputs)
    plot = new_code_cell("plot(); table")
    plot.outputs = [display({"image/png": PNG, "text/plain": "<Figure>"}),
                    display({"text/html": TABLE, "text/plain": "table"}, kind="execute_result")]
    return new_notebook(cells=[new_markdown_cell("# Residual blocks"), *cells, answer, plot])


# -- 1. active content ------------------------------------------------------------------------
SVG_ATTACK = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     onload="alert('svg')" width="10" height="10">
  <script>alert('svg script')</script>
  <foreignObject><iframe xmlns="http://www.w3.org/1999/xhtml" src="https://x.test"/>
  </foreignObject>
  <a xlink:href="javascript:alert('a')"><circle r="4" onclick="alert('c')"/></a>
  <set attributeName="onmouseover" to="alert('set')"/>
  <animate attributeName="href" values="javascript:alert('anim')"/>
  <rect width="5" height="5" style="fill: url(https://x.test/p)"/>
  <circle r="3" fill="red"/>
</svg>"""
ATTACKS = {
    "script": "<script>alert('script')</script>",
    "event handlers": ("<img src='data:image/png;base64,AAAA' onerror=\"alert('img')\">"
                       "<b onmouseover=\"alert('b')\">bold</b><body onload=alert('body')>"),
    "javascript links": ("<a href=\"javascript:alert('a')\">a</a>"
                         "<a href=\"jav&#x09;ascript:alert('tab')\">b</a>"
                         "<a href=\"data:text/html;base64,PHNjcmlwdD4=\">c</a>"),
    "iframe": ("<iframe src=\"https://x.test\"></iframe>"
               "<iframe srcdoc=\"<script>alert('srcdoc')</script>\"></iframe>"),
    "object and embed": "<object data=\"x.swf\"></object><embed src=\"x.swf\"><applet>",
    "meta refresh": "<meta http-equiv=\"refresh\" content=\"0; url=https://x.test\">",
    "form": ("<form action=\"https://x.test\"><input name=\"pw\" type=\"password\">"
             "<button formaction=\"javascript:alert('f')\">go</button></form>"),
    "style": ("<style>body { background: url(https://x.test/track) }</style>"
              "<div style=\"width: expression(alert('e')); background-image: url(x)\">d</div>"),
    "inline svg": "<svg onload=\"alert('svg')\"><script>alert(1)</script></svg>",
    "base and link": "<base href=\"https://x.test/\"><link rel=\"stylesheet\" href=\"x.css\">",
}


def attack_notebooks():
    """(name, notebook) for each way student code can put active content on the page."""
    for name, payload in ATTACKS.items():
        yield f"text/html {name}", notebook(outputs=[display({"text/html": payload,
                                                              "text/plain": "x"})])
    yield "text/html isolated", notebook(outputs=[display(
        {"text/html": ATTACKS["script"]}, {"text/html": {"isolated": True}})])
    markdown = ("[click](javascript:alert('md')) <script>alert('md')</script>\n\n"
                "<img src=x onerror=\"alert('md')\"> <iframe src=\"https://x.test\"></iframe>")
    yield "text/markdown", notebook(outputs=[display({"text/markdown": markdown})])
    yield "markdown cell", notebook(new_markdown_cell(markdown))
    yield "markdown cell with math", notebook(new_markdown_cell("$a<b$ <b onclick=x>t</b> "
                                                                "$<img src=x onerror=y>$"))
    yield "svg output", notebook(outputs=[display({"image/svg+xml": SVG_ATTACK})])
    yield "javascript output", notebook(outputs=[display(
        {"application/javascript": "alert('js')", "text/plain": "<Javascript>"})])
    widget = notebook(outputs=[display({
        "application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2},
        "text/plain": "IntSlider()"})])
    widget.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    yield "widget", widget
    yield "image metadata", notebook(outputs=[display(
        {"image/png": PNG}, {"image/png": {"width": "1 onerror=alert(1)",
                                           "filenames": {"image/png": "javascript:x"}}})])
    yield "raw html cell", notebook(new_raw_cell(ATTACKS["script"] + ATTACKS["iframe"],
                                                 metadata={"raw_mimetype": "text/html"}))
    yield "grade id", notebook(new_markdown_cell("answer", metadata={"nbgrader": {
        "grade": True, "grade_id": "x\"><script>alert('id')</script>", "locked": False,
        "points": 1, "score": 0, "schema_version": 3, "solution": True, "task": False}}))


class LiveContent(HTMLParser):
    """Everything in a page's body that could run or load something, found independently
    of the code under test; the head holds the template's MathJax only."""

    BAD_TAGS = {"script", "iframe", "frame", "object", "embed", "applet", "meta", "form",
                "input", "button", "style", "base", "link", "svg"}

    def __init__(self):
        super().__init__()
        self.body, self.found, self.head_scripts, self.images, self.svgs = False, [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.body = self.body or tag == "body"
        if tag == "script" and not self.body:
            self.head_scripts.append(dict(attrs))
        elif tag in self.BAD_TAGS and self.body:
            self.found.append(tag)
        for name, value in attrs:
            plain = re.sub(r"[\s\x00-\x1f]", "", value or "").lower()
            if name.startswith("on") or name == "srcdoc":
                self.found.append(f"{tag} {name}")
            if plain.startswith(("javascript:", "vbscript:")) or "expression(" in plain:
                self.found.append(f"{tag} {name}={plain}")
            if plain.startswith("data:") and not (tag == "img" and name == "src"):
                self.found.append(f"{tag} {name}=data:")
            if tag == "img" and name == "src":
                self.images.append(value)
                if value.startswith("data:image/svg+xml;base64,"):
                    self.svgs.append(base64.b64decode(value.split(",", 1)[1]).decode())
            if name == "style" and "url(" in plain:
                self.found.append(f"{tag} style={plain}")


def live_content(page: str) -> LiveContent:
    parser = LiveContent()
    parser.feed(page)
    return parser


@pytest.mark.parametrize("name, nb", list(attack_notebooks()), ids=lambda x: x
                         if isinstance(x, str) else "")
def test_active_content_in_outputs_is_not_live_in_the_feedback(name, nb):
    page = render(nb, CONFIG)
    found = live_content(page)
    assert found.found == [], name
    assert "alert(" not in " ".join(found.images), name
    for svg in found.svgs:  # an SVG in an <img> is inert; it is cleaned all the same
        assert not re.search(r"<script|\bon\w+=|foreignObject|javascript:|<set|<animate", svg)
    # Only the template's MathJax runs, with its Safe extension (no \href{javascript:...}).
    assert [s.get("src") for s in found.head_scripts if s.get("src")] == [
        "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js"
        "?config=TeX-AMS_CHTML-full,Safe"]
    assert active_content(page) == []  # the page check agrees: this page would be kept
    # The plot and the table survive next to the attack.
    assert f"data:image/png;base64,{PNG}" in found.images
    for tag in ("<table", "<thead>", "<th>epoch</th>", "<td>1.7931</td>", "</tbody>"):
        assert tag in page, tag


def test_harmless_markup_survives_sanitising():
    nb = notebook(new_markdown_cell("**bold** <details><summary>hint</summary>text</details>"
                                    " $x^2$"),
                  outputs=[display({"text/html": "<b>ok</b> <a href=\"https://x.test\">doc</a>"
                                                 " <span style=\"color: red\">red</span>"}),
                           display({"text/markdown": "*it* `code`"})])
    page = render(nb, CONFIG)
    for html in ("<strong>bold</strong>", "<details><summary>hint</summary>", "$x^2$",
                 "<b>ok</b>", '<a href="https://x.test">doc</a>', 'style="color: red;"',
                 "<em>it</em>", "<code>code</code>"):
        assert html in page, html


def test_a_matplotlib_svg_keeps_its_drawing():
    svg = """<?xml version="1.0" encoding="utf-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="10pt" height="10pt" viewBox="0 0 10 10"
     xmlns="http://www.w3.org/2000/svg" version="1.1">
 <metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></metadata>
 <defs><style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}</style></defs>
 <g id="figure_1"><path id="m1" d="M 0 0 L 1 1" style="stroke: #000"/>
  <use xlink:href="#m1" x="2" y="3" clip-path="url(#p1)"/></g>
 <defs><clipPath id="p1"><rect x="0" y="0" width="5" height="5"/></clipPath></defs>
</svg>"""
    cleaned = clean_svg(svg)
    for part in ('href="#m1"', 'clip-path="url(#p1)"', "<clipPath", "stroke-linejoin", "<path"):
        assert part in cleaned, part
    assert "metadata" not in cleaned


def test_summary_page_escapes_what_came_from_students(tmp_path):
    evil = "\"><script>alert(1)</script><img src=x onerror=alert(2)>"
    result = {"student": evil, "assignment": "resnets", "status": evil, "total": 1, "max": 2,
              "flags": [evil], "details": [evil],
              "cells": {"a": {"notebook": evil, "grade_id": evil, "score": 0, "max": 1,
                              "error": evil + "' onmouseover='alert(3)"}}}
    page = summary_page(result, [tmp_path / "javascript:alert(1).html"], [evil])
    assert live_content(page).found == [] and active_content(page) == []
    assert "<script>" not in page and 'href="./javascript%3Aalert%281%29.html"' in page


# -- 2. secrets -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secrets():
    return course_secrets(Course(REPO_ROOT, "resnets"))


@pytest.fixture(scope="module")
def hidden_split():
    with h5py.File(SECRET_DIR / "data" / "signs_hidden.h5", "r") as f:
        return f["test_set_x"][()], f["test_set_y"][()]


def page_for(tmp_path, text, name="page"):
    """The feedback page of a notebook whose student cell printed ``text``."""
    nb = notebook(outputs=[new_output("stream", name="stdout", text=text)])
    path = tmp_path / f"{name}.html"
    path.write_text(render(nb, CONFIG), encoding="utf-8")
    return path


def secret_prints(x, y):
    """What a student could print to carry a secret out (name -> text)."""
    checks = (SECRET_DIR / "checks.py").read_text()
    thresholds = (SECRET_DIR / "thresholds.json").read_text()
    line = next(s for s in checks.splitlines() if "def check_identity_block" in s)
    with np.printoptions(threshold=10**6):
        return {
            "a line of checks.py": line,
            "a function of checks.py": checks[checks.index(line):][:1500],
            "thresholds.json verbatim": thresholds,
            "thresholds as Python prints them": repr(json.loads(thresholds)),
            "thresholds.json in base64": base64.b64encode(thresholds.encode()).decode(),
            "thresholds.json in hex": thresholds.encode()[600:800].hex(),
            "hidden images, numpy repr": repr(x[3, 10]),
            "hidden images scaled, numpy repr": repr((x[4, 20] / 255).astype("float32")),
            "hidden images as a list": str(x[5, :2].tolist()),
            "hidden images in base64": base64.b64encode(x[7].tobytes()[:300]).decode(),
            "hidden images as bytes": repr(x[8].tobytes()[:100]),
            "hidden labels, numpy repr": repr(y),
            "hidden labels in base64": base64.b64encode(y[:40].tobytes()).decode(),
            "the hidden split file in base64": base64.b64encode(
                (SECRET_DIR / "data" / "signs_hidden.h5").read_bytes()[100_000:100_300]).decode(),
        }


def test_printing_secret_material_gets_the_page_withheld(secrets, hidden_split, tmp_path):
    for name, text in secret_prints(*hidden_split).items():
        page = page_for(tmp_path, text)
        assert check_page(page, secrets), name


def test_a_page_with_secret_data_in_an_image_is_withheld(secrets, hidden_split, tmp_path):
    raw = base64.b64encode(hidden_split[0][2].tobytes()[:200]).decode()
    nb = notebook(outputs=[display({"image/png": raw})])
    page = tmp_path / "img.html"
    page.write_text(render(nb, CONFIG), encoding="utf-8")
    assert any("inline image" in p for p in check_page(page, secrets))


def test_hidden_test_lines_and_markers_still_count(secrets, tmp_path):
    hidden = sorted(secrets.hidden)[0]
    assert check_page(page_for(tmp_path, hidden), secrets)
    assert check_page(page_for(tmp_path, "### BEGIN HIDDEN TESTS"), secrets)
    assert check_page(page_for(tmp_path, hidden), [hidden])  # plain snippets, as before


def test_an_honest_page_is_kept(secrets, tmp_path):
    with h5py.File(REPO_ROOT / "data" / "signs" / "train_signs.h5", "r") as f:
        x_train, y_train = f["train_set_x"][:3], f["train_set_y"][:200]
    with np.printoptions(threshold=10**6):
        printed = "\n".join([
            "Epoch 1/3\n34/34 - 40s - 1s/step - accuracy: 0.2176 - loss: 2.3012",
            "test accuracy: 0.5583333373069763  (hidden split: not in the kit)",
            repr(x_train[0, 5]), repr((x_train[1, 7] / 255).astype("float32")),
            repr(y_train), str(x_train[2, :2].tolist()),
            "model = keras.Model(inputs=X_input, outputs=X, name='ResNet50')",
            base64.b64encode(b"my own notes, nothing secret here at all").decode(),
        ])
    nb = notebook(outputs=[new_output("stream", name="stdout", text=printed),
                           new_output("error", ename="AssertionError",
                                      evalue="the shortcut conv must have stride 2",
                                      traceback=["AssertionError: the shortcut conv must have"
                                                 " stride 2"])])
    page = tmp_path / "honest.html"
    page.write_text(render(nb, CONFIG), encoding="utf-8")
    assert check_page(page, secrets) == []
    assert active_content(page.read_text()) == []


def test_secret_lines_a_student_wrote_themself_are_allowed_back(secrets, tmp_path):
    line = sorted(secrets.lines, key=len)[-1]
    page = page_for(tmp_path, line)
    assert check_page(page, secrets)
    assert check_page(page, secrets, own=(f"x = 1\n{line}\n",)) == []


def test_generic_and_public_lines_are_no_secret(tmp_path):
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "judge.py").write_text(
        '"""How the hidden judge weighs each answer, step by step."""\n'
        "import numpy as np\n"
        "def judge(x):\n"
        "    # the comment of a secret judge, long enough to count\n"
        "    return x\n"
        "    value = np.asarray(x, dtype=np.float64) * WEIGHT_OF_THE_HIDDEN_JUDGE\n"
        "    shared = load_signs_for_everyone(path_to_the_data, seed)\n"
        '    raise AssertionError("this message is shown to students on purpose, in full")\n')
    (tmp_path / "public.py").write_text("shared = load_signs_for_everyone(path_to_the_data, seed)")
    found = build_secrets([tmp_path / "secret"], [tmp_path / "public.py"]).lines
    assert found == {'"""How the hidden judge weighs each answer, step by step."""',
                     "value = np.asarray(x, dtype=np.float64) * WEIGHT_OF_THE_HIDDEN_JUDGE",
                     'raise AssertionError("this message is shown to students on purpose, in '
                     'full")'}
    # The message text alone (as the student sees it) is no leak.
    assert text_leaks("AssertionError: this message is shown to students on purpose, in full",
                      "page", build_secrets([tmp_path / "secret"])) == []


# -- 3. one marker parser ---------------------------------------------------------------------
def test_split_marked_is_the_one_parser():
    source = "a()\n    ### BEGIN HIDDEN TESTS\n    secret()\n    ### END HIDDEN TESTS\nb()"
    kept, hidden = split_marked(source, note="# hidden")
    assert kept == "a()\n    # hidden\nb()" and hidden == ["    secret()"]
    assert hidden_regions(source) == hidden
    assert remove_hidden_regions(source) == (kept.replace("# hidden", HIDDEN_NOTE), hidden)
    # An unterminated region is hidden to the end of the cell.
    assert split_marked("a\n### BEGIN HIDDEN TESTS\nb\nc") == ("a", ["b", "c"])
    assert split_marked("x\n### BEGIN SOLUTION\ny\n### END SOLUTION\nz", "BEGIN SOLUTION",
                        "END SOLUTION") == ("x\nz", ["y"])


def test_the_course_config_renders_feedback_through_the_safe_chain():
    chain = [str(p) for p in CONFIG.GenerateFeedback.preprocessors]
    assert chain.index("autograder.engine.feedback.HideHiddenTests") < chain.index(
        "autograder.engine.feedback.SanitizeOutputs")
    assert CONFIG.GenerateFeedback.exporter_class.endswith("feedback.FeedbackExporter")


def test_feedback_forces_the_safe_chain_on_any_config():
    config = Config()
    config.GenerateFeedback.preprocessors = ["nbgrader.preprocessors.GetGrades",
                                             "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
    settings = feedback_settings(config)
    assert settings["preprocessors"] == [
        "nbgrader.preprocessors.GetGrades", "autograder.engine.feedback.HideHiddenTests",
        "autograder.engine.feedback.SanitizeOutputs",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
    assert feedback_settings(Config())["preprocessors"][1:3] == settings["preprocessors"][1:3]
    page = render(notebook(outputs=[display({"text/html": ATTACKS["script"]})]), Config())
    assert live_content(page).found == []


def test_the_release_notebooks_render_without_leaks_or_live_content(secrets, tmp_path):
    for path in sorted((REPO_ROOT / "assignments" / "resnets").glob("*.ipynb")):
        page = tmp_path / f"{path.stem}.html"
        page.write_text(render(nbformat.read(path, as_version=4), CONFIG), encoding="utf-8")
        assert check_page(page, secrets) == [], path
        assert active_content(page.read_text()) == [], path


def test_status_help_explains_every_status_a_report_can_show():
    from autograder.engine.feedback import STATUS_HELP
    from autograder.engine.grading import STATUS_ORDER

    assert set(STATUS_ORDER) | {"ok"} <= set(STATUS_HELP)


def test_unfinished_is_told_apart_from_a_crash():
    from autograder.engine.feedback import STATUS_HELP

    assert "NotImplementedError" in STATUS_HELP["unfinished"]
    assert "NotImplementedError" not in STATUS_HELP["cell errors"]


def test_summary_page_lists_tests_in_notebook_order_with_whole_reasons_that_wrap():
    import html

    reason = ("AssertionError: identity_block(X, f=3, filters=[2, 4, 4]) with X of shape "
              "(2, 5, 5, 4): - BatchNorm missing after the 2nd conv of the main path - "
              + "a_word_longer_than_the_page_" * 20)
    result = {"student": "amy", "assignment": "resnets", "status": "unfinished", "total": 2,
              "max": 3, "flags": ["unfinished"], "details": ["squares: cell '#7' " + reason],
              "cells": {"nb/test_z": {"notebook": "nb", "grade_id": "test_z", "score": 0,
                                      "max": 1, "error": reason},
                        "nb/test_a": {"notebook": "nb", "grade_id": "test_a", "score": 2,
                                      "max": 2, "error": None}}}
    page = summary_page(result, [], [])
    assert page.index(">test_z<") < page.index(">test_a<")  # as the results list them
    assert f'<td class="why">{html.escape(reason)}</td>' in page  # the whole message
    style = page[page.index("<style>"):page.index("</style>")]
    assert "overflow-wrap:anywhere" in style and "td.why" in style and "li{" in style
    assert active_content(page) == []
