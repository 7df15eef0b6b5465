"""Category 6: what reaches the student's feedback (active content, secrets, spoofed status)."""

from __future__ import annotations

import nbformat

from . import RIGHT_CUBE, RIGHT_SQUARE, TOY_NB, attack, one, probe_code, toy

ACTIVE = r'''
from IPython.display import display, HTML, Javascript, SVG, Markdown
display(HTML("<script>document.title='PWNED-script'</script><b>bold</b>"))
display(HTML("<img src=x onerror=\"alert('PWNED-onerror')\">"))
display(HTML("<a href=\"javascript:alert('PWNED-js-link')\">click</a>"))
display(HTML("<iframe src=\"https://evil.example/\"></iframe><form action=https://evil.example><input name=a></form>"))
display(HTML("<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\"><style>body{display:none}</style>"))
display(HTML("<svg onload=\"alert('PWNED-svg')\"><script>alert(1)</script></svg>"))
display(HTML("<object data=\"javascript:alert(1)\"></object><embed src=\"javascript:alert(1)\"><base href=\"https://evil.example/\">"))
display(HTML("<div style=\"background:url(javascript:alert(1))\">css</div><math><mi xlink:href=\"javascript:alert(1)\">m</mi></math>"))
display(SVG("<svg xmlns='http://www.w3.org/2000/svg'><script>alert('PWNED-svg2')</script><a href='javascript:alert(2)'><text>t</text></a></svg>"))
display(Javascript("alert('PWNED-javascript-output')"))
display(Markdown("[x](javascript:alert('PWNED-md'))<script>alert('PWNED-md2')</script>"))
display({"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/html": "<script>alert('PWNED-bundle')</script>"}, raw=True)
display({"image/png": "iVBORw0KGgo="}, raw=True, metadata={"image/png": {"width": "1\" onload=\"alert('PWNED-meta')"}})
print("</pre><script>alert('PWNED-stdout')</script><pre>")
'''


@attack("fb_active_content", "feedback", 4, fast=True,
        expect="every output is made inert (no script, handler, javascript: URL, frame, form, "
               "meta or style); markdown cells too")
def fb_active_content(ctx):
    """Outputs with <script>, onerror/onload handlers, javascript: links, iframes, forms,
    meta refresh, SVG scripts, Javascript and widget outputs, metadata attribute injection,
    and a markdown cell with script and a javascript: link."""
    nb = toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE, cells=[("test_training", ACTIVE)])
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(
        "<script>alert('PWNED-markdown-cell')</script>\n[link](javascript:alert('PWNED-md-link'))"
        "\n<img src=x onerror=alert('PWNED-md-img')>"))
    return one(ctx, "fb_active_content", nb)


@attack("fb_print_secrets", "feedback", 0,
        expect="nothing secret is visible to print: the environment and mounts show only the "
               "job's own paths; the plan's hidden-test inputs must not reach the feedback")
def fb_print_secrets(ctx):
    """Print the environment, mountinfo, pid 1's command line, the capture plan (the hidden
    tests' calls), the job file, and listings of /, the course and the repository."""
    body = probe_code(
        "import os, json\n"
        "print('ENVIRON:', dict(os.environ))\n"
        "print('MOUNTS:', open('/proc/self/mountinfo').read()[:4000])\n"
        "print('PID1:', open('/proc/1/cmdline','rb').read())\n"
        "plan = open(os.environ['RESNET_KIT_CAPTURE_PLAN']).read()\n"
        "print('PLAN-LEAK:', json.dumps(json.loads(plan)))\n"
        "_probe('info:plan', plan=plan[:2000])\n"
        "job = os.path.join(os.path.dirname(os.environ['RESNET_KIT_CAPTURE_PLAN']), 'job.json')\n"
        "print('JOB:', open(job).read()[:2000])\n"
        f"for p in ['/', {str(ctx.course_root)!r}, {str(ctx.repo_root)!r}]:\n"
        "    print('LS', p, sorted(os.listdir(p))[:50] if os.path.isdir(p) else 'absent')\n")
    return one(ctx, "fb_print_secrets", toy(ctx, before=body))


@attack("fb_hidden_test_exfil", "feedback", 0,
        expect="hidden test code never exists in the sandbox (graded cells are capture calls)")
def fb_hidden_test_exfil(ctx):
    """Print the kernel's input history (In, _ih) after the graded cells ran, the executor's
    prepared notebook (work/in) and everything in the job's control folder."""
    body = (
        "import os, glob\n"
        "print('HISTORY:', '\\n'.join(In))\n"
        "home = os.environ.get('HOME', '/sandbox')\n"
        "for p in glob.glob(os.path.join(home, 'in', '*.ipynb')):\n"
        "    print('PREPARED:', open(p).read()[:20000])\n"
        "ctl = os.path.dirname(os.environ['RESNET_KIT_CAPTURE_PLAN'])\n"
        "for p in sorted(os.listdir(ctl)):\n"
        "    print('CONTROL', p, open(os.path.join(ctl, p)).read()[:5000])\n")
    return one(ctx, "fb_hidden_test_exfil", toy(ctx, cells=[(None, body)]))


@attack("fb_spoof_grader_errors", "feedback", 0,
        expect="a student's own exception named CellTimeoutError/DeadKernelError must not be "
               "reported as a grader timeout or a dead kernel")
def fb_spoof_grader_errors(ctx):
    """Cells that raise the student's own CellTimeoutError, DeadKernelError and
    CellNotExecuted (no timeout, no crash happened)."""
    cells = []
    for name in ("CellTimeoutError", "DeadKernelError", "CellNotExecuted"):
        cells.append(("test_training", f"class {name}(Exception):\n    pass\n"
                                       f"raise {name}('spoofed by the student')\n"))
    return one(ctx, "fb_spoof_grader_errors", toy(ctx, cells=cells))


@attack("fb_judge_message_injection", "feedback", 0,
        expect="messages and type names from forged records reach the feedback inert")
def fb_judge_message_injection(ctx):
    """Forged records whose exception type is '<img src=x onerror=...>', whose messages hold
    <script>, ANSI escapes and bidi overrides, and an 'unsupported' record with HTML."""
    return one(ctx, "fb_judge_message_injection", toy(ctx, before=(
        "import json, os, resnet_kit.capture as _c\n"
        "def _inj(grade_id, names, ns):\n"
        "    folder = os.environ['RESNET_KIT_CAPTURE_DIR']; os.makedirs(folder, exist_ok=True)\n"
        "    evil = \"<script>alert('PWNED-judge')</script>\\x1b[31mRED\\u202eGNP.exe <img src=x onerror=alert('PWNED-judge-img')>\"\n"
        "    rec = {'square': {'kind': 'function', 'calls': [{'outcome': 'raised', 'type': \"<img src=x onerror=alert('PWNED-type')>\", 'message': evil}] * 2},\n"
        "           'cube': {'kind': 'function', 'calls': [{'outcome': 'unsupported', 'message': evil}] * 2},\n"
        "           'history': {'kind': 'unsupported', 'message': evil, 'type': evil},\n"
        "           'EPOCHS': {'kind': 'value', 'value': evil}}\n"
        "    json.dump({'grade_id': grade_id, 'names': {n: rec.get(n, {'kind': 'missing'}) for n in names}},\n"
        "              open(os.path.join(folder, grade_id + '.json'), 'w'))\n"
        "_c.capture = _inj\n")))


@attack("fb_other_processes_environ", "feedback", 4, fast=True,
        expect="no process in the sandbox carries the grading shell's environment, and none "
               "but the student's own can be read: bwrap and the shim start with an empty "
               "environment, the runner is not dumpable")
def fb_other_processes_environ(ctx):
    """Right answers; then read the environment, command line and memory of every process
    the sandbox shows (pid 1, the notebook runner, the kernel's parents), attach to the
    runner with ptrace, list their open files, and print all of it into the feedback."""
    body = probe_code(
        "import ctypes, os\n"
        "mine = {os.getpid()}\n"
        "seen = {}\n"
        "for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):\n"
        "    for what in ('environ', 'cmdline'):\n"
        "        try:\n"
        "            seen[f'{pid}/{what}'] = open(f'/proc/{pid}/{what}', 'rb').read()\n"
        "        except OSError as e:\n"
        "            seen[f'{pid}/{what}'] = repr(e).encode()\n"
        "    try:\n"
        "        seen[f'{pid}/fd'] = repr(os.listdir(f'/proc/{pid}/fd')).encode()\n"
        "    except OSError as e:\n"
        "        seen[f'{pid}/fd'] = repr(e).encode()\n"
        "    if pid not in mine:\n"
        "        _try(f'breach:read-memory-of-{pid}', lambda: open(f'/proc/{pid}/mem', 'rb').read(1))\n"
        "print('PROCESSES:', {k: v[:3000] for k, v in seen.items()})\n"
        "everything = b' '.join(seen.values())\n"
        "_probe('breach:grading-shell-variable-visible',\n"
        "       ok=b'RESNET_KIT_TEST_SHELL_SECRET' in everything)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "runner = os.getppid()\n"
        "attached = libc.ptrace(16, runner, None, None)  # PTRACE_ATTACH\n"
        "_probe('breach:ptrace-the-runner', ok=attached == 0, errno=ctypes.get_errno())\n"
        "if attached == 0:\n"
        "    libc.ptrace(17, runner, None, None)  # PTRACE_DETACH\n")
    return one(ctx, "fb_other_processes_environ",
               toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE, cells=[("test_training", body)]))
