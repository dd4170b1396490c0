"""A term on the classroom hub, end to end: real JupyterHub, real Unix users, nbgrader's exchange.

The hub is made and started by the command the guide gives (docs/classroom-hub.md), on this
machine only (127.0.0.1): an instructor, three students, each server spawned as its user. The
instructor releases Lab 1 (fast mode); each student fetches it and submits as that user (kl-alice
the solution, kl-bob nothing, kl-carol a wrong exercise 1); kl-alice's server, started through
the hub's API with her token, runs the lab's setup cell. kl-carol also submits under kl-alice's
name. The instructor collects, autogrades the three in parallel, releases the feedback, and each
student fetches their own. The exported grades must hold exactly the expected scores; and each
thing a student must not do is tried, and must be refused. The refusals' messages are written
to build/hub/refusals.md.

It needs root (it makes users with useradd and runs commands as them with runuser); elsewhere
it is skipped.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("jupyterhub", reason="the hub needs JupyterHub: requirements-dev.txt")
requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket", reason="websocket-client (jupyter_server's)")
if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("runuser"):
    pytest.skip("the hub test makes Unix users: root on Linux only", allow_module_level=True)

import psutil  # noqa: E402
from notebook_fixtures import answered, cell_of  # noqa: E402

from coursetools.hub import Settings, user_environment  # noqa: E402

ROOT = Path(__file__).parents[1]
RUNUSER = shutil.which("runuser")
# The guide's command, as written; the test adds its own folders, address and port.
HUB_COMMAND = (
    "sudo .venv/bin/python -m coursetools hub --instructor kl-teacher --students students.csv "
    "--data /srv/keras-labs/data"
)
# The PATH that sudo gives the command (Debian's secure_path): no environment's scripts on it.
SUDO_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE = Path("/tmp/kl-hubtest")  # the test's own folders, emptied on every run
COURSE = "kl-hubtest"
TEACHER = "kl-teacher"
STUDENTS = ["kl-alice", "kl-bob", "kl-carol"]  # right, blank, wrong
LAB = "lab1"
NOTEBOOK = "01_classifying_clothing"
WRONG = "def sigmoid(z):\n    return 1 / (1 + np.exp(z))"
EXERCISES = ["exercise_1", "exercise_2", "exercise_3", "exercise_4", "exercise_5"]
REFUSALS: dict[str, str] = {}
REPORT = ROOT / "build" / "hub" / "refusals.md"


def free_port() -> int:
    """A port that nothing on 127.0.0.1 listens on, with the next two free too."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000 and all(_free(port + k) for k in (1, 2)):
            return port
    raise RuntimeError("no free ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def users_python() -> str:
    """A Python that every user can run, with the course's packages.

    The course's environment may be made from a Python under /root (pyenv's), which no other
    user can run. Then the test copies that Python (its standard library, not its packages)
    into its own folder, and points it at the environment's packages and Jupyter files.
    """
    probe = subprocess.run(
        [RUNUSER, "-u", "nobody", "--", sys.executable, "-c", "import jupyterhub"],
        capture_output=True,
    )
    if probe.returncode == 0:
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base, copy = Path(sys.base_prefix), BASE / "python"
    (copy / "bin").mkdir(parents=True)
    (copy / "lib").mkdir()
    shutil.copy2(Path(sys.executable).resolve(), copy / "bin" / version)
    for library in (base / "lib").glob("libpython*.so*"):
        shutil.copy2(library, copy / "lib" / library.name)
    # The compiled modules too (their sources keep their times, so they stay valid): no user
    # may write them, and every nbgrader command and kernel would compile the library again.
    skip = shutil.ignore_patterns("site-packages", "test", "idlelib", "tkinter")
    shutil.copytree(base / "lib" / version, copy / "lib" / version, ignore=skip)
    packages = Path(sys.prefix, "lib", version, "site-packages")
    (copy / "lib" / version / "site-packages").mkdir()
    (copy / "lib" / version / "site-packages" / "course-environment.pth").write_text(
        f"import site; site.addsitedir({str(packages)!r})\n", encoding="utf-8"
    )
    for shared in ("share", "etc"):  # JupyterLab's assets and the extensions' settings
        (copy / shared).symlink_to(Path(sys.prefix, shared))
    # Its library, not the original's (which the binary names, under /root), for every child.
    wrapper = copy / "bin" / "python"
    wrapper.write_text(
        f'#!/bin/sh\nexport LD_LIBRARY_PATH="{copy / "lib"}"\n'
        f'exec "{copy / "bin" / version}" "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    subprocess.run(["chmod", "-R", "a+rX", str(copy)], check=True)
    return str(wrapper)


def as_user(user: str, *args: str, cwd: Path | None = None, ok: bool = True, **kw):
    """Run ``args`` as ``user``, with the environment the hub gives that user's server."""
    settings = Settings.load(BASE / "state" / "settings.json")
    home = Path("/home", user)
    env = {
        "HOME": str(home),
        "USER": user,
        "LOGNAME": user,
        "LANG": "C.UTF-8",
        "LABHELPERS_FAST": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **user_environment(settings, user),
    }
    done = subprocess.run(
        [RUNUSER, "-u", user, "--", *args],
        cwd=cwd or home,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )
    assert not ok or done.returncode == 0, (
        f"{user}: {args}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    )
    return done


def nbgrader(user: str, *args: str, ok: bool = True, cwd: Path | None = None):
    """``nbgrader ARGS`` as ``user`` (the instructor's from the course folder)."""
    python = Settings.load(BASE / "state" / "settings.json").python
    return as_user(user, python, "-m", "nbgrader", *args, ok=ok, cwd=cwd)


PROBE = """
import os, sys
try:
    {action}
except Exception as error:
    print(f"{{type(error).__name__}}: {{error}}")
    sys.exit(3)
print("allowed")
"""


def refused(name: str, user: str, action: str) -> str:
    """Try one Python statement as ``user``; it must raise. Keep the error's text."""
    python = Settings.load(BASE / "state" / "settings.json").python
    done = as_user(user, python, "-c", PROBE.format(action=action), ok=False)
    text = done.stdout.strip() or done.stderr.strip()
    assert done.returncode == 3, f"{name}: {user} was allowed to {action}: {text}"
    REFUSALS[name] = f"{user}: `{action}` -> {text}"
    return text


def record(name: str, text: str) -> None:
    REFUSALS[name] = text


def write_as(user: str, nb: nbformat.NotebookNode, path: Path) -> None:
    """Save a notebook into a user's folder, owned by that user, as if they had saved it."""
    nbformat.write(nb, path)
    shutil.chown(path, user, user)


def hub_api(port: int, path: str, token: str, method: str = "GET", **kw) -> requests.Response:
    return requests.request(
        method,
        f"http://127.0.0.1:{port}{path}",
        headers={"Authorization": f"token {token}"},
        timeout=60,
        **kw,
    )


def run_cells(port: int, user: str, token: str, cells: list[str]) -> list[tuple[str, str]]:
    """Run ``cells`` in one new kernel of ``user``'s server, through the hub's proxy.

    Returns each cell's execute-reply status and the text of its outputs.
    """
    base = f"/user/{user}/api/kernels"
    kernel = hub_api(port, base, token, "POST", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    kernel_id = kernel.json()["id"]
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}{base}/{kernel_id}/channels",
        header=[f"Authorization: token {token}"],
        timeout=300,
    )
    session, results = uuid.uuid4().hex, []
    for code in cells:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": user,
            "session": session,
            "version": "5.3",
        }
        content = {"code": code, "silent": False, "store_history": False}
        ws.send(
            json.dumps(
                {
                    "header": header,
                    "parent_header": {},
                    "metadata": {},
                    "content": content,
                    "channel": "shell",
                }
            )
        )
        # The reply (shell) may come before the outputs (iopub): a cell is done when both the
        # reply and the kernel's "idle", which follows the cell's last output, have come.
        outputs, status, idle = [], None, False
        while status is None or not idle:
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            content = message["content"]
            if message["msg_type"] == "stream":
                outputs.append(content["text"])
            elif message["msg_type"] == "error":
                outputs.append(f"{content['ename']}: {content['evalue']}")
            elif message["msg_type"] == "execute_reply":
                status = content["status"]
            elif message["msg_type"] == "status":
                idle = content["execution_state"] == "idle"
        results.append((status, "".join(outputs)))
    ws.close()
    hub_api(port, f"{base}/{kernel_id}", token, "DELETE")
    return results


def reset_users() -> None:
    """Remove the test's users and homes from an earlier run: every run starts from scratch."""
    for user in [TEACHER, *STUDENTS]:
        subprocess.run(["userdel", "--remove", user], capture_output=True)
    for group in (f"{COURSE}-graders", f"{COURSE}-students"):
        subprocess.run(["groupdel", group], capture_output=True)


def stop(process: subprocess.Popen, children: list[psutil.Process]) -> None:
    """Stop the hub, then whatever it started that outlived it (its services), by pid."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    for child in children:
        if child.is_running():
            child.terminate()
    psutil.wait_procs([c for c in children if c.is_running()], timeout=10)


@pytest.fixture(scope="module")
def term():
    """Walk a term through the hub; return what the tests look at."""
    started = time.monotonic()
    reset_users()
    shutil.rmtree(BASE, ignore_errors=True)
    BASE.mkdir(parents=True)
    BASE.chmod(0o755)
    python = users_python()
    (BASE / "students.csv").write_text(
        "id,first_name,last_name,email\n"
        + "".join(f"{s},{s[3:].title()},Student,\n" for s in STUDENTS),
        encoding="utf-8",
    )
    data = BASE / "data"
    data.mkdir()
    shutil.copy(ROOT / "README.md", data / "README.md")  # a stand-in for the data mirror
    port = free_port()
    command = shlex.split(HUB_COMMAND.removeprefix("sudo "))
    command[0] = sys.executable  # .venv/bin/python, wherever this checkout's environment is
    command += [
        f"--students={BASE / 'students.csv'}",
        f"--data={data}",
        f"--course={COURSE}",
        f"--state={BASE / 'state'}",
        f"--exchange={BASE / 'exchange'}",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--python={python}",
    ]
    log = (BASE / "hub.log").open("w")
    env = dict(os.environ, LABHELPERS_FAST="1", TF_CPP_MIN_LOG_LEVEL="2", PATH=SUDO_PATH)
    hub = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    children: list[psutil.Process] = []
    try:
        yield from _walk(port, hub, children, started)
    finally:
        stop(hub, children)
        log.close()
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(
            "# What the hub test tried, and how it was refused\n\n"
            + "".join(f"- **{name}**: {text}\n" for name, text in REFUSALS.items()),
            encoding="utf-8",
        )
        print("\n".join(f"{name}: {text}" for name, text in REFUSALS.items()))


def _walk(port: int, hub: subprocess.Popen, children: list, started: float):
    for _ in range(240):
        assert hub.poll() is None, (BASE / "hub.log").read_text()[-3000:]
        try:
            if requests.get(f"http://127.0.0.1:{port}/hub/api/", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    children += psutil.Process(hub.pid).children(recursive=True)
    passwords = {user: secrets.token_urlsafe(12) for user in [TEACHER, *STUDENTS]}
    subprocess.run(
        ["chpasswd"],
        input="".join(f"{u}:{p}\n" for u, p in passwords.items()),
        text=True,
        check=True,
    )
    settings = Settings.load(BASE / "state" / "settings.json")
    exchange = Path(settings.exchange, COURSE)

    # Tokens, from each student's Unix password (PAM), as a script or the login page would.
    tokens = {}
    for user in STUDENTS:
        got = requests.post(
            f"http://127.0.0.1:{port}/hub/api/users/{user}/tokens",
            json={"auth": {"username": user, "password": passwords[user]}},
            timeout=30,
        )
        assert got.status_code == 201, got.text
        tokens[user] = got.json()["token"]
    wrong_password = requests.post(
        f"http://127.0.0.1:{port}/hub/api/users/kl-bob/tokens",
        json={"auth": {"username": "kl-bob", "password": "not-his"}},
        timeout=30,
    )
    assert wrong_password.status_code == 403
    record("hub: a wrong password", f"HTTP {wrong_password.status_code} {wrong_password.text}")
    wrong_token = hub_api(port, "/hub/api/user", "not-a-token")
    assert wrong_token.status_code == 403
    record("hub: a wrong token", f"HTTP {wrong_token.status_code} {wrong_token.text}")

    # kl-alice's server starts (through the hub's API, with her token) while the term goes on.
    spawn = hub_api(port, "/hub/api/users/kl-alice/server", tokens["kl-alice"], "POST")
    assert spawn.status_code in (201, 202), spawn.text

    teacher_home = Path("/home", TEACHER)
    course = teacher_home / "grading"
    nbgrader(TEACHER, "generate_assignment", LAB, cwd=course)
    nbgrader(TEACHER, "release_assignment", LAB, cwd=course)
    release = nbformat.read(course / "release" / LAB / f"{NOTEBOOK}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / LAB / f"{NOTEBOOK}.ipynb", as_version=4)
    right = answered(release, source)
    wrong = answered(release, source)
    cell_of(wrong, "exercise_1_answer").source = WRONG
    answers = {"kl-alice": right, "kl-bob": None, "kl-carol": wrong}
    for user, nb in answers.items():
        nbgrader(user, "fetch_assignment", LAB)
        if nb is not None:  # kl-bob hands the lab in as he fetched it
            write_as(user, nb, Path("/home", user, LAB, f"{NOTEBOOK}.ipynb"))
        nbgrader(user, "submit", LAB)
    # kl-carol hands her wrong lab in again, under kl-alice's name: the later one, as nbgrader
    # would collect it.
    forged = nbgrader("kl-carol", "submit", LAB, "--student=kl-alice")
    inbound = exchange / "inbound"
    folders = {p.name.split("+")[0]: p for p in sorted(inbound.iterdir())}
    alice_submission = sorted(inbound.glob("kl-alice+*"), key=lambda p: p.stat().st_mtime)[0]
    alice_notebook = alice_submission / f"{NOTEBOOK}.ipynb"
    assert set(folders) == set(STUDENTS), folders

    # What a student must not do, each tried as kl-bob or kl-carol.
    refused("list the submissions", "kl-bob", f"os.listdir({str(inbound)!r})")
    refused("read another's submission", "kl-bob", f"open({str(alice_notebook)!r}).read()")
    refused("list another's submission", "kl-bob", f"os.listdir({str(alice_submission)!r})")
    refused(
        "read another's submission secret (it names the feedback)",
        "kl-bob",
        f"open({str(alice_submission / 'submission_secret.txt')!r}).read()",
    )
    refused(
        "change another's submission",
        "kl-bob",
        f"open({str(alice_submission / 'extra.txt')!r}, 'w')",
    )
    refused("read another's home", "kl-bob", "os.listdir('/home/kl-alice')")
    released = exchange / "outbound" / LAB / f"{NOTEBOOK}.ipynb"
    refused("change the released lab", "kl-carol", f"open({str(released)!r}, 'a')")
    refused(
        "add to the released lab",
        "kl-carol",
        f"open({str(released.with_name('extra.ipynb'))!r}, 'w')",
    )
    refused("list the feedback", "kl-carol", f"os.listdir({str(exchange / 'feedback')!r})")
    refused("write into the data mirror", "kl-bob", f"open('{BASE}/data/x', 'w')")
    refused("change the course's nbgrader settings", "kl-bob", _append(settings, "student"))

    # Servers: each only through its own user's token.
    bob = tokens["kl-bob"]
    other = hub_api(port, "/hub/api/users/kl-alice/server", bob, "POST")
    assert other.status_code in (403, 404), other.text
    record("hub: start another's server", f"HTTP {other.status_code} {other.text}")
    ready = None
    for _ in range(240):
        model = hub_api(port, "/hub/api/users/kl-alice", tokens["kl-alice"]).json()
        ready = model["servers"].get("", {})
        if ready.get("ready"):
            break
        time.sleep(0.5)
    assert ready and ready.get("ready"), (BASE / "hub.log").read_text()[-3000:]
    through_hub = hub_api(port, "/user/kl-alice/api/status", bob)
    assert through_hub.status_code == 403, through_hub.text
    record(
        "hub: reach another's server through the hub",
        f"HTTP {through_hub.status_code} {' '.join(through_hub.text.split())[:300]}",
    )
    own = hub_api(port, "/user/kl-alice/api/status", tokens["kl-alice"])
    assert own.status_code == 200, own.text
    students_formgrader = hub_api(port, "/user/kl-alice/formgrader", tokens["kl-alice"])
    assert students_formgrader.status_code == 404
    record("a student's server: the formgrader", f"HTTP {students_formgrader.status_code}")

    setup_cell = next(c.source for c in release.cells if c.cell_type == "code")
    probe = (
        "import getpass, os, pathlib\n"
        "memory = [l.split(':')[2] for l in open('/proc/self/cgroup') if ':memory:' in l]\n"
        "limit = pathlib.Path('/sys/fs/cgroup/memory' + memory[0], 'memory.limit_in_bytes')\n"
        "print(getpass.getuser(), os.environ['LABHELPERS_DATA_DIR'], limit.read_text().strip()"
        " if memory and limit.exists() else 'none', labhelpers.__name__, sep='|')"
    )
    ran = run_cells(port, "kl-alice", tokens["kl-alice"], [setup_cell, probe])
    assert [status for status, _ in ran] == ["ok", "ok"], ran
    kernel_says = ran[1][1].strip().splitlines()[-1].split("|")  # after any warning
    hub_api(port, "/hub/api/users/kl-alice/server", tokens["kl-alice"], "DELETE")

    # The instructor: collect (the forgery is skipped), grade in parallel, feedback, export.
    collected = nbgrader(TEACHER, "collect", LAB, cwd=course)
    forgery = [line for line in collected.stderr.splitlines() if "claims to be" in line]
    record("submit under another's name (collect)", forgery[0] if forgery else "not reported")
    graded = as_user(
        TEACHER,
        settings.python,
        "-m",
        "coursetools",
        "autograde",
        LAB,
        "--jobs=3",
        cwd=course,
    )
    nbgrader(TEACHER, "generate_feedback", LAB, cwd=course)
    nbgrader(TEACHER, "release_feedback", LAB, cwd=course)
    nbgrader(TEACHER, "export", cwd=course)
    with (course / "grades.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    feedback = {}
    for user in STUDENTS:
        nbgrader(user, "fetch_feedback", LAB)
        pages = sorted(Path("/home", user, LAB, "feedback").rglob(f"{NOTEBOOK}.html"))
        feedback[user] = [p.read_text(encoding="utf-8") for p in pages]
    # nbgrader finds feedback by the secrets in the student's own cache: kl-bob, asking for
    # kl-alice's, gets his own again.
    stolen = nbgrader("kl-bob", "fetch_feedback", LAB, "--student=kl-alice", ok=False)
    bobs = {p.read_text(encoding="utf-8") for p in Path("/home/kl-bob", LAB).rglob("*.html")}
    assert bobs == set(feedback["kl-bob"]), "kl-bob fetched feedback that is not his"
    record(
        "fetch another's feedback (--student=kl-alice as kl-bob)",
        "only his own comes back: " + " ".join((stolen.stdout + stolen.stderr).split())[-300:],
    )
    yield {
        "rows": rows,
        "feedback": feedback,
        "forged": forged,
        "forgery": forgery,
        "graded": graded,
        "kernel": kernel_says,
        "course": course,
        "source": source,
        "settings": settings,
        "seconds": time.monotonic() - started,
    }


def _append(settings: Settings, role: str) -> str:
    path = Path(settings.state, "jupyter", role, "nbgrader_config.py")
    return f"open({str(path)!r}, 'a')"


def test_every_student_gets_exactly_their_score(term):
    got = {
        (r["student_id"], r["lab"], r["exercise"]): (float(r["score"]), r["status"])
        for r in term["rows"]
    }
    autograded = EXERCISES[:4]
    expected = {}
    for user in STUDENTS:
        for exercise in autograded:
            right = user == "kl-alice" or (user == "kl-carol" and exercise != "exercise_1")
            expected[user, LAB, exercise] = (1.0 if right else 0.0, "graded")
        # A written answer waits for the instructor; a blank one is 0.
        wrote = user != "kl-bob"
        expected[user, LAB, "exercise_5"] = (0.0, "needs manual grading" if wrote else "graded")
    assert {k: v for k, v in got.items() if k[1] == LAB} == expected
    print(f"\nThe term took {term['seconds']:.0f} s; grades.csv:")
    for row in term["rows"]:
        print(",".join(row.values()))


def test_max_scores_come_from_the_source(term):
    points = {
        c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"]
        for c in term["source"].cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    for row in term["rows"]:
        assert float(row["max_score"]) == points[row["exercise"]]


def test_a_forged_submission_is_skipped_and_counts_for_no_one(term):
    assert term["forged"].returncode == 0  # nbgrader itself lets anyone submit under any name
    assert term["forgery"], "collect did not report the forged folder"
    assert "kl-carol made it" in term["forgery"][0]
    # kl-alice's grade is her own submission's (all right), not kl-carol's wrong one.
    alice = {
        r["exercise"]: float(r["score"]) for r in term["rows"] if r["student_id"] == "kl-alice"
    }
    assert alice["exercise_1"] == 1


def test_each_student_fetches_their_own_feedback(term):
    feedback = term["feedback"]
    assert all(len(pages) == 1 for pages in feedback.values()), {
        user: len(pages) for user, pages in feedback.items()
    }
    carol = feedback["kl-carol"][0]
    assert "AssertionError" in carol and "check the sign in the exponent" in carol
    assert "HIDDEN TESTS" not in carol and ".require(" not in carol
    assert "check the sign in the exponent" not in feedback["kl-alice"][0]


def test_a_students_server_runs_the_lab_as_that_student_within_the_limits(term):
    user, data, limit, module = term["kernel"]
    assert user == "kl-alice" and module == "labhelpers"
    assert data == str(BASE / "data")
    if limit != "none":  # cgroup v1 here; the kernel sits in the server's cgroup
        assert int(limit) == 2 * 1024**3


def test_every_refusal_was_recorded(term):
    assert len(REFUSALS) >= 16, REFUSALS
