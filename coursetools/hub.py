"""A classroom hub on one server: JupyterHub for an instructor and a class, with nbgrader.

``python -m coursetools hub`` (as root) makes it, then starts it: one Unix user per person (the
class list is nbgrader's ``students.csv``), nbgrader's exchange laid out so that no student can
read another's work (``coursetools.exchange`` says how), the data mirror readable by all and
writable by none, and the instructor's nbgrader course folder. Its JupyterHub settings are
:func:`configure`'s, read by ``jupyterhub_config.py`` (the same file as ``hub/`` holds):

- people log in with their Unix password (PAM); only the class's two groups may;
- each server runs as its user (``LocalProcessSpawner``), in a cgroup that holds it to the
  course's memory and CPU limits (a lab's kernel peaks under 1,430 MiB; docs/measurements.md);
- students' servers show nbgrader's *Assignments* only; the graders' show the *Formgrader* too;
- servers idle for an hour are stopped (jupyterhub-idle-culler).
"""

from __future__ import annotations

import csv
import grp
import json
import os
import pwd
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner

__all__ = [
    "CONFIG_FILE",
    "CourseSpawner",
    "Settings",
    "configure",
    "nbgrader_config",
    "read_class_list",
    "setup",
    "start",
    "user_environment",
]

CONFIG_FILE = """\
# JupyterHub settings for the Keras labs' classroom hub; see coursetools/hub.py for what they do.
# python -m coursetools hub writes settings.json beside this file; change the settings there.
from pathlib import Path

from coursetools.hub import Settings, configure

c = get_config()  # noqa: F821 - JupyterHub defines it when it reads this file
configure(c, Settings.load(Path(__file__).with_name("settings.json")))
"""

BIN = Path(sys.executable).parent  # the hub's environment: jupyterhub, its proxy
# The students' servers: nbgrader's assignment list and validation, no grading tools.
GRADING_ONLY_SERVER = ["formgrader", "course_list"]
GRADING_ONLY_LAB = ["formgrader", "create-assignment", "course-list"]
CGROUP = Path("/sys/fs/cgroup")


@dataclass
class Settings:
    """What differs from one classroom hub to the next; saved as the state folder's JSON."""

    course: str = "keras-labs"
    instructors: list[str] = field(default_factory=list)
    students: list[str] = field(default_factory=list)
    state: str = "/srv/keras-labs-hub"  # JupyterHub's database, cookie secret, settings
    exchange: str = "/srv/nbgrader/exchange"
    data: str = ""  # the mirror of `python -m coursetools classroom`, if any
    ip: str = ""  # every interface; 127.0.0.1 to reach it through a web server on the machine
    port: int = 8000  # the hub's own API and the proxy's listen on the next two, locally
    # Memory: a lab's kernel peaks under 1,430 MiB, the server and a terminal take about 200.
    mem_limit: str = "2G"
    mem_guarantee: str = "1.5G"  # what the cluster reserves for each user
    # CPU: the labs' times were measured on 2 cores; more do not help a fast-mode-sized class.
    cpu_limit: float = 2.0
    cpu_guarantee: float = 0.5
    cull_after: int = 3600  # seconds without activity before a server is stopped
    # The Python of the users' servers, kernels and nbgrader: the course's environment. Every
    # user must be able to run it (a Python installed under /root, as pyenv does, is not).
    python: str = sys.executable

    @property
    def graders(self) -> str:
        """The Unix group of the instructors: it owns the submissions in the exchange."""
        return f"{self.course}-graders"

    @property
    def learners(self) -> str:
        """The Unix group of the students."""
        return f"{self.course}-students"

    @classmethod
    def load(cls, path: str | os.PathLike) -> Settings:
        """The settings saved at ``path``, or the defaults where there is no such file."""
        path = Path(path)
        return cls(**json.loads(path.read_text(encoding="utf-8"))) if path.exists() else cls()

    def save(self, path: str | os.PathLike) -> None:
        """Write the settings as JSON to ``path``."""
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


def read_class_list(path: str | os.PathLike) -> list[str]:
    """The student ids of nbgrader's ``students.csv`` (column ``id``), in the file's order."""
    with Path(path).open(encoding="utf-8", newline="") as file:
        return [row["id"].strip() for row in csv.DictReader(file) if row.get("id", "").strip()]


def nbgrader_config(settings: Settings, role: str) -> str:
    """The nbgrader settings every server of ``role`` ("student" or "grader") reads."""
    lines = [
        f"# nbgrader settings for the classroom hub, written by coursetools.hub: for every {role}.",
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.course_id = {settings.course!r}",
        f"c.Exchange.root = {settings.exchange!r}",
    ]
    if role == "student":
        lines.append('c.ExchangeFactory.submit = "coursetools.exchange.PrivateSubmit"')
    else:
        lines += [
            "import os",
            'c.CourseDirectory.root = os.path.expanduser("~/grading")',
            'c.ExchangeFactory.collect = "coursetools.exchange.OwnerCheckedCollect"',
        ]
    return "\n".join(lines) + "\n"


def role_of(settings: Settings, user: str) -> str:
    """ "grader" for the instructors, "student" for everyone else."""
    return "grader" if user in settings.instructors else "student"


def user_environment(settings: Settings, user: str) -> dict[str, str]:
    """What a user's server, and every command run in it, needs in its environment."""
    env = {
        "JUPYTER_CONFIG_PATH": str(Path(settings.state, "jupyter", role_of(settings, user))),
        "PATH": f"{Path(settings.python).parent}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
    }
    if settings.data:
        env["LABHELPERS_DATA_DIR"] = settings.data
    return env


def _write_role_configs(settings: Settings) -> None:
    """Each role's Jupyter config folder: nbgrader's settings, and which extensions it sees."""
    for role in ("student", "grader"):
        folder = Path(settings.state, "jupyter", role)
        (folder / "labconfig").mkdir(parents=True, exist_ok=True)
        (folder / "nbgrader_config.py").write_text(
            nbgrader_config(settings, role), encoding="utf-8"
        )
        hidden = role == "student"
        server = {f"nbgrader.server_extensions.{name}": not hidden for name in GRADING_ONLY_SERVER}
        (folder / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": server}}, indent=2),
            encoding="utf-8",
        )
        lab = {f"@jupyter/nbgrader:{name}": hidden for name in GRADING_ONLY_LAB}
        (folder / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": lab}, indent=2), encoding="utf-8"
        )


def _ensure_group(name: str) -> int:
    """The gid of group ``name``, created if missing."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        subprocess.run(["groupadd", name], check=True)
        return grp.getgrnam(name).gr_gid


def check_python(settings: Settings, user: str) -> None:
    """Raise ``PermissionError`` unless ``user`` can run the users' Python."""
    done = subprocess.run(
        ["runuser", "-u", user, "--", settings.python, "-c", "import jupyterhub, nbgrader"],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise PermissionError(
            f"{user} cannot run {settings.python} ({done.stderr.strip()[-300:]}): install the "
            "course in an environment that every user can read, made from a Python outside "
            "/root (for example Debian's: /usr/bin/python3 -m venv /opt/keras-labs)"
        )


def _ensure_user(name: str, group: str) -> pwd.struct_passwd:
    """User ``name`` with a home only they can enter, in ``group``; created if missing."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    if name not in grp.getgrnam(group).gr_mem:
        subprocess.run(["usermod", "--append", "--groups", group, name], check=True)
    user = pwd.getpwnam(name)
    # Debian's default home is world-readable: a classmate could read the notebooks in it.
    os.chmod(user.pw_dir, 0o700)
    return user


def setup_exchange(settings: Settings) -> Path:
    """Lay out nbgrader's exchange for the course; return the course's folder in it.

    The root is world-writable, as nbgrader requires, but sticky; the course folder is made
    here, owned by the first instructor, before any student could take its name. Inside it:
    ``outbound`` (what is released: everyone reads, only the instructor writes), ``inbound``
    (submissions: everyone may create, no one but the graders may list, set-group-ID to the
    graders' group, sticky so that no one removes another's) and ``feedback`` (no one lists
    it; a student reads their own by a name derived from their submission's secret).
    """
    owner = pwd.getpwnam(settings.instructors[0])
    graders = grp.getgrnam(settings.graders).gr_gid
    root = Path(settings.exchange)
    root.mkdir(parents=True, exist_ok=True)
    os.chown(root, 0, 0)
    root.chmod(0o1777)
    course = root / settings.course
    layout = {
        course: 0o755,
        course / "outbound": 0o755,
        course / "inbound": 0o3773,
        course / "feedback": 0o711,
    }
    for folder, mode in layout.items():
        folder.mkdir(exist_ok=True)
        os.chown(folder, owner.pw_uid, graders)
        folder.chmod(mode)  # after chown, which clears the set-group-ID bit
    return course


def setup_course_folder(settings: Settings, sources: Iterable[Path]) -> Path:
    """The first instructor's nbgrader course folder, ``~/grading``, with the class in it."""
    from nbgrader.api import Gradebook

    from coursetools.grading import prepare_course

    owner = pwd.getpwnam(settings.instructors[0])
    folder = Path(owner.pw_dir, "grading")
    prepare_course(folder, sources)
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}", settings.course) as gradebook:
        for student in settings.students:
            gradebook.update_or_create_student(student)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)
    return folder


def setup(settings: Settings, sources: Iterable[Path]) -> Path:
    """Make the hub's users, exchange, data mirror and state folder; return the config file.

    Safe to run again: what exists is kept (users, passwords, the instructor's settings) and
    put back to the modes above.
    """
    if not settings.instructors:
        raise ValueError("a classroom hub needs an instructor")
    clash = set(settings.instructors) & set(settings.students)
    if clash:
        raise ValueError(f"both instructor and student: {', '.join(sorted(clash))}")
    _ensure_group(settings.graders)
    _ensure_group(settings.learners)
    for name in settings.instructors:
        _ensure_user(name, settings.graders)
    for name in settings.students:
        _ensure_user(name, settings.learners)
    check_python(settings, settings.students[0] if settings.students else settings.instructors[0])
    setup_exchange(settings)
    if settings.data:
        # Readable by every user, writable by none but root: one copy serves the class.
        subprocess.run(["chmod", "-R", "a+rX,go-w", settings.data], check=True)
    state = Path(settings.state)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)  # the role folders are read by every user's server
    _write_role_configs(settings)
    setup_course_folder(settings, sources)
    settings.save(state / "settings.json")
    config = state / "jupyterhub_config.py"
    config.write_text(CONFIG_FILE, encoding="utf-8")
    return config


def start(settings: Settings) -> None:
    """Replace this process with JupyterHub, run from the state folder with its config."""
    os.chdir(settings.state)
    # A command started in the background of a script inherits SIGINT ignored, and so would the
    # hub's services (the idle culler): JupyterHub stops them with SIGINT, then waits 30 s.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    hub = str(BIN / "jupyterhub")
    os.execv(hub, [hub, "--config", str(Path(settings.state, "jupyterhub_config.py"))])


class CourseSpawner(LocalProcessSpawner):
    """Each user's server as that user, in a cgroup of its own with the memory and CPU limits.

    JupyterHub's ``LocalProcessSpawner`` only reports ``mem_limit`` and ``cpu_limit`` to the
    server; this one enforces them, in cgroups under the hub's own (v1, or v2 where the hub's
    systemd unit has ``Delegate=yes``). Where it cannot, it says so in the log and runs the
    server without limits.
    """

    def _cgroups(self) -> list[tuple[Path, dict[str, str]]]:
        """The user's cgroup folders with the files that set its limits."""
        quota = int(self.cpu_limit * 100_000) if self.cpu_limit else None
        name = f"jupyterhub-users/{self.user.name}"
        own = dict(
            line.split(":", 2)[1:] for line in Path("/proc/self/cgroup").read_text().splitlines()
        )
        if (CGROUP / "cgroup.controllers").exists():  # v2, one hierarchy
            limits = {"memory.max": str(self.mem_limit or "max")}
            limits["cpu.max"] = f"{quota or 'max'} 100000"
            return [(CGROUP / own[""].lstrip("/") / name, limits)]
        memory = {"memory.limit_in_bytes": str(self.mem_limit or -1)}
        cpu = {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": str(quota or -1)}
        return [
            (CGROUP / "memory" / own["memory"].lstrip("/") / name, memory),
            (CGROUP / "cpu" / own.get("cpu", own.get("cpu,cpuacct", "/")).lstrip("/") / name, cpu),
        ]

    def _limit(self) -> list[Path]:
        """Make the user's cgroups with their limits; the ``cgroup.procs`` files to join."""
        procs = []
        try:
            for folder, limits in self._cgroups():
                if (CGROUP / "cgroup.controllers").exists():
                    _delegate(folder.parent)
                folder.mkdir(parents=True, exist_ok=True)
                for file, value in limits.items():
                    (folder / file).write_text(value)
                procs.append(folder / "cgroup.procs")
        except (OSError, KeyError) as error:
            self.log.warning("No memory or CPU limit for %s's server: %s", self.user.name, error)
            return []
        return procs

    def make_preexec_fn(self, name: str) -> Any:
        """Join the user's cgroups (still as root), then become the user."""
        become_user = super().make_preexec_fn(name)
        procs = self._limit()

        def preexec() -> None:
            for path in procs:
                with open(path, "w") as file:
                    file.write(str(os.getpid()))
            become_user()

        return preexec

    async def stop(self, now: bool = False) -> None:
        """Stop the server, then remove its cgroups (the kernel refuses while any is in use)."""
        await super().stop(now=now)
        try:
            for folder, _ in self._cgroups():
                folder.rmdir()
        except (OSError, KeyError):
            pass


def _delegate(users: Path) -> None:
    """cgroup v2: move the hub's processes to a leaf, so that its cgroup may hold the users'."""
    own = users.parent
    leaf = own / "hub"
    users.mkdir(exist_ok=True)
    if not leaf.exists():
        leaf.mkdir()
        for pid in (own / "cgroup.procs").read_text().split():
            (leaf / "cgroup.procs").write_text(pid)
    for folder in (own, users):
        (folder / "cgroup.subtree_control").write_text("+memory +cpu")


def _role(settings: Settings) -> Any:
    """The environment callable that sends each user to their role's Jupyter config folder."""
    return lambda spawner: user_environment(settings, spawner.user.name)["JUPYTER_CONFIG_PATH"]


def configure(c: Any, settings: Settings) -> None:
    """Apply the classroom hub's JupyterHub settings to ``c``, the config object."""
    state = Path(settings.state)
    c.JupyterHub.ip = settings.ip
    c.JupyterHub.port = settings.port
    # The hub's own API and the proxy's, beside the public port: on this machine only.
    c.JupyterHub.hub_port = settings.port + 1
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.port + 2}"
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.ConfigurableHTTPProxy.command = [str(BIN / "configurable-http-proxy")]
    c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
    # Real Unix users, with their passwords; only the course's two groups.
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.allowed_groups = {settings.graders, settings.learners}
    # Named users are in JupyterHub's database from the start: tokens before a first login.
    c.Authenticator.allowed_users = set(settings.instructors + settings.students)
    c.JupyterHub.spawner_class = CourseSpawner
    c.Spawner.cmd = [settings.python, "-m", "jupyterhub.singleuser"]
    c.Spawner.default_url = "/lab"
    c.Spawner.mem_limit = settings.mem_limit
    c.Spawner.cpu_limit = settings.cpu_limit
    c.Spawner.start_timeout = 120  # a server's first start on a busy 2-core machine
    # Fast mode and TensorFlow's log level pass from the hub's environment, for a trial run.
    c.Spawner.env_keep = ["LANG", "LC_ALL", "LABHELPERS_FAST", "TF_CPP_MIN_LOG_LEVEL"]
    environment: dict[str, Any] = {"JUPYTER_CONFIG_PATH": _role(settings)}
    environment["PATH"] = user_environment(settings, "")["PATH"]
    if settings.data:
        environment["LABHELPERS_DATA_DIR"] = settings.data
    c.Spawner.environment = environment
    c.JupyterHub.load_roles = [
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        }
    ]
    c.JupyterHub.services = [
        {
            "name": "idle-culler",
            "command": [
                sys.executable,
                "-m",
                "jupyterhub_idle_culler",
                f"--timeout={settings.cull_after}",
            ],
        }
    ]
