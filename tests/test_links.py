"""Badges and links resolve to files in this repository, and all name the same repository.

The README, the guides in docs/ and the notebooks are checked alike. Colab, Binder and GitHub
URLs are mapped to the repository path they open; relative links are resolved from the file that
holds them, and a link to a section must find its heading (JupyterLab's anchors in notebooks,
GitHub's in Markdown files). Links to other sites are not followed (no network). The end of each
lab links to the next lab, and the last lab says where to go next.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
STUDENT = sorted((ROOT / "notebooks" / "student").glob("*.ipynb"))
GUIDES = sorted((ROOT / "docs").glob("*.md"))
BRANCH = "main"
# [text](target) and the outer link of a badge, [![alt](image)](target)
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def repository() -> str:
    """``owner/name`` of the repository, from ``[project.urls]`` in pyproject.toml."""
    match = re.search(
        r'^Repository = "https://github\.com/([\w.-]+/[\w.-]+)"$',
        (ROOT / "pyproject.toml").read_text(),
        re.M,
    )
    assert match, "pyproject.toml should name the repository under [project.urls]"
    return match.group(1)


def markdown_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    return path.read_text()


# host -> (path prefix of links into a repository, their pattern)
REPOSITORY_LINKS = {
    "colab.research.google.com": (
        "/github/",
        r"/github/(?P<repo>[^/]+/[^/]+)/blob/(?P<ref>[^/]+)/(?P<path>.+)",
    ),
    "github.com": ("/", r"/(?P<repo>[^/]+/[^/]+)(?:/(?:blob|tree)/(?P<ref>[^/]+)/(?P<path>.+))?"),
    "mybinder.org": ("/v2/", r"/v2/gh/(?P<repo>[^/]+/[^/]+)/(?P<ref>[^/]+)"),
}


def repo_path(url: str, where: Path) -> str | None:
    """The repository path a link opens, or None for a link to another site."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file") and not parts.netloc:
        if not parts.path:  # an anchor in the same file
            return where.relative_to(ROOT).as_posix()
        resolved = (where.parent / unquote(parts.path)).resolve()
        return resolved.relative_to(ROOT.resolve()).as_posix()
    host, path = parts.netloc, parts.path.rstrip("/")
    if host not in REPOSITORY_LINKS or not path.startswith(REPOSITORY_LINKS[host][0]):
        return None  # another site, or an asset such as a badge image
    match = re.fullmatch(REPOSITORY_LINKS[host][1], path)
    assert match, f"{url} in {where.name} is not a link into a repository"
    assert match["repo"] == repository(), f"{url} in {where.name} names {match['repo']}"
    assert match["ref"] in (None, BRANCH), f"{url} in {where.name} is not on branch {BRANCH}"
    if host == "mybinder.org":
        query = parse_qs(parts.query)
        if "labpath" in query:
            return query["labpath"][0]
        urlpath = query.get("urlpath", ["lab/tree/"])[0]
        assert urlpath.startswith("lab/tree/"), f"{url}: Binder should open JupyterLab"
        return urlpath.removeprefix("lab/tree/") or "."
    return unquote(match["path"] or ".")


def links(path: Path) -> list[str]:
    return [url for url in LINK.findall(markdown_of(path)) if not url.startswith("mailto:")]


FILES = [ROOT / "README.md", *GUIDES, *SOURCES, *STUDENT]


def test_there_are_links_to_check():
    assert SOURCES, "no notebooks in notebooks/"
    assert GUIDES, "no guides in docs/"
    for path in [ROOT / "README.md", *GUIDES]:
        assert any(repo_path(url, path) for url in links(path)), f"{path.name} links nowhere here"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_resolves_to_a_file_in_the_repository(path):
    missing = []
    for url in links(path):
        target = repo_path(url, path)
        if target is not None and not (ROOT / target).exists():
            missing.append(f"{url} -> {target}")
    assert not missing, f"links in {path.name} to files that do not exist:\n" + "\n".join(missing)


def heading_anchors(path: Path) -> set[str]:
    """The anchors of a file's headings: JupyterLab's in a notebook (the text, spaces as
    hyphens), GitHub's in a Markdown file (lower case, punctuation dropped; the website's are
    the same)."""
    anchors, fenced = set(), False
    for line in markdown_of(path).splitlines():
        fenced ^= line.lstrip().startswith("```")  # a bash comment is no heading
        if re.match(r"#{1,6} ", line) and not fenced:
            text = re.sub(r"[`*]", "", line.lstrip("#").strip())
            if path.suffix == ".md":
                text = re.sub(r"[^\w\- ]", "", text.lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_to_a_section_finds_its_heading(path):
    broken = []
    for url in links(path):
        parts = urlsplit(url)
        if parts.netloc or not parts.fragment:
            continue
        target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if target.suffix not in (".ipynb", ".md"):
            continue
        if unquote(parts.fragment) not in heading_anchors(target):
            broken.append(url)
    assert not broken, f"links in {path.name} to sections that do not exist: {broken}"


@pytest.mark.parametrize("path", SOURCES + STUDENT, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_badges_open_this_very_notebook(path):
    nb = nbformat.read(path, as_version=4)
    badges = [url for url in LINK.findall(nb.cells[0].source) if "colab" in url or "binder" in url]
    here = path.relative_to(ROOT).as_posix()
    hosts = sorted(urlsplit(url).netloc for url in badges if repo_path(url, path) == here)
    assert hosts == ["colab.research.google.com", "mybinder.org"], (
        f"{here} should have one Colab and one Binder badge that open {here}, found {badges}"
    )


def test_readme_names_the_repository():
    readme = (ROOT / "README.md").read_text()
    clone = re.search(r"git clone https://github\.com/([\w.-]+/[\w.-]+)", readme)
    assert clone and clone.group(1) == repository()


def test_links_to_the_website_open_its_pages():
    """GitHub Pages serves the repository's site at owner.github.io/name/: its home page, a page
    per lab and one per guide. The README links to it."""
    owner, name = repository().split("/")
    site = f"https://{owner}.github.io/{name}/"
    assert site in links(ROOT / "README.md"), f"the README should link to the website, {site}"
    pages = {path.stem for path in [*SOURCES, *GUIDES] if path.stem != "index"}
    for path in [ROOT / "README.md", *GUIDES]:
        for url in [url for url in links(path) if ".github.io/" in url]:
            assert url.startswith(site), f"{url} in {path.name} is not on {site}"
            page = url.removeprefix(site).split("#")[0]
            assert page in ("", "index.html") or page.removesuffix(".html") in pages, (
                f"{url} in {path.name}: the site has no such page"
            )


def lab_ending(path: Path) -> str:
    """The markdown after a lab's last code cell: its summary and where to go next."""
    cells = nbformat.read(path, as_version=4).cells
    last_code = max(i for i, cell in enumerate(cells) if cell.cell_type == "code")
    return "\n".join(cell.source for cell in cells[last_code + 1 :] if cell.cell_type == "markdown")


@pytest.mark.parametrize(
    "path, following",
    [(labs[i], labs[i + 1]) for labs in (SOURCES, STUDENT) for i in range(len(labs) - 1)],
    ids=lambda p: p.relative_to(ROOT).as_posix() if isinstance(p, Path) else None,
)
def test_every_lab_but_the_last_links_to_the_next(path, following):
    """'Next, in Lab N' is a relative link to the next lab's file, so it works in JupyterLab,
    on GitHub and in notebooks/student/ alike (the student versions keep the same names)."""
    targets = {urlsplit(url).path for url in LINK.findall(lab_ending(path))}
    assert following.name in targets, (
        f"the end of {path.name} should link to the next lab as [Lab N]({following.name}); "
        f"it links to {sorted(targets) or 'nothing'}"
    )


@pytest.mark.parametrize(
    "path", [SOURCES[-1], STUDENT[-1]], ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_the_last_lab_says_where_to_go_next(path):
    ending = lab_ending(path)
    assert re.search(r"^## Where next$", ending, re.M), f"{path.name} needs a '## Where next'"
    assert [url for url in LINK.findall(ending) if urlsplit(url).netloc], (
        f"the 'Where next' of {path.name} should link to where to learn more"
    )
