"""The manual (docs/) stays true: every YAML, JSON and Python example in it works, and every key,
placeholder, validator, command and setting the code has is documented. (The tutorial's commands
run in tests/acceptance/test_docs_tutorial.py; the SQL and backup examples in
tests/integration/test_docs_examples.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
import yaml

from app.cli import main
from app.services import catalog_schema
from app.services.catalog_schema import parse_config
from app.services.validators import BUILTIN

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def blocks(language: str, pages: list[Path] = PAGES) -> list[tuple[str, str]]:
    """(page name, text) of every fenced block of `language` (snippet includes excluded)."""
    found = []
    for page in pages:
        for text in re.findall(rf"^```{language}[^\n]*\n(.*?)^```", page.read_text(), re.S | re.M):
            if not text.startswith("--8<--"):
                found.append((page.name, text))
    return found


def page(name: str) -> str:
    return (DOCS / name).read_text()


def test_the_manual_lists_every_page_and_every_listed_page_exists():
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    listed = {next(iter(entry.values())) for entry in nav}
    assert listed == {p.name for p in PAGES}


@pytest.mark.parametrize("where, text", blocks("yaml"), ids=lambda v: v if v.endswith(".md") else "")
def test_every_yaml_example_is_a_valid_configuration(where, text):
    assert parse_config(text.replace("$HERE", str(DOCS / "tutorial")))["jobs"]


def test_the_tutorials_configuration_is_valid():
    assert {job["name"] for job in parse_config((DOCS / "tutorial" / "tutorial.yaml").read_text())["jobs"]} == {
        "summary", "standardise", "report"}


@pytest.mark.parametrize("where, text", blocks("json"), ids=lambda v: v if v.endswith(".md") else "")
def test_every_json_example_is_json(where, text):
    json.loads(text)


def test_the_python_validator_example_works():
    [(_, source)] = blocks("python", [DOCS / "validators.md"])
    namespace: dict = {}
    exec(compile(source, "validators.md", "exec"), namespace)  # noqa: S102 - our own documentation
    namespace["two_columns"](b"a,b\n1,2\n")
    with pytest.raises(ValueError, match="expected 2 columns, found 3"):
        namespace["two_columns"](b"a,b,c\n")


@pytest.mark.parametrize("schema", [
    catalog_schema.DocumentSchema, catalog_schema.BackendSchema, catalog_schema.TaskSchema,
    catalog_schema.ParameterSchema, catalog_schema.JobSchema, catalog_schema.InputSchema,
    catalog_schema.StepSchema, catalog_schema.ScheduleSchema,
])
def test_every_configuration_key_is_in_the_reference(schema):
    reference = page("configuration.md")
    missing = [key for key in schema().fields if f"`{key}`" not in reference]
    assert not missing, f"document {missing} in docs/configuration.md"


def test_every_placeholder_and_backend_option_is_in_the_reference():
    reference = page("configuration.md")
    for placeholder in ("$I1", "$O1", "$P1", "`$P`", "$VALUE", "$ID", "$TMP", "$HERE", "python_path"):
        assert placeholder in reference, placeholder


def test_every_builtin_validator_is_documented():
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", page("validators.md"), re.M))
    assert documented == set(BUILTIN)


def _commands(group: click.Group, prefix: str = "aa") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix} {name}")
        else:
            names.append(f"{prefix} {name}")
    return names


def test_every_command_is_documented():
    text = page("cli.md")
    missing = [command for command in _commands(main) if f"`{command}" not in text]
    assert not missing, f"document {missing} in docs/cli.md"


def test_every_setting_is_documented():
    settings = set(re.findall(r"\"(AA_[A-Z_]+)\"", (ROOT / "app" / "config.py").read_text()))
    text = page("operations.md")
    missing = sorted(name for name in settings if f"`{name}`" not in text)
    assert settings and not missing, f"document {missing} in docs/operations.md"
