"""Per-student HTML feedback that shows no hidden test, no grading secret and no live content.

nbgrader's generate_feedback renders the autograded notebook, whose test cells hold the
hidden tests again (autograde restores test cells from the gradebook, nbgrader issue #917),
whose tracebacks quote the failing lines, and whose outputs were produced by student code.
Its chain (``nbgrader_config.py``, forced again by :func:`generate`) is:

* :class:`HideHiddenTests` replaces each hidden region with a comment and drops traceback
  frames that quote hidden code or instructor-only modules (``autograder/``), keeping the
  exception name and message the student needs;
* :class:`SanitizeOutputs` makes what student code displayed inert: HTML, Markdown and SVG
  are cleaned with bleach (no script, event handler, ``javascript:`` URL, frame, form, meta
  or style element; images only as ``data:image``), JavaScript, widgets and unknown
  mimetypes are dropped, output metadata (which the template writes into unquoted
  attributes) is reduced to numeric image sizes;
* :class:`FeedbackExporter` cleans the HTML that Markdown cells render to (nbconvert's
  Markdown passes raw HTML and ``javascript:`` links through, and nbgrader's feedback
  template skips ``sanitize_html``).

Every page is then scanned (:func:`scan_page`) before it is kept: a page with active
content left, a leak marker, a hidden-test line, or a fingerprint of the assignment's
secret files (judging code, thresholds, hidden data: :func:`course_secrets`) is withheld.
``index.html`` per student summarises status, each test's points and why it failed.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import base64
import binascii
import copy
import hashlib
import html
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import bleach
from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer
from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode
from traitlets.config import Configurable

from .course import (HIDDEN_BEGIN, HIDDEN_END, LEAK_MARKERS, REPO_ROOT, Course, Secrets,
                     build_secrets, merge_overrides, split_marked, text_leaks)

HIDDEN_NOTE = "# (hidden tests ran here; their code is not shown)"
HIDDEN_FRAME = "[... a frame of the hidden tests is not shown ...]"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def remove_hidden_regions(source: str, begin=HIDDEN_BEGIN,
                          end=HIDDEN_END) -> tuple[str, list[str]]:
    return split_marked(source, begin, end, note=HIDDEN_NOTE)


def frame_reveals(frame: str, hidden_lines: list[str]) -> bool:
    text = strip_ansi(frame)
    if re.search(r"[/\\]autograder[/\\]", text) or "autograder.resnets.checks" in text:
        return True
    for line in hidden_lines:
        line = line.strip()
        if len(line) >= 6 and line in text:
            return True
    return False


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden test code from test cells and from every traceback."""

    def preprocess(self, nb, resources):
        hidden = []
        for cell in nb.cells:
            new_source, lines = remove_hidden_regions(cell.source)
            if lines:
                cell.source = new_source
                hidden.extend(lines)
        self._hidden = hidden
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            frames = list(out.get("traceback", []))
            kept = []
            for n, frame in enumerate(frames):
                last = n == len(frames) - 1
                if not last and frame_reveals(frame, self._hidden):
                    if not kept or kept[-1] != HIDDEN_FRAME:
                        kept.append(HIDDEN_FRAME)
                else:
                    kept.append(frame)
            out["traceback"] = kept
        return cell, resources


# -- active content ---------------------------------------------------------------------------
# What student HTML may keep: text formatting, lists, tables (pandas), links, images inline.
SAFE_TAGS = {
    "a", "abbr", "acronym", "b", "blockquote", "br", "caption", "cite", "code", "col",
    "colgroup", "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p",
    "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var",
}
SAFE_ATTRIBUTES = {
    "*": {"class", "title", "style", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "valign"},
    "th": {"colspan", "rowspan", "valign", "scope"},
    "table": {"border"},
    "ol": {"start"},
}
_IMAGE_URI = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.I)
_DANGEROUS_CSS = re.compile(r"url\s*\(|expression|@import|javascript|behavior|\\", re.I)
# Elements whose content is code or invisible, removed with it (bleach would keep the text).
_CODE_ELEMENTS = re.compile(r"<(script|style|template|textarea|title|noscript|xmp)\b.*?"
                            r"</\1\s*>", re.S | re.I)


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name not in SAFE_ATTRIBUTES["*"] | SAFE_ATTRIBUTES.get(tag, set()):
        return False
    plain = re.sub(r"[\s\x00-\x1f]", "", value).lower()
    if name == "src":  # inline images only: nothing is fetched from elsewhere
        return bool(_IMAGE_URI.match(value.strip()))
    if name == "href":
        return not plain.startswith("data:")  # bleach allows only http(s), mailto, relative
    if name == "style":
        return not _DANGEROUS_CSS.search(value)
    return True


_CLEANER = bleach.Cleaner(
    tags=SAFE_TAGS, attributes=_allowed_attribute, strip=True, strip_comments=True,
    protocols={"http", "https", "mailto", "data"},
    css_sanitizer=CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES),
)


_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$|\\\(.+?\\\)|\\\[.+?\\\]", re.S)


def clean_html(fragment: str, math: bool = False) -> str:
    """``fragment`` with only the tags and attributes above: nothing runs, nothing loads.
    ``math``: rendered Markdown, whose TeX is left raw for MathJax (``$a<b$`` is no tag)."""
    fragment = _CODE_ELEMENTS.sub("", str(fragment))
    if math:
        fragment = _MATH.sub(lambda m: m.group().replace("<", "&lt;").replace(">", "&gt;"),
                             fragment)
    return _CLEANER.clean(fragment)


_SVG, _XLINK = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
SVG_TAGS = {
    "svg", "g", "defs", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
    "text", "tspan", "use", "symbol", "clipPath", "mask", "pattern", "linearGradient",
    "radialGradient", "stop", "marker", "title", "desc", "style", "image", "filter",
}
# (process-wide, and harmless: other SVG written by ElementTree gets the same usual prefixes)
ET.register_namespace("", _SVG)
ET.register_namespace("xlink", _XLINK)


def clean_svg(svg: str) -> str | None:
    """An SVG with only drawing elements (matplotlib's stay whole): no script, handler,
    foreignObject, animation or link, references only to ``#ids`` or inline images, no CSS
    that loads anything. None when it is no well-formed SVG (the output is then dropped)."""
    if "<!ENTITY" in svg:  # entity tricks are not worth parsing
        return None
    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        return None
    if root.tag != f"{{{_SVG}}}svg":
        return None
    for parent in list(root.iter()):
        for child in list(parent):
            ns, _, name = str(child.tag).rpartition("}")
            fe = name.startswith("fe") and name[2:3].isupper()  # filter primitives
            if ns.lstrip("{") != _SVG or not (name in SVG_TAGS or fe):
                parent.remove(child)
            elif name == "style" and _DANGEROUS_CSS.search(child.text or ""):
                parent.remove(child)
    for element in root.iter():
        for key in list(element.attrib):
            value = element.attrib[key]
            local = key.rpartition("}")[2].lower()
            plain = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if local.startswith("on") or (key.startswith("{") and not key.startswith(
                    f"{{{_XLINK}}}")):
                del element.attrib[key]
            elif local == "href" and not (value.startswith("#") or _IMAGE_URI.match(value)):
                del element.attrib[key]
            elif "javascript:" in plain or ("url(" in plain and not re.fullmatch(
                    r"[^()]*(url\(#[\w.:-]+\)[^()]*)+", plain)) or _DANGEROUS_CSS.search(
                    value.replace("url(#", "")):
                del element.attrib[key]
    return ET.tostring(root, encoding="unicode")


def markdown_html(markdown: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return clean_html(markdown2html_mistune(markdown), math=True)


_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_B64_DATA = re.compile(r"[A-Za-z0-9+/=\s]*")
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info", "nbgrader")


def _text(value) -> str:
    return "".join(map(str, value)) if isinstance(value, list) else str(value)


def clean_output(out):
    """A new output with what ``out`` may show, inert; None for unknown output types."""
    kind = out.get("output_type")
    if kind == "stream":  # text: the template escapes it
        name = "stderr" if out.get("name") == "stderr" else "stdout"
        return new_output("stream", name=name, text=_text(out.get("text", "")))
    if kind == "error":
        traceback = out.get("traceback")
        return new_output("error", ename=_text(out.get("ename", "")),
                          evalue=_text(out.get("evalue", "")),
                          traceback=[_text(t) for t in traceback or []])
    if kind not in ("display_data", "execute_result"):
        return None
    raw = out.get("data") if isinstance(out.get("data"), dict) else {}
    data, dropped = {}, []
    for mime, value in raw.items():
        value = _text(value)
        if mime in ("text/plain", "text/latex"):  # escaped by the template
            data[mime] = value
        elif mime in ("image/png", "image/jpeg") and _B64_DATA.fullmatch(value):
            data[mime] = value
        elif mime == "image/svg+xml" and (svg := clean_svg(value)):
            data[mime] = svg
        elif mime == "text/html":
            data[mime] = clean_html(value)
        elif mime == "text/markdown" and "text/html" not in raw:
            data["text/html"] = markdown_html(value)
        else:
            dropped.append(mime)
    if not data:
        data["text/plain"] = f"[{', '.join(dropped) or 'empty'} output: not shown in feedback]"
    metadata = {}
    for mime in ("image/png", "image/jpeg"):
        meta = (out.get("metadata") or {}).get(mime)
        sizes = {k: int(v) for k, v in (meta.items() if isinstance(meta, dict) else ())
                 if k in ("width", "height") and isinstance(v, (int, float)) and 0 < v < 1e5}
        if mime in data and sizes:
            metadata[mime] = sizes
    if kind == "display_data":
        return new_output(kind, data=data, metadata=metadata)
    count = out.get("execution_count")
    count = count if isinstance(count, int) and not isinstance(count, bool) else None
    return new_output(kind, data=data, metadata=metadata, execution_count=count)


class SanitizeOutputs(NbGraderPreprocessor):
    """Make everything student code displayed inert before nbconvert renders it (see the
    module docstring). Markdown cells are cleaned after rendering by FeedbackExporter."""

    def preprocess(self, nb, resources):
        # widgets state, say, would load the widget manager's JavaScript from a CDN
        for key in [k for k in nb.metadata if k not in KEPT_NOTEBOOK_METADATA]:
            del nb.metadata[key]
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        nbg = cell.metadata.get("nbgrader")
        # The feedback template writes grade_id into attributes unescaped.
        if isinstance(nbg, dict) and not _SAFE_ID.fullmatch(str(nbg.get("grade_id", "x"))):
            digest = hashlib.sha1(str(nbg["grade_id"]).encode()).hexdigest()[:10]
            nbg["grade_id"] = f"cell-{digest}"
        if "id" in cell and not _SAFE_ID.fullmatch(str(cell.id)):
            cell.pop("id")
        if cell.cell_type == "code":
            if not isinstance(cell.get("execution_count"), int):
                cell.execution_count = None
            outputs = [clean_output(o) for o in cell.get("outputs", []) if isinstance(o, dict)]
            cell.outputs = [o for o in outputs if o is not None]
        elif cell.cell_type == "raw":
            cell.source = clean_html(cell.source)
        if "attachments" in cell:  # markdown images: keep bitmaps only
            cell.attachments = {
                name: {m: v for m, v in item.items() if m in ("image/png", "image/jpeg")}
                for name, item in (cell.attachments or {}).items() if isinstance(item, dict)}
        return cell, resources


class FeedbackExporter(HTMLExporter):
    """nbgrader's HTML exporter, whose Markdown (cells, test comments, outputs) renders to
    cleaned HTML: nbconvert's renderer keeps raw HTML and ``javascript:`` links."""

    @pass_context
    def markdown2html(self, context, source):
        return clean_html(super().markdown2html(context, source), math=True)


# -- checking a rendered page -----------------------------------------------------------------
# The template's own scripts (MathJax and its configuration) are the only ones allowed.
ALLOWED_SCRIPT_SOURCES = ("https://cdnjs.cloudflare.com/ajax/libs/mathjax/",)
ALLOWED_SCRIPT_TYPES = ("text/x-mathjax-config",)
ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base",
               "form", "input", "button", "textarea", "select", "meta", "link", "style",
               "portal", "noscript", "svg", "math", "audio", "video", "source", "track"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster",
                  "background", "lowsrc", "dynsrc", "ping", "codebase", "archive", "longdesc",
                  "cite", "manifest", "icon", "srcset"}


class PageScan(HTMLParser):
    """One pass over a page: its visible text, attribute values, inline data and any
    active content (outside the head: every tag in ACTIVE_TAGS; anywhere: scripts not the
    template's, event handlers, script URLs, meta refresh)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.attributes, self.data_uris, self.active = [], [], [], []
        self._skip = None  # inside <script>/<style>: not visible text
        self._body = False

    def handle_starttag(self, tag, attrs):
        attrs = [(k, v or "") for k, v in attrs]
        values = dict(attrs)
        if tag == "body":
            self._body = True
        if tag in ("script", "style"):
            self._skip = tag
        if tag == "script" and not (self._body is False and (
                values.get("src", "").startswith(ALLOWED_SCRIPT_SOURCES)
                or values.get("type") in ALLOWED_SCRIPT_TYPES)):
            self.active.append(f"<script {values.get('src', '')[:60]}>")
        elif tag in ACTIVE_TAGS and self._body:
            self.active.append(f"<{tag}>")
        elif tag == "meta" and "http-equiv" in values:
            self.active.append("<meta http-equiv>")
        elif tag == "base":
            self.active.append("<base>")
        for name, value in attrs:
            plain = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if name.startswith("on") or name == "srcdoc":
                self.active.append(f"<{tag} {name}>")
            elif name in URL_ATTRIBUTES and plain.startswith(("javascript:", "vbscript:")):
                self.active.append(f"<{tag} {name}={plain[:30]}>")
            elif name in URL_ATTRIBUTES and plain.startswith("data:"):
                if not (tag == "img" and name == "src" and (_IMAGE_URI.match(value.strip())
                        or value.startswith("data:image/svg+xml;base64,"))):
                    self.active.append(f"<{tag} {name}=data:...>")
                self.data_uris.append(value)
            elif name == "style" and _DANGEROUS_CSS.search(value):
                self.active.append(f"<{tag} style={value[:30]}>")
            elif value:
                self.attributes.append(value)

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == self._skip:
            self._skip = None

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def scan_page(page: str) -> PageScan:
    scan = PageScan()
    scan.feed(page)
    scan.close()
    return scan


def html_text(page: str) -> str:
    """The visible text of an HTML page (what a leak check must look at)."""
    return "".join(scan_page(page).text)


def active_content(page: str) -> list[str]:
    """Live content of a rendered page (none once SanitizeOutputs and FeedbackExporter ran)."""
    return scan_page(page).active


def check_page(path: Path, snippets, own: tuple[str, ...] = ()) -> list[str]:
    """Leaks in a rendered page: markers and hidden-test lines; with a :class:`Secrets`,
    also secret lines and data, in the visible text, in attributes and in inline images.
    Secret lines found in ``own`` (what the student wrote) are allowed back."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    where = str(path)
    scan = scan_page(raw)
    if isinstance(snippets, Secrets):
        snippets = snippets.without(own)
    text = "".join(scan.text) + "\n" + "\n".join(scan.attributes)
    problems = text_leaks(text, where, snippets)
    problems += [f"{where}: contains '{m}'" for m in LEAK_MARKERS if m in raw and m not in text]
    if isinstance(snippets, Secrets):
        for uri in scan.data_uris:
            payload = uri.partition(",")[2]
            try:
                data = base64.b64decode(re.sub(r"\s", "", payload), validate=True)
            except (binascii.Error, ValueError):
                continue
            for label, stream in _inline(data):
                problems += snippets.data_leaks(stream, where, label)
    return problems


def _inline(data: bytes):
    yield "an inline image", data
    if data.lstrip()[:5] in (b"<?xml", b"<svg ", b"<svg>", b"<!DOC"):
        yield "an inline SVG", data.decode("utf-8", errors="replace")


# -- what is secret ---------------------------------------------------------------------------
class FeedbackSecrets(Configurable):
    """Where an assignment's secrets are, for the feedback's leak check (nbgrader_config.py).
    ``{assignment}`` and ``{release}`` (the release folder) are filled in; a relative path
    is the course root's, or the kit's (REPO_ROOT) where the course has no such path."""

    secret_paths = List(Unicode(), ["autograder/{assignment}"], help=(
        "Files and folders students must never see: judging code, thresholds, hidden data."
    )).tag(config=True)
    public_paths = List(Unicode(), ["{release}"], help=(
        "Files and folders students are given: their lines and data are no secret."
    )).tag(config=True)


def course_secrets(course: Course) -> Secrets:
    """The fingerprint of ``course``'s secrets: its secret paths, hidden-test lines, less
    what its public paths and source notebooks (outside hidden tests) show."""
    import nbformat

    settings = FeedbackSecrets(config=course.config)

    def paths(patterns):
        # Relative paths are the course's, else the kit's: a scratch course still grades
        # with the kit's judging package (autograder/<assignment>) and data.
        found = []
        for pattern in patterns:
            path = Path(pattern.format(assignment=course.assignment, release=course.release_dir))
            found.append(path if path.is_absolute() or (course.root / path).exists()
                         else REPO_ROOT / path)
        return [p if p.is_absolute() else course.root / p for p in found]

    visible = []
    for path in course.source_notebooks():
        for cell in nbformat.read(path, as_version=4).cells:
            visible.append(split_marked(cell.source)[0])
    return build_secrets(paths(settings.secret_paths), paths(settings.public_paths),
                         course.hidden_snippets(), visible)


def own_texts(notebooks) -> tuple[str, ...]:
    """What the student wrote: their cells' sources, less test cells and hidden regions."""
    import nbformat

    texts = []
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:
            continue
        for cell in nb.cells:
            nbg = cell.metadata.get("nbgrader", {})
            if nbg.get("locked") or (nbg.get("grade") and not nbg.get("solution")):
                continue
            texts.append(split_marked(cell.source)[0])
    return tuple(texts)


# -- generating -------------------------------------------------------------------------------
FEEDBACK_CHAIN = ("autograder.engine.feedback.HideHiddenTests",
                  "autograder.engine.feedback.SanitizeOutputs")
FEEDBACK_EXPORTER = "autograder.engine.feedback.FeedbackExporter"


def _name(item) -> str:
    return item if isinstance(item, str) else f"{item.__module__}.{item.__qualname__}"


def feedback_settings(config) -> dict:
    """GenerateFeedback settings with the hiding and sanitising steps whatever the config
    says: they run right after GetGrades (which needs the grade ids as they are)."""
    chain = list(config.get("GenerateFeedback", {}).get("preprocessors", [
        "nbgrader.preprocessors.GetGrades",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]))
    names = [_name(p) for p in chain]
    missing = [p for p in FEEDBACK_CHAIN if p not in names]
    at = next((i + 1 for i, n in enumerate(names) if n.endswith(".GetGrades")), 0)
    return {"preprocessors": chain[:at] + missing + chain[at:],
            "exporter_class": FEEDBACK_EXPORTER}


def render(nb, config, notebook: str = "notebook") -> str:
    """``nb`` as generate_feedback renders it with ``config`` (its exporter, template and
    chain) minus GetGrades, which needs a gradebook: for checks and tests."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    config = copy.deepcopy(config)
    config.GenerateFeedback.update(feedback_settings(config))
    converter = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
    exporter = converter.exporter_class(parent=converter, config=converter.config)
    for pp in converter.preprocessors:
        if not _name(pp).endswith(".GetGrades"):
            exporter.register_preprocessor(pp)
    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # what GetGrades would have set: no score yet
        nbg = cell.metadata.get("nbgrader", {})
        if nbg.get("grade") or nbg.get("task"):
            nbg.setdefault("score", 0)
            nbg.setdefault("points", 0)
    resources = {"nbgrader": {"notebook": notebook, "score": 0, "max_score": 0,
                              "late_penalty": 0}}
    return exporter.from_notebook_node(nb, resources=resources)[0]


def generate(course: Course, reports: Path, results: list[dict],
             out=None) -> dict[str, list[Path]]:
    """nbgrader generate_feedback per student + a summary page; returns pages per student."""
    assignment = course.assignment
    fb_root = Path(reports) / assignment / "feedback"
    secrets = course_secrets(course)
    overrides = {
        "CourseDirectory": {"feedback_directory": str(fb_root / "nbgrader")},
        "GenerateFeedback": feedback_settings(course.config),
    }
    api = Course(course.root, assignment, merge_overrides(course.overrides, overrides)).api()
    pages: dict[str, list[Path]] = {}
    for result in results:
        student = result["student"]
        target = fb_root / student
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        problems = []
        nb_pages = []
        autograded = course.autograded_root / student / assignment
        own = own_texts(sorted(autograded.glob("*.ipynb")))
        if autograded.is_dir() and any(autograded.glob("*.ipynb")):
            outcome = api.generate_feedback(assignment, student, force=True)
            produced = fb_root / "nbgrader" / student / assignment
            if not outcome.get("success"):
                problems.append("nbgrader could not render the notebooks")
            for page in sorted(produced.glob("*.html")):
                leaks = check_page(page, secrets, own)
                live = active_content(page.read_text(encoding="utf-8", errors="replace"))
                if leaks or live:
                    why = "it would reveal hidden tests" if leaks else "it had active content"
                    problems.append(f"{page.name} withheld: {why}")
                    if out:
                        found = leaks + [f"{page}: active content {a}" for a in live]
                        print("LEAK (page withheld): " + "; ".join(found[:10]), file=out)
                    continue
                dest = target / page.name
                shutil.copy(page, dest)
                nb_pages.append(dest)
            if produced.exists():
                shutil.rmtree(produced)
        index = target / "index.html"
        index.write_text(summary_page(result, nb_pages, problems), encoding="utf-8")
        leaks = check_page(index, secrets, own) + active_content(index.read_text("utf-8"))
        if leaks:  # the summary quotes error messages only; refuse to ship a leak anyway
            index.write_text(summary_page(result, nb_pages, problems, redact=True),
                             encoding="utf-8")
            if out:
                print("LEAK (summary redacted): " + "; ".join(leaks[:10]), file=out)
        pages[student] = [index, *nb_pages]
    shutil.rmtree(fb_root / "nbgrader", ignore_errors=True)
    return pages


STATUS_HELP = {
    "ok": "Your notebooks ran from top to bottom and every test was run.",
    "not a notebook": "A file could not be read as a Jupyter notebook (damaged or wrong file). "
                      "Tests of that notebook score 0.",
    "empty": "A notebook was empty. Its tests score 0.",
    "missing notebook": "A notebook of the assignment was not in your submission. "
                        "Its tests score 0.",
    "kernel died": "Python stopped (crashed or exited) while running a cell. The grader "
                   "restarted it, re-ran the cells above and continued after that cell.",
    "too large": "A file was larger than the grader accepts, so it was not read. Tests of "
                 "that notebook score 0.",
    "timeout": "A cell ran longer than the time limit and was stopped. Cells after it still ran.",
    "limit exceeded": "Your code went over a limit of the grading machine (memory, processes, "
                      "file size or disk) and was stopped; tests it had not reached score 0.",
    "cell errors": "A cell that is not a test raised an error (see the details). The tests "
                   "that need what that cell should have made score 0, the others are graded "
                   "as usual.",
    "unfinished": "An exercise is not done yet: a cell raised NotImplementedError (the "
                  "placeholder of an answer you have not written; see the details). The tests "
                  "of that exercise score 0, the others are graded as usual.",
    "unsandboxed": "Graded without the sandbox (the instructor's choice for this run).",
    "repaired": "Your notebook file had damaged fields or lost cell metadata; they were "
                "restored from the assignment and it was graded normally.",
    "grader error": "The grader itself failed, not your work: the points shown are not your "
                    "grade yet. The instructor has been told and will grade your notebooks "
                    "again once the grader is fixed.",
    "runner killed": "Code in your notebook stopped the grader's notebook runner (for example "
                     "by killing its parent process); the cells after that point did not run "
                     "and the tests that need them score 0.",
    "missing cells": "You deleted read-only cells (such as tests); they were put back and run.",
    "duplicate cells": "You copied a read-only cell; only one copy was graded.",
    "tests edited": "You changed a test cell; your notebook was graded with the original tests.",
}


def _esc(value) -> str:
    """Text or attribute value (always double-quoted here) from anything."""
    return html.escape(str(value), quote=True)


def _points(value) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return _esc(value)


def summary_page(result: dict, nb_pages: list[Path], problems: list[str],
                 redact: bool = False) -> str:
    """The student's index.html. Everything from the results is escaped (student ids, file
    names and error messages come from students); links are relative, percent-encoded.
    Tests are listed in notebook order (the results' order), each failure with its whole
    message, wrapped to the page (however long a word of it is)."""
    esc = _esc
    rows = []
    for key, cell in result["cells"].items():
        try:
            passed = float(cell["score"]) >= float(cell["max"]) > 0
        except (TypeError, ValueError):
            passed = False
        why = "" if passed else (cell.get("error") or "failed")
        if redact:
            why = "failed" if why else ""
        rows.append(
            f"<tr class=\"{'pass' if passed else 'fail'}\"><td>{esc(cell['notebook'])}</td>"
            f"<td>{esc(cell['grade_id'])}</td>"
            f"<td>{_points(cell['score'])} / {_points(cell['max'])}</td>"
            f"<td>{'passed' if passed else 'failed'}</td><td class=\"why\">{esc(why)}</td></tr>"
        )
    flags = result.get("flags") or ["ok"]
    explanations = "".join(
        f"<li><b>{esc(f)}</b>: {esc(STATUS_HELP.get(f, ''))}</li>" for f in flags
    )
    details = "".join(f"<li>{esc(d)}</li>" for d in result.get("details", []) + problems)
    if redact:
        details = "".join(f"<li>{esc(p)}</li>" for p in problems)
    links = "".join(f'<li><a href="./{esc(quote(p.name))}">{esc(p.stem)}</a></li>'
                    for p in nb_pages)
    title = f"{esc(result['assignment'])}: {esc(result['student'])}"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Feedback: {title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;width:100%}}
td,th{{padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top;text-align:left}}
td{{overflow-wrap:anywhere;word-break:break-word}}
td.why{{width:55%;white-space:normal}}
li{{overflow-wrap:anywhere;word-break:break-word}}
tr.pass td:nth-child(4){{color:#080}}tr.fail td:nth-child(4){{color:#b00}}</style></head>
<body><h1>{title}</h1>
<p><b>Total: {_points(result['total'])} / {_points(result['max'])}</b> &middot; status: \
{esc(result['status'])}</p>
<ul>{explanations}</ul>
<h2>Tests</h2><table><tr><th>notebook</th><th>test</th><th>points</th><th>result</th><th>why</th>
</tr>
{''.join(rows)}</table>
{'<h2>Details</h2><ul>' + details + '</ul>' if details else ''}
{'<h2>Your graded notebooks</h2><ul>' + links + '</ul>' if links else ''}
<p><small>Hidden tests are run but their code is not shown.</small></p>
</body></html>
"""
