"""The docs keep up with the code: every setting documented, every docs page a module names
exists, every link between pages resolves, every JSON API route of the contract described."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from inbox.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
API_PAGE = DOCS / "api.md"
# CONTRACT.md lives in shared/, beside the repository (CI clones main next to it).
CONTRACT_CANDIDATES = (ROOT / "CONTRACT.md", ROOT.parent / "shared" / "CONTRACT.md")
PACKAGES = ("inbox", "web", "channels", "shortcuts")

DOC_REFERENCE = re.compile(r"docs/[\w./-]+\.md")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def env_name(name: str, field: FieldInfo) -> str:
    """The environment variable pydantic-settings reads for one field."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        if isinstance(first, str):
            return first
    return f"{Settings.model_config.get('env_prefix', '')}{name}".upper()


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented_by_its_environment_variable(field: str) -> None:
    variable = env_name(field, Settings.model_fields[field])
    text = CONFIGURATION.read_text(encoding="utf-8")
    assert f"`{variable}`" in text, (
        f"Settings.{field} is read from {variable}, which docs/configuration.md does not "
        "document: add a row with its default and meaning"
    )


def test_settings_with_their_own_names_are_documented_by_those_names() -> None:
    # DATABASE_URL and REDIS_URL are read without the HANDOFF_ prefix; the page must say so.
    assert env_name("database_url", Settings.model_fields["database_url"]) == "DATABASE_URL"
    assert env_name("redis_url", Settings.model_fields["redis_url"]) == "REDIS_URL"
    assert env_name("secret_key", Settings.model_fields["secret_key"]) == "HANDOFF_SECRET_KEY"


def module_doc_references() -> list[tuple[str, str]]:
    """(module path, docs page) for every docs/*.md named in a module's opening docstring."""
    found: list[tuple[str, str]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            for page in DOC_REFERENCE.findall(docstring or ""):
                found.append((path.relative_to(ROOT).as_posix(), page))
    return found


def test_module_docstrings_point_at_pages_that_exist() -> None:
    references = module_doc_references()
    assert ("inbox/access.py", "docs/concepts/access.md") in references, (
        "found no docs/ references in module docstrings: the collector is broken"
    )
    missing = [f"{module} -> {page}" for module, page in references if not (ROOT / page).is_file()]
    assert not missing, "module docstrings name docs pages that do not exist:\n" + "\n".join(
        missing
    )


def test_links_between_docs_pages_resolve() -> None:
    broken: list[str] = []
    for page in sorted(DOCS.rglob("*.md")):
        for target in MARKDOWN_LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # another site, or a heading on the same page
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT).as_posix()} -> {target}")
    assert not broken, "links to docs pages that do not exist:\n" + "\n".join(broken)


def contract_api_paths(contract: str) -> list[str]:
    """The paths in the first column of CONTRACT.md's JSON API table, e.g. `/teams/{id}`."""
    _, found, rest = contract.partition("\n## JSON API")
    assert found, "CONTRACT.md has no '## JSON API' section"
    section = rest.split("\n## ", 1)[0]
    paths: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        for code in re.findall(r"`([^`]+)`", first_cell):
            _methods, _, path = code.partition(" ")
            if path.startswith("/"):
                paths.add(path)
    return sorted(paths)


def path_pattern(path: str) -> re.Pattern[str]:
    """`/teams/{id}` under any parameter name, and not as the start of a longer path."""
    parts = re.split(r"\{[^}/]+\}", path)
    body = r"\{[^}/]+\}".join(re.escape(part) for part in parts)
    return re.compile(body + r"(?![\w{/-])")


def test_every_json_api_route_in_the_contract_is_in_the_api_page() -> None:
    if not API_PAGE.is_file():
        pytest.skip("docs/api.md is not written yet")
    contract = next((p for p in CONTRACT_CANDIDATES if p.is_file()), None)
    if contract is None:
        pytest.skip("CONTRACT.md is not beside the repository (expected in ../shared/)")
    paths = contract_api_paths(contract.read_text(encoding="utf-8"))
    assert "/conversations/{id}/messages" in paths, "the contract's table was not read"
    text = API_PAGE.read_text(encoding="utf-8")
    missing = [path for path in paths if not path_pattern(path).search(text)]
    assert not missing, "docs/api.md does not describe: " + ", ".join(missing)


def test_path_pattern_tells_a_route_from_a_longer_one() -> None:
    teams = path_pattern("/teams")
    assert teams.search("`GET /api/v1/teams`")
    assert not teams.search("`GET /teams/{id}`")
    assert path_pattern("/teams/{id}").search("PATCH /api/v1/teams/{team_id} changes it")
    assert not path_pattern("/conversations/{id}").search("/conversations/{id}/messages")
