"""End to end: each lab opened in JupyterLab in headless Chromium, as a student opens it.

Starts ``jupyter lab`` on 127.0.0.1 with a temporary token and Binder's settings override,
and keeps one page open, as a student does. From its file browser it opens every student
notebook (the sources while there are no student versions) in turn, runs the setup cell and
the first cell that loads data through the UI in fast mode, and checks that outputs appear,
that no cell shows an error, that the browser logs no error and that no dialog or pop-up
covers the notebook; then closes it and shuts its kernel down. One screenshot per lab goes to
build/screenshots/.

Needs the dev tools: ``pip install -r requirements-dev.txt`` and a Chromium (Debian's
``chromium`` package; Playwright's own browser download is not needed).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install -r requirements-dev.txt for the browser test"
)

ROOT = Path(__file__).parents[1]
SCREENSHOTS = ROOT / "build" / "screenshots"
STUDENT = sorted((ROOT / "notebooks" / "student").glob("*.ipynb"))
NOTEBOOKS = STUDENT or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


# Generous: the setup cell imports TensorFlow, which takes a while on a busy 2-core machine.
CELL_TIMEOUT_MS = 240_000
STARTED_TIMEOUT_MS = 30_000  # from the Run click to [*]: the kernel only has to accept it
NOT_STARTED = re.compile(r"^\s*\[ \]:?\s*$")
# JupyterLab shows an error as text on stderr, as it shows warnings: an error is the text with
# a traceback, or with the exception's last line (a SyntaxError has no traceback).
STDERR = "[data-mime-type='application/vnd.jupyter.stderr']"
ERROR = re.compile(r"Traceback \(most recent call last\)|^\w*Error: ", re.MULTILINE)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer at {url} within {timeout} s")


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 as a new user sees it; yields ``(base_url, token)``."""
    home = tmp_path_factory.mktemp("jupyter-home")
    token = secrets.token_hex(16)
    port = _free_port()
    env = dict(os.environ)
    # A fresh user: no settings, workspaces or config of whoever runs the tests.
    for name, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
    ]:
        env[name] = str(home / sub)
    # No autosave: running cells must never write outputs into the committed notebooks.
    docmanager = home / "settings" / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    env["LABHELPERS_FAST"] = "1"
    env.pop("MPLBACKEND", None)  # let the kernel draw inline figures, as for a student
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
        # Checkpoints outside the checkout.
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",
        # The settings override that Binder's postBuild installs: no news pop-up.
        f"--LabApp.app_settings_dir={ROOT / 'binder'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (home / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/api/status?token={token}", server)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _first_data_cell(nb) -> int:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and re.search(r"\bload_\w+\(", cell.source):
            return index
    raise AssertionError("no code cell loads data (calls a load_... function)")


def _setup_cell(nb) -> int:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            return index
    raise AssertionError("the notebook has no code cell")


def _run_cell(page, panel, cell) -> None:
    """Select a code cell with a click, then press the toolbar's Run button, as a student does."""
    prompt = cell.locator(".jp-InputArea-prompt")
    run = panel.locator(".jp-Toolbar [data-command='notebook:run-cell-and-select-next']")
    for attempt in (1, 2):
        cell.scroll_into_view_if_needed()
        prompt.click()
        sync_api.expect(cell).to_have_class(re.compile(r"\bjp-mod-active\b"))
        run.click()
        # The prompt shows [*] while running and [n] once done. Once in a CI run, a click just
        # after the kernel reported idle never reached it (the prompt stayed [ ]); a student
        # would click Run again, and so does the test, once.
        try:
            sync_api.expect(prompt).not_to_have_text(NOT_STARTED, timeout=STARTED_TIMEOUT_MS)
            break
        except AssertionError:
            if attempt == 2:
                raise
    sync_api.expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=CELL_TIMEOUT_MS)


class Student:
    """One JupyterLab page, as a student keeps it open from lab to lab; collects what the
    browser reports."""

    def __init__(self, browser, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.route("**/*", self._keep_local)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))
        self.page.goto(f"{base}/lab/workspaces/test-labs?reset&token={token}")
        self.loaded = time.monotonic()
        sync_api.expect(self.page.locator(".jp-DirListing-content")).to_be_visible(timeout=60_000)

    def _keep_local(self, route) -> None:
        # Nothing leaves 127.0.0.1; external resources (badge images) simply fail to load.
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and not where.startswith(self.base):
            return  # an external resource we blocked on purpose
        self.console_errors.append(f"{message.text} ({where})")

    def open(self, relative: str):
        """Open a notebook from the file browser, folder by folder, with double clicks."""
        *folders, name = relative.split("/")
        listing = self.page.locator(".jp-DirListing-itemText")
        self.page.locator(".jp-BreadCrumbs-home").click()
        for depth, folder in enumerate(folders, start=1):
            listing.get_by_text(folder, exact=True).dblclick()
            # The listing is redrawn with the breadcrumbs: the next double click must wait for
            # it, or it lands on whatever the old listing had under the pointer.
            shown = r"\s*/\s*".join(map(re.escape, folders[:depth]))
            crumbs = self.page.locator(".jp-BreadCrumbs")
            sync_api.expect(crumbs).to_have_text(re.compile(rf"^\s*/\s*{shown}\s*/\s*$"))
        listing.get_by_text(name, exact=True).dblclick()
        tab = self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
        path_line = re.compile(rf"^Path: {re.escape(relative)}$", re.MULTILINE)
        sync_api.expect(tab).to_have_attribute("title", path_line)
        panel = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        sync_api.expect(panel).to_have_count(1, timeout=60_000)
        # The kernel is ready when the toolbar's status says so.
        sync_api.expect(
            self.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
        ).to_have_count(1, timeout=120_000)
        return panel

    def close(self) -> None:
        """Close the notebook without saving, then shut its kernel down, as each lab's setup
        asks Binder users to do with the previous one."""
        self.page.keyboard.press("Escape")
        self.page.locator(".lm-DockPanel-tabBar .lm-mod-current .lm-TabBar-tabCloseIcon").click()
        self.page.get_by_role("button", name="Discard").click()
        sync_api.expect(self.page.locator(".jp-NotebookPanel")).to_have_count(0)
        for session in _sessions(self.base, self.token):
            _delete(f"{self.base}/api/sessions/{session}?token={self.token}")


@pytest.fixture(scope="module")
def student(browser, lab_server):  # browser first: it may skip
    """The student's JupyterLab page, kept open for every lab."""
    base, token = lab_server
    student = Student(browser, base, token)
    yield student
    student.context.close()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lab_runs_in_jupyterlab(path, student):
    committed = path.read_bytes()
    nb = nbformat.read(path, as_version=4)
    cell_indices = [_setup_cell(nb), _first_data_cell(nb)]
    page = student.page
    student.console_errors.clear()

    panel = student.open(path.relative_to(ROOT).as_posix())
    cells = panel.locator(".jp-Notebook .jp-Cell")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for index in cell_indices:
        cell = cells.nth(index)
        try:
            _run_cell(page, panel, cell)
        except AssertionError:
            page.screenshot(path=SCREENSHOTS / f"{path.stem}-failed.png")
            raise
        outputs = cell.locator(".jp-OutputArea-output")
        assert outputs.count() > 0, f"cell {index} ran but shows no output"
        stderr = [text for text in cell.locator(STDERR).all_inner_texts() if ERROR.search(text)]
        assert not stderr, f"cell {index} shows an error:\n{stderr[0]}"

    # Give late pop-ups (the news question comes a few seconds after JupyterLab starts) a
    # chance to show.
    page.wait_for_timeout(max(0.0, 3000 - 1000 * (time.monotonic() - student.loaded)))
    cells.nth(cell_indices[-1]).scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / f"{path.stem}.png")

    dialogs = page.locator(".jp-Dialog")
    assert dialogs.count() == 0, f"a dialog covers the notebook: {dialogs.first.inner_text()}"
    toasts = page.locator(".Toastify__toast")
    assert toasts.count() == 0, f"a pop-up covers the notebook: {toasts.first.inner_text()}"
    assert not student.console_errors, "browser console errors:\n" + "\n".join(
        student.console_errors
    )

    assert path.read_bytes() == committed, "the browser session changed the notebook on disk"
    student.close()


def _sessions(base: str, token: str) -> list[str]:
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as response:
        return [session["id"] for session in json.load(response)]


def _delete(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30).close()
