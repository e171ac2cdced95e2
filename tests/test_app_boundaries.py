"""donations/ and mailing/ never import each other (docs/DESIGN.md): they meet only through the
events campaign/ defines. Every module of both apps (templatetags, commands and migrations
included) is parsed, and every template's {% load %}, {% include %} and {% extends %} read;
raw SQL is caught too: no string in one app's code names a table of the other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent
APPS = ("donations", "mailing")

# Calls that reach another app by a dotted name in a string rather than an import statement.
_BY_NAME = {"import_module", "__import__", "get_model", "ForeignKey", "OneToOneField"}
_BY_NAME |= {"ManyToManyField", "render_to_string", "get_template", "select_template"}
_LOAD = re.compile(r"{%\s*load\s+(.+?)\s*%}")
_TEMPLATE_REF = re.compile(r"""{%\s*(?:include|extends)\s+["']([^"']+)["']""")


def _names_reaching(other: str, tree: ast.AST) -> list[str]:
    """Where this module's code names the other app: imports (at any depth, TYPE_CHECKING
    blocks too) and string names handed to the calls above."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == other]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == other:
                found.append(node.module)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in _BY_NAME:
                continue
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    head = re.split(r"[./]", arg.value, maxsplit=1)[0]
                    if head == other:
                        found.append(f"{name}({arg.value!r})")
    return found


def python_offences(source: str, other: str) -> list[str]:
    return _names_reaching(other, ast.parse(source))


def _tables(app: str) -> set[str]:
    """The database tables of an app's models (many-to-many ones included)."""
    models = apps.get_app_config(app).get_models(include_auto_created=True)
    return {model._meta.db_table for model in models}


_SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A migration is history, run once: this one backfilled mailing's own copy of the gift figures
# from donations' rows when mailing got that copy. Code that runs every day may not.
ONE_TIME_BACKFILLS = {"mailing/migrations/0004_gift_amounts_and_reversals.py"}


def sql_offences(source: str, tables: set[str]) -> list[str]:
    """Tables of `tables` named in any string of the module (f-strings' text included), as a
    whole word: raw SQL reaching into the other app's rows, which no import scan sees."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [name for name in _SQL_NAME.findall(node.value) if name.lower() in tables]
    return found


def template_offences(text: str, other: str, other_libraries: set[str]) -> list[str]:
    found = []
    for match in _LOAD.finditer(text):
        words = match.group(1).split()
        libraries = words[words.index("from") + 1 :] if "from" in words else words
        found += [f"{{% load {lib} %}}" for lib in libraries if lib in other_libraries]
    found += [
        f"{{% include/extends {name!r} %}}"
        for name in _TEMPLATE_REF.findall(text)
        if name.split("/")[0] == other
    ]
    return found


def _tag_libraries(app: str) -> set[str]:
    folder = ROOT / app / "templatetags"
    return {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}


def _other(app: str) -> str:
    return next(a for a in APPS if a != app)


@pytest.mark.parametrize("app", APPS)
def test_no_module_of_one_app_imports_the_other(app: str) -> None:
    other = _other(app)
    modules = sorted((ROOT / app).rglob("*.py"))
    assert len(modules) > 10, "the scan must see the app's modules"
    offences = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules
        for name in python_offences(path.read_text(encoding="utf-8"), other)
    ]
    assert offences == [], f"{app}/ reaches into {other}/ (meet through campaign.events)"


@pytest.mark.parametrize("app", APPS)
def test_no_module_of_one_app_names_a_table_of_the_other(app: str) -> None:
    other = _other(app)
    tables = _tables(other)
    assert len(tables) > 5, "the scan must know the other app's tables"
    offences = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / app).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in ONE_TIME_BACKFILLS
        for name in sql_offences(path.read_text(encoding="utf-8"), tables)
    ]
    assert offences == [], f"{app}/ reads {other}/'s tables (meet through campaign.events)"


@pytest.mark.parametrize("app", APPS)
def test_no_template_of_one_app_loads_the_others_tags(app: str) -> None:
    other = _other(app)
    templates = sorted(p for p in (ROOT / app / "templates").rglob("*") if p.is_file())
    assert templates, "the scan must see the app's templates"
    libraries = _tag_libraries(other)
    offences = [
        f"{path.relative_to(ROOT)}: {found}"
        for path in templates
        for found in template_offences(path.read_text(encoding="utf-8"), other, libraries)
    ]
    assert offences == [], f"{app}/ templates reach into {other}/"


def test_the_scan_catches_every_way_in() -> None:
    """The scan itself can fail: each way of reaching the other app is flagged."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import donations.models\n"
        "from donations.templatetags.donations import euros\n"
        "if TYPE_CHECKING:\n"
        "    from donations import ledger\n"
        "def f():\n"
        "    import donations as d\n"
        "    apps.get_model('donations.Donation')\n"
        "    importlib.import_module('donations.signals')\n"
        "    render_to_string('donations/email/thanks.txt')\n"
        "import donations_extra\n"  # another name that only starts the same: not flagged
        "from campaign.money import euros\n"
    )
    assert len(python_offences(source, "donations")) == 7
    assert python_offences("from mailing import services\n", "donations") == []
    tables = _tables("mailing")
    sql = (
        'JOINS = """LEFT JOIN mailing_giftattribution ga ON ga.donation_id = d.id"""\n'
        'q = f"SELECT * FROM {x} JOIN Mailing_Message m ON true"\n'
        'note = "mailing_results and mailing_giftattribution_extra are not tables"\n'
    )
    assert sql_offences(sql, tables) == ["mailing_giftattribution", "Mailing_Message"]
    libraries = _tag_libraries("donations")
    assert "donations" in libraries
    text = (
        "{% load i18n donations %}{% load euros from donations %}{% load static %}"
        '{% include "donations/_gift.html" %}'
    )
    assert len(template_offences(text, "donations", libraries)) == 3
