"""Docs that cannot drift from the code.

- every setting of ``imgsvc.config.Defaults`` has a row in docs/configuration.md,
  and every variable documented there is read by the code;
- every error code the service can answer with is in docs/api.md's error table;
- every route of the app is in docs/api.md's route table, and every route
  documented there is served;
- every relative link of the docs points at a file that exists, and every
  ``#anchor`` at a heading that exists;
- every path of the repository the docs name in code (```imgsvc/images/record.py```)
  exists, and the module map in docs/architecture.md lists every module;
- README.md stays under 200 lines (detail belongs in docs/).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from pathlib import Path

import pytest

import imgsvc
from imgsvc import config, errors
from imgsvc.web import errors as web_errors

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINKED_FILES = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    ROOT / "BENCHMARKS.md",
    ROOT / "CHANGELOG.md",
    *sorted(DOCS.glob("*.md")),
]

# Routes the API doc leaves out, and why:
UNDOCUMENTED_ROUTES = {
    # Flask's own static files (CSS, scripts, icons the pages load): assets, not an API.
    "/static/<path:filename>",
    # The front's internal error page: nginx asks for it (error_page) to have the app
    # render its own 413/429 refusals; clients never call it (see docs/front.md).
    "/_front/refused/<int:status>",
}
# Modules that do more than define things when imported.
NOT_IMPORTED = {"imgsvc.__main__", "imgsvc.wsgi"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _without_code(text: str) -> str:
    """``text`` with fenced code blocks and inline code spans blanked out."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "``", text)


def _tables(text: str) -> list[list[list[str]]]:
    """Every markdown table of ``text`` (outside code blocks), as rows of cells."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            # Split on pipes that are not escaped (``\|`` inside a cell).
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _table(path: Path, first_header: str) -> list[list[str]]:
    """The rows (header excluded) of the table in ``path`` whose first header is given."""
    found = [t for t in _tables(path.read_text()) if t[0][0].strip().lower() == first_header]
    assert found, f"{path.relative_to(ROOT)} has no table with the header {first_header!r}"
    return [row for table in found for row in table[1:]]


def _code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# -- settings ---------------------------------------------------------------


def _setting_names() -> set[str]:
    names = {name for name in dir(config.Defaults) if name.isupper()}
    for klass in config.Defaults.__mro__:
        names |= {name for name in getattr(klass, "__annotations__", {}) if name.isupper()}
    return names


def _documented_variables() -> set[str]:
    rows = _table(DOCS / "configuration.md", "variable")
    return {span for row in rows for span in _code_spans(row[0])}


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = _documented_variables()
    expected = {"PORT" if name == "PORT" else f"IMGSVC_{name}" for name in _setting_names()}
    missing = sorted(expected - documented)
    assert not missing, (
        f"settings of imgsvc.config.Defaults missing from docs/configuration.md's table: {missing}"
    )


def test_every_documented_imgsvc_variable_is_read_by_the_code() -> None:
    settings = _setting_names()
    source = "\n".join(path.read_text() for path in (ROOT / "imgsvc").rglob("*.py"))
    unknown = sorted(
        name
        for name in _documented_variables()
        if name.startswith("IMGSVC_")
        and name.removeprefix("IMGSVC_") not in settings
        and name not in source
    )
    assert not unknown, f"docs/configuration.md documents variables the code never reads: {unknown}"


# -- error codes ------------------------------------------------------------


def _subclasses(klass: type) -> list[type]:
    found = [klass]
    for sub in klass.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def _error_codes() -> set[str]:
    # Subclasses live beside their use too (``web/ops.py``'s ``Unauthorized``): import all.
    for module in pkgutil.walk_packages(imgsvc.__path__, "imgsvc."):
        if module.name not in NOT_IMPORTED:
            importlib.import_module(module.name)
    codes = {klass.code for klass in _subclasses(errors.ImgsvcError)}
    # Werkzeug's own errors get their code at runtime (imgsvc/web/errors.py).
    codes |= set(web_errors._HTTP_CODES.values()) | {"http_error"}
    return codes


def test_every_error_code_is_in_the_api_error_table() -> None:
    rows = _table(DOCS / "api.md", "code")
    documented = {span for row in rows for span in _code_spans(row[0])}
    missing = sorted(_error_codes() - documented)
    assert not missing, f"error codes missing from docs/api.md's error table: {missing}"


# -- routes -----------------------------------------------------------------


@pytest.fixture
def url_map(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The app's routes; nothing is connected (Redis and storage clients are lazy)."""
    monkeypatch.setenv("IMGSVC_STORAGE_URL", "file://" + str(tmp_path / "media"))
    from imgsvc import create_app

    return create_app({"TESTING": True}).url_map


def _route_rows() -> list[str]:
    """``METHOD /path`` of every row of docs/api.md's route table."""
    rows = _table(DOCS / "api.md", "route")
    routes = []
    for row in rows:
        for span in _code_spans(row[0]):
            if span.split(" ", 1)[0] in METHODS:
                routes.append(span)
    return routes


def test_every_route_is_in_the_api_doc(url_map) -> None:
    documented = set(_route_rows())
    missing = []
    for rule in url_map.iter_rules():
        if rule.rule in UNDOCUMENTED_ROUTES:
            continue
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            if f"{method} {rule.rule}" not in documented:
                missing.append(f"{method} {rule.rule}")
    assert not missing, f"routes missing from docs/api.md's route table: {missing}"


def test_every_documented_route_is_served(url_map) -> None:
    adapter = url_map.bind("localhost")
    unserved = []
    for route in _route_rows():
        method, path = route.split(" ", 1)
        sample = re.sub(r"<int:[^>]+>", "413", path)
        sample = re.sub(r"<[^>]+>", "x1", sample)
        try:
            adapter.match(sample, method=method)
        except Exception:
            unserved.append(route)
    assert not unserved, f"docs/api.md documents routes the app does not serve: {unserved}"


# -- module map -------------------------------------------------------------


def _module_map() -> dict[str, str]:
    """The paths listed in docs/architecture.md's module map (a tree, two spaces a
    level), each with what the map says it holds."""
    text = (DOCS / "architecture.md").read_text()
    block = re.search(r"^## Module map\n.*?^```\n(.*?)^```", text, flags=re.S | re.M)
    assert block, "docs/architecture.md has no module map (a code block under '## Module map')"
    listed: dict[str, str] = {}
    stack: list[str] = []
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name, _, says = line.strip().partition(" ")
        stack[depth:] = [name.rstrip("/")]
        listed["/".join(stack)] = says.strip()
    return listed


def test_the_module_map_lists_every_module() -> None:
    listed = _module_map()
    modules = {str(path.relative_to(ROOT)) for path in (ROOT / "imgsvc").rglob("*.py")}
    missing = sorted(modules - set(listed))
    assert not missing, f"modules missing from docs/architecture.md's module map: {missing}"
    gone = sorted(path for path in listed if not (ROOT / path).exists())
    assert not gone, f"docs/architecture.md's module map lists what does not exist: {gone}"
    packages = {str(path.parent.relative_to(ROOT)) for path in (ROOT / "imgsvc").rglob("*.py")}
    unsaid = sorted(path for path in modules | packages if path != "imgsvc" and not listed[path])
    assert not unsaid, f"the module map does not say what these hold: {unsaid}"


# The README is the front page: what it is, the two commands, the two flows, the API
# at a glance, links (issue 19). Anything longer goes in docs/.
README_MAX_LINES = 200
# Top-level folders whose paths the docs name in code spans.
REPO_FOLDERS = ("imgsvc/", "tests/", "benchmarks/", "docs/", "scripts/")
# CHANGELOG.md names paths as they were when each entry was written.
HISTORICAL = {ROOT / "CHANGELOG.md"}


def test_the_readme_stays_under_its_length() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines < README_MAX_LINES, f"README.md has {lines} lines: move detail to docs/"


def _named_paths(text: str) -> set[str]:
    """Repository paths named in ``text``'s code spans (``imgsvc/…``, ``tests/…``),
    without a test id's ``::name``; templates (``<flow>``) left out."""
    spans = re.findall(r"`([^`\n]+)`", text)
    named = set()
    for span in spans:
        for word in span.split():
            word = word.split("::")[0].rstrip(".,:;)")
            if word.startswith(REPO_FOLDERS) and not re.search(r"[<>*{}$]", word):
                named.add(word)
    return named


@pytest.mark.parametrize(
    "doc",
    [doc for doc in LINKED_FILES if doc not in HISTORICAL],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_paths_named_in_the_docs_exist(doc: Path) -> None:
    gone = sorted(name for name in _named_paths(doc.read_text()) if not (ROOT / name).exists())
    assert not gone, f"{doc.relative_to(ROOT)} names paths that do not exist: {gone}"


def test_the_named_paths_are_found() -> None:
    text = (
        "the job (`imgsvc/images/tasks.py`, `tests/images/test_tasks.py::test_twice`),\n"
        "`imgsvc/<flow>/tasks.py`, `make run`, `.venv/bin/pytest tests/web/test_api.py`"
    )
    assert _named_paths(text) == {
        "imgsvc/images/tasks.py",
        "tests/images/test_tasks.py",
        "tests/web/test_api.py",
    }
    assert len(_named_paths((ROOT / "README.md").read_text())) > 10  # the flows name files


# -- links ------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", path.read_text(), flags=re.S | re.M)
    seen: dict[str, int] = {}
    anchors = set()
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M):
        slug = _slug(match.group(1))
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return anchors


def _links(path: Path) -> list[str]:
    text = _without_code(path.read_text())
    return re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)


@pytest.mark.parametrize("doc", LINKED_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_what_exists(doc: Path) -> None:
    broken = []
    for link in _links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link, flags=re.I):  # https:, mailto:, …
            continue
        target_part, _, anchor = link.partition("#")
        target = (doc.parent / target_part).resolve() if target_part else doc
        if not target.exists():
            broken.append(f"{link} (no such file)")
            continue
        if anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{link} (no such heading)")
    assert not broken, f"broken links in {doc.relative_to(ROOT)}: {broken}"


def test_the_slugs_are_githubs() -> None:
    assert _slug("Operations: scaling workers") == "operations-scaling-workers"
    assert _slug("`make run`: what it starts") == "make-run-what-it-starts"
    assert _slug("Web and workers on one machine") == "web-and-workers-on-one-machine"
    assert _slug("Scaling past one machine (S3, Redis)") == "scaling-past-one-machine-s3-redis"
