"""The course website: both editions built from fast runs, checked as files and in a browser.

The fixture reads the labs as the execution layer left them, fast mode, in build/course: the
sources from the course runner and the student versions from nbval (each cell run twice), and
runs ``python -m coursetools site`` on them; it executes no lab itself. The students' edition
must hold no line of a solution or of a hidden test, anywhere (pages, guides and downloadable
notebooks); the solutions edition must show every one. Both editions hold the guides of docs/.
In headless Chromium (as in test_browser.py) the home page, every lab page and every guide load
without console errors, each lab page shows a figure, no page shows a broken image, every
internal link resolves, and the search box finds Lab 3 for "dropout". Screenshots go to
build/site-screenshots/.

Needs the dev tools: ``pip install -r requirements-dev.txt``; the browser checks also need a
Chromium (Debian's ``chromium`` package).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from coursetools.__main__ import main

pytest.importorskip("sphinx_book_theme", reason="pip install -r requirements-dev.txt for the site")
pytest.importorskip("myst_nb", reason="pip install -r requirements-dev.txt for the site")

from coursetools.site import (  # noqa: E402 (needs the dev tools)
    EDITIONS,
    GUIDES,
    SiteError,
    _pages,
    _repository,
    build_site,
)

ROOT = Path(__file__).parents[1]
SCREENSHOTS = ROOT / "build" / "site-screenshots"
SOURCES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
STUDENT = sorted((ROOT / "notebooks" / "student").glob("[0-9]*.ipynb"))
LABS = [path.stem for path in SOURCES]
DOCS = ROOT / "docs"
SITE = "python -m coursetools site"  # as docs/instructors.md gives it
RUN_FIRST = (
    "run `python -m coursetools run --fast` and "
    "`LABHELPERS_FAST=1 pytest notebooks/student --nbval-lax` first"
)
LAB_3 = "03_refining_the_model"  # the search finds it for "dropout"; its page is photographed

# Sphinx 9 announces, for each page, API changes that sphinx-book-theme and MyST still await.
pytestmark = pytest.mark.filterwarnings("ignore:.*Check CHANGES for Sphinx API modifications")
MARKER = re.compile(r"^\s*#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
# Sphinx's typography in prose, and MyST's emphasis and code marks, which the page no longer shows.
PLAIN = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "--"}


def _plain(text: str) -> str:
    for fancy, plain in PLAIN.items():
        text = text.replace(fancy, plain)
    return " ".join(re.sub(r"[*`]", "", text).split())


def _secrets() -> dict[str, set[str]]:
    """Each lab's lines that only its solutions and hidden tests hold, read from the sources.

    Lines without a letter or digit (``)``, ``]``) and lines that the course also shows outside
    its solutions (``plt.show()``, or ``deeper.summary()`` in a sentence) tell nothing and are
    left out.
    """
    solutions, other = {}, set()
    for path in SOURCES:
        inside, solutions[path.stem] = False, set()
        for cell in nbformat.read(path, as_version=4).cells:
            written = cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get(
                "solution"
            )
            for line in cell.source.splitlines():
                if MARKER.match(line):
                    inside = MARKER.match(line)[1] == "BEGIN"
                    continue
                if written:  # a written answer: as the page shows it, without list marks
                    line = re.sub(r"^\s*([-+]|\d+\.)\s+", "", line)
                if re.search(r"[A-Za-z0-9]", line):
                    (solutions[path.stem] if inside or written else other).add(_plain(line))
    shown = "\n".join(other)
    return {lab: {line for line in lines if line not in shown} for lab, lines in solutions.items()}


class _Text(HTMLParser):
    """The text a page shows: its markup, scripts and styles left out."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        self.hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _page_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return _plain("".join(parser.parts))


def _notebook_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = [cell.source for cell in nb.cells]
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts += [output.get("text", ""), str(output.get("data", {}).get("text/plain", ""))]
    return _plain("\n".join(parts))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Both editions, from the executed copies that the execution layer left in build/course.

    ``python -m coursetools run --fast`` leaves the sources there, and nbval the student
    versions in build/course/student (conftest.py, earlier in the same pytest session); this
    runs no lab itself. Without any executed copy (unit tests alone) the site is not checked;
    a copy that is not a passing fast run of its notebook as it is now fails.
    """
    from labhelpers.course import Course

    from coursetools.runner import is_fresh

    executed = ROOT / "build" / "course"
    runs = [(executed, SOURCES), (executed / "student", STUDENT)]
    if not any((folder / path.name).is_file() for folder, notebooks in runs for path in notebooks):
        pytest.skip(f"no executed labs in {executed}: {RUN_FIRST}")
    stale = [
        str((folder / path.name).relative_to(ROOT))
        for folder, notebooks in runs
        for path in notebooks
        if not is_fresh(folder / path.name, path, Course(fast=True))
    ]
    assert not stale, f"not a passing fast run of the notebook as it is now: {stale}; {RUN_FIRST}"
    # The guide's command exactly as written, in a folder laid out as the repository root is
    # after the two runs: docs/, build/course/ and build/course/student/.
    root = tmp_path_factory.mktemp("site") / "root"
    shutil.copytree(executed, root / "build" / "course")
    shutil.copytree(DOCS, root / "docs")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *SITE.split()[1:]], cwd=root, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    printed = done.stdout + done.stderr
    print(printed + f"both editions built in {seconds:.1f} s")
    assert done.returncode == 0, printed[-3000:]
    assert "WARNING" not in printed, printed
    return root / "build" / "site"


def test_site_needs_executed_notebooks_of_the_right_kind(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as stopped:
        main(["site", "--only", "solutions", "--solutions", str(tmp_path / "nothing")])
    assert stopped.value.code == 1
    assert "run `python -m coursetools run --fast` first" in capsys.readouterr().err
    # Sources handed over as the students' notebooks: refused, nothing built.
    sources = tmp_path / "sources"
    sources.mkdir()
    shutil.copy(SOURCES[0], sources)
    with pytest.raises(SystemExit):
        main(["site", "--only", "students", "--students", str(sources), "--output", str(tmp_path)])
    assert "is a source, with solutions" in capsys.readouterr().err
    assert not (tmp_path / "students").exists()


def test_site_needs_its_pages(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# A course\n", encoding="utf-8")
    with pytest.raises(
        SiteError, match="lacks instructors.md, classroom-hub.md, measurements.md, contributing.md"
    ):
        build_site({"students": ROOT / "notebooks" / "student"}, tmp_path, tmp_path / "docs")
    assert not (tmp_path / "students").exists()


def test_every_page_of_docs_is_on_the_site():
    """A new guide in docs/ must be added to the site's Guides menu (coursetools.site.GUIDES)."""
    assert sorted(path.stem for path in DOCS.glob("*.md")) == sorted(["index", *GUIDES])


@pytest.mark.parametrize("edition", EDITIONS)
def test_links_in_the_pages_become_the_sites_own(edition):
    """Links to labs open their pages; links to other files of the repository open GitHub."""
    pages = _pages(DOCS, LABS, edition)
    repository = f"{_repository()}/blob/main/"
    for name, text in pages.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#")[0]
            if re.match(r"[a-z]+:", path):  # another site: never GitHub's copy of a page here
                assert not path.startswith(repository + "docs/"), f"{name}.md: {target}"
                continue
            if not path:  # a section of the same page
                continue
            is_page = path.removesuffix(".md") in ["index", *GUIDES]
            is_lab = path.endswith(".ipynb") and path.removesuffix(".ipynb") in LABS
            assert is_page or is_lab, f"{name}.md: {target} leads nowhere on the site"
    home = pages["index"]
    assert home.startswith("# ") and "Hands-on labs that take you from a single neuron" in home
    assert f"]({repository}README.md)" in home
    assert all(f"\n{name}\n" in home for name in [*LABS, *GUIDES]), "a page missing from a menu"


@pytest.mark.executed
def test_students_edition_holds_no_solution(site):
    secrets = _secrets()
    assert all(secrets.values()), "a lab whose solution lines all appear outside solutions"
    files = sorted((site / "students").rglob("*.html")) + sorted(
        (site / "students").rglob("*.ipynb")
    )
    assert len(files) > len(LABS)
    for path in files:
        text = _page_text(path) if path.suffix == ".html" else _notebook_text(path)
        for lab, lines in secrets.items():
            leaked = sorted(line for line in lines if line in text)
            assert not leaked, f"{path.name} shows lines of {lab}'s solutions: {leaked}"


@pytest.mark.executed
def test_solutions_edition_shows_every_solution(site):
    for lab, lines in _secrets().items():
        text = _page_text(site / "solutions" / f"{lab}.html")
        missing = sorted(line for line in lines if line not in text)
        assert not missing, f"{lab}.html lacks lines of its solutions: {missing}"


@pytest.mark.executed
def test_students_edition_shows_unanswered_checks(site):
    for lab in LABS:
        students = _page_text(site / "students" / f"{lab}.html")
        assert "not answered yet" in students, f"{lab}: no check cell says 'not answered yet'"
        assert "not answered yet" not in _page_text(site / "solutions" / f"{lab}.html")


@pytest.mark.executed
@pytest.mark.parametrize("edition", EDITIONS)
def test_lab_pages_open_their_own_notebook(site, edition):
    """Colab, Binder and the download open this edition's notebook of the lab."""
    for lab in LABS:
        html = (site / edition / f"{lab}.html").read_text(encoding="utf-8")
        hrefs = [unquote(href) for href in re.findall(r'href="([^"]+)"', html)]
        for host in ("colab.research.google.com/github/", "mybinder.org/v2/gh/"):
            opened = [
                re.search(rf"(notebooks(?:/student)?)/{lab}\.ipynb", href)
                for href in hrefs
                if host in href
            ]
            assert opened, f"{edition}/{lab}.html has no {host} button"
            assert all(m and m[1] == EDITIONS[edition] for m in opened), (host, opened)
        assert f"_sources/{lab}.ipynb" in hrefs, f"{edition}/{lab}.html: no download button"
        download = site / edition / "_sources" / f"{lab}.ipynb"
        nb = nbformat.read(download, as_version=4)
        assert ("student-version" in nb.cells[0].metadata.get("tags", [])) == (
            edition == "students"
        )
        assert any(cell.get("outputs") for cell in nb.cells), "the download is not executed"


@pytest.mark.executed
def test_home_page_is_the_course_overview_with_the_labs_in_order(site):
    for edition in EDITIONS:
        html = (site / edition / "index.html").read_text(encoding="utf-8")
        assert "Hands-on labs that take you from a single neuron" in _page_text(
            site / edition / "index.html"
        )
        for name in [*LABS, *GUIDES]:
            assert f'href="{name}.html"' in html, f"the home page does not link to {name}"
        # Navigation in course order: each lab's next page is the next lab.
        for lab, after in zip(LABS, LABS[1:], strict=False):
            page = (site / edition / f"{lab}.html").read_text(encoding="utf-8")
            assert f'<link rel="next" title="Lab {LABS.index(after)}' in page
            assert f'href="{after}.html"' in page


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(site):
    """The site on 127.0.0.1, as GitHub Pages serves it; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _open(browser, base: str):
    """A page that loads nothing from outside 127.0.0.1 and collects console errors."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    errors: list[str] = []

    def keep_local(route) -> None:
        # External resources (badges, MathJax from its CDN) simply fail to load.
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    def on_console(message) -> None:
        where = message.location.get("url", "")
        blocked = message.text.startswith("Failed to load resource") and not where.startswith(base)
        if message.type == "error" and not blocked:
            errors.append(f"{message.text} ({where})")

    page.route("**/*", keep_local)
    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    return page, errors


@pytest.mark.executed
@pytest.mark.parametrize("edition", EDITIONS)
def test_guides_are_pages_of_both_editions(site, edition):
    """Each guide of docs/, under its own title, with no link left to a file of the repository."""
    for guide in GUIDES:
        page = site / edition / f"{guide}.html"
        assert page.is_file(), f"the {edition} edition has no page for docs/{guide}.md"
        title = (DOCS / f"{guide}.md").read_text(encoding="utf-8").splitlines()[0][2:]
        html = page.read_text(encoding="utf-8")
        assert f"<h1>{title}" in _plain(html), f"{guide}.html: no heading '{title}'"
        # Links within the site: its pages, its assets and the page's source, nothing else.
        local = [h for h in re.findall(r'href="([^"]*)"', html) if not re.match(r"[a-z]+:|#", h)]
        stray = [h for h in local if not h.split("#")[0].endswith(".html")]
        assert all(h.startswith(("_static/", "_sources/")) for h in stray), f"{guide}: {stray}"


def _local_file(site: Path, url: str) -> Path:
    path = unquote(urlsplit(url).path).lstrip("/")
    return site / (path + "index.html" if path.endswith("/") or not path else path)


@pytest.mark.executed
@pytest.mark.parametrize("edition", EDITIONS)
def test_pages_load_with_figures_and_working_links(site, served, browser, edition):
    from playwright.sync_api import expect

    page, errors = _open(browser, served)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in ["index", *LABS, *GUIDES]:
        page.goto(f"{served}/{edition}/{name}.html")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.currentSrc || e.src, e.complete && e.naturalWidth])"
        )
        local = [(src, width) for src, width in images if src.startswith(served)]
        broken = [src for src, width in local if not width]
        assert not broken, f"{edition}/{name}: broken images {broken}"
        if name in LABS:
            figures = [src for src, width in local if "/_images/" in src and width]
            assert figures, f"{edition}/{name}: no rendered figure"
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            if not href.startswith(served):
                continue
            target = _local_file(site, href)
            assert target.is_file(), f"{edition}/{name}: link to a missing file: {href}"
            anchor = unquote(urlsplit(href).fragment)
            if anchor and target.suffix == ".html":
                assert f'id="{anchor}"' in target.read_text(encoding="utf-8"), (
                    f"{edition}/{name}: link to a missing anchor: {href}"
                )
        if edition == "students" and name == "index":
            page.screenshot(path=SCREENSHOTS / "students-home.png")
        if edition == "students" and name == LAB_3:
            # The rocket button's menu: Binder and Colab, as a student opens it.
            page.locator(".dropdown-launch-buttons button").first.click()
            menu = page.locator(".dropdown-launch-buttons .dropdown-menu")
            for launcher in ("Binder", "Colab"):
                expect(menu.get_by_text(launcher)).to_be_visible()
            page.screenshot(path=SCREENSHOTS / f"students-{name}.png")
            page.keyboard.press("Escape")
            page.locator("img[src^='_images/']").first.scroll_into_view_if_needed()
            page.screenshot(path=SCREENSHOTS / f"students-{name}-figure.png")
    assert not errors, "browser console errors:\n" + "\n".join(errors)
    page.context.close()


@pytest.mark.executed
def test_search_box_finds_lab_3_for_dropout(site, served, browser):
    from playwright.sync_api import expect

    page, errors = _open(browser, served)
    page.goto(f"{served}/students/index.html")
    page.locator("button.search-button-field:visible").first.click()
    field = page.locator("#pst-search-dialog input[name='q']")
    field.fill("dropout")
    field.press("Enter")
    page.wait_for_url("**/search.html?q=dropout*")
    found = page.locator(f"#search-results a[href*='{LAB_3}.html']")
    expect(found.first).to_be_visible(timeout=30_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "students-search-dropout.png")
    assert not errors, "browser console errors:\n" + "\n".join(errors)
    page.context.close()
