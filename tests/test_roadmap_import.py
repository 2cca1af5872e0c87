"""Roadmap import and export: JSON and CSV, idempotent, all-or-nothing, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kldialog.kernel.db import db
from kldialog.projects import reading, roadmap_io, roadmap_parse, rules
from kldialog.projects.models import (
    Category,
    DatePrecision,
    Project,
    ProjectStatusChange,
    ProjectUpdate,
    Status,
)

from .conftest import BUNDLED_ROADMAP

SHARED_ROADMAP = (
    Path(__file__).resolve().parents[2] / "shared/data/roadmap-kaiserslautern-2019.json"
)


def counts() -> tuple[int, int, int, int]:
    """Return the number of categories, projects, history entries and updates."""
    return tuple(  # type: ignore[return-value]
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Category, Project, ProjectStatusChange, ProjectUpdate)
    )


def write(tmp_path: Path, name: str, content: str | dict) -> Path:
    """Write a file for the CLI to read."""
    path = tmp_path / name
    if isinstance(content, dict):
        content = json.dumps(content, ensure_ascii=False)
    path.write_text(content, encoding="utf-8")
    return path


def test_bundled_roadmap_matches_the_letter(ctx: Flask) -> None:
    report = roadmap_io.import_roadmap(
        roadmap_parse.parse_roadmap_json(json.loads(BUNDLED_ROADMAP.read_text("utf-8")))
    )
    assert (report.created, report.categories_created) == (25, 12)
    overview = reading.roadmap_overview()
    assert overview.total == 25
    assert overview.by_status == {Status.in_progress: 11, Status.planned: 9, Status.completed: 5}
    assert [c.name for c, _ in overview.by_category][:3] == [
        "Bildung",
        "Datenplattform",
        "Energie & Umwelt",
    ]
    handy = reading.get_project_by_slug("handyparken")
    assert handy.status is Status.completed and handy.is_category_editorial
    assert handy.summary.startswith("Parktickets per Smartphone-App")
    assert handy.progress is None  # the letter gives no percentage; we invent none
    (entry,) = reading.project_history(handy)
    assert entry.changed_on.isoformat() == "2019-06-01" and entry.precision is DatePrecision.month
    assert entry.old_status is None and "Stand Juni 2019" in entry.reason


@pytest.mark.skipif(not SHARED_ROADMAP.exists(), reason="shared/ is beside the repo only on CI")
def test_bundled_roadmap_has_the_same_projects_as_the_shared_facts() -> None:
    shared = json.loads(SHARED_ROADMAP.read_text("utf-8"))
    bundled = json.loads(BUNDLED_ROADMAP.read_text("utf-8"))
    assert bundled["projects"] == shared["projects"]
    assert bundled["categories"] == shared["categories"]


def test_import_is_idempotent_and_reimport_records_status_changes(
    runner: FlaskCliRunner, ctx: Flask, tmp_path: Path
) -> None:
    result = runner.invoke(args=["roadmap", "import", str(BUNDLED_ROADMAP)])
    assert result.exit_code == 0, result.output
    assert "25 created" in result.output
    before = counts()
    result = runner.invoke(args=["roadmap", "import", str(BUNDLED_ROADMAP)])
    assert "0 created, 0 updated, 25 unchanged" in result.output
    assert counts() == before

    data = json.loads(BUNDLED_ROADMAP.read_text("utf-8"))
    data["as_of"] = "2026-11-20"
    data["projects"][0]["status"] = "completed"
    data["projects"][0]["status_reason"] = "Kurse laufen regulär"
    data["projects"][0]["department"] = "Referat Schulen"
    result = runner.invoke(args=["roadmap", "import", str(write(tmp_path, "r.json", data))])
    assert "0 created, 1 updated, 24 unchanged" in result.output
    db.session.expire_all()
    project = reading.get_project_by_slug("steigerung-digitaler-kompetenz-erwachsener")
    assert project.status is Status.completed and project.department == "Referat Schulen"
    assert project.status_changed_on.isoformat() == "2026-11-20"
    latest, first = reading.project_history(project)
    assert (latest.old_status, latest.new_status) == (Status.in_progress, Status.completed)
    assert latest.reason == "Kurse laufen regulär" and latest.precision is DatePrecision.day
    assert first.new_status is Status.in_progress


def test_json_export_imports_back_to_the_same_roadmap(
    runner: FlaskCliRunner, app_factory, tmp_path: Path
) -> None:
    source = app_factory()
    with source.app_context():
        runner = source.test_cli_runner()
        runner.invoke(args=["roadmap", "import", str(BUNDLED_ROADMAP)])
        project = reading.get_project_by_slug("handyparken")
        db.session.add(
            ProjectUpdate(
                project=project,
                published_on=roadmap_parse.parse_as_of("2026-01-15")[0],
                title="Neue App-Version",
                body="Jetzt auch mit Tagestickets.\n\nZweiter Absatz.",
                author="Referat Mobilität",
            )
        )
        project.progress = 100
        db.session.commit()
        out = tmp_path / "export.json"
        result = runner.invoke(args=["roadmap", "export", "--output", str(out)])
        assert result.exit_code == 0, result.output
        first = json.loads(out.read_text("utf-8"))
        db.session.remove()
        db.drop_all()
        db.create_all()
        result = runner.invoke(args=["roadmap", "import", str(out)])
        assert "25 created" in result.output
        again = roadmap_io.export_roadmap_json()
    assert again == first
    exported = {p["slug"]: p for p in first["projects"]}
    assert exported["handyparken"]["updates"][0]["title"] == "Neue App-Version"
    assert exported["handyparken"]["history"][0]["date"] == "2019-06"


def test_csv_export_round_trips_and_defuses_formulas(ctx: Flask, runner: FlaskCliRunner) -> None:
    roadmap_io.import_roadmap(
        roadmap_parse.parse_roadmap_json(json.loads(BUNDLED_ROADMAP.read_text()))
    )
    project = reading.get_project_by_slug("handyparken")
    project.summary = '=HYPERLINK("x")'
    project.department = '-Referat, mit Komma; und "Zitat"'
    db.session.commit()
    text = runner.invoke(args=["roadmap", "export", "--format", "csv"]).output
    assert text.splitlines()[0] == ",".join(roadmap_parse.CSV_COLUMNS)
    assert "'=HYPERLINK" in text  # a spreadsheet shows text, it does not run a formula
    parsed = roadmap_parse.parse_roadmap_csv(text)
    by_slug = {record.slug: record for record in parsed.projects}
    assert by_slug["handyparken"].summary == '=HYPERLINK("x")'
    assert by_slug["handyparken"].department == '-Referat, mit Komma; und "Zitat"'
    assert roadmap_io.import_roadmap(parsed).unchanged == 25


def test_csv_with_semicolons_bom_german_labels_and_blank_lines(ctx: Flask) -> None:
    text = (
        "\ufefftitle;category;status;progress;category_inferred\n"
        "Bürgerkonto;Verwaltung;in Umsetzung;40 %;ja\n"
        ";;;;\n"
        "Smarte Ampeln;Verkehr & Mobilität;abgeschlossen;;\n"
    )
    report = roadmap_io.import_roadmap(roadmap_parse.parse_roadmap_csv(text, as_of="2026-10"))
    assert report.created == 2
    project = reading.get_project_by_slug("buergerkonto")
    assert (project.status, project.progress, project.is_category_editorial) == (
        Status.in_progress,
        40,
        True,
    )
    assert project.status_precision is DatePrecision.month


BROKEN_JSON = [
    ("{not json", ["line 1, column 2: invalid JSON"]),
    ("[]", ["must contain a JSON object"]),
    ('{"projects": {}}', ["field 'projects': must be a list"]),
    ('{"projects": [1]}', ["project 1: must be an object"]),
    (
        '{"projects": [{"title": "", "category": "A", "status": "planned"}]}',
        ["project 1, field 'title': must not be empty"],
    ),
    (
        '{"projects": [{"title": "T", "category": "A", "status": "done"}]}',
        ["project 1 ('T'), field 'status': unknown status 'done'"],
    ),
    (
        '{"projects": [{"title": "T", "category": "A", "status": "planned", "progress": 101}]}',
        ["field 'progress'"],
    ),
    (
        '{"projects": [{"title": "T", "category": "A", "status": "planned", "progress": true}]}',
        ["field 'progress'"],
    ),
    (
        '{"projects": [{"title": "T", "category": "A", "status": "planned", "progress": 2.5}]}',
        ["field 'progress'"],
    ),
    (
        '{"projects": [{"title": 5, "category": "A", "status": "planned"}]}',
        ["field 'title': must be text, not int"],
    ),
    (
        '{"projects": [{"title": "T", "category": "A", "status": "planned", "slug": "Not A Slug"}]}',
        ["field 'slug'"],
    ),
    (
        '{"projects": [{"title": "T", "category": "A", "status": "planned"}, {"title": "T", "category": "B", "status": "planned"}]}',
        ["project 2 ('T'), field 'slug': 't' is already used by project 1 ('T')"],
    ),
    ('{"as_of": "Juni 2019", "projects": []}', ["file, field 'as_of': invalid date"]),
    ('{"as_of": "2019-13", "projects": []}', ["file, field 'as_of': invalid date"]),
    (
        '{"projects": [{"title": "%s", "category": "A", "status": "planned"}]}' % ("x" * 301),
        ["at most 300"],
    ),
    (
        '{"projects": [{"title": "T", "category": "A", "status": "planned", "history": [{"date": "2020-01-01", "new_status": "planned", "old_status": "planned"}]}]}',
        ["history entry 1: old_status and new_status are the same"],
    ),
    (
        '{"projects": [{"title": "T", "category": "A", "status": "planned", "updates": [{"date": "2020-01-01"}]}]}',
        ["update 1, field 'title': is required"],
    ),
    ('{"projects": [{"title": "T\\u0000", "category": "A", "status": "planned"}]}', ["NUL"]),
]


@pytest.mark.parametrize(("content", "messages"), BROKEN_JSON)
def test_broken_json_files_change_nothing_and_name_record_and_field(
    runner: FlaskCliRunner, ctx: Flask, tmp_path: Path, content: str, messages: list[str]
) -> None:
    roadmap_io.import_roadmap(
        roadmap_parse.parse_roadmap_json(json.loads(BUNDLED_ROADMAP.read_text()))
    )
    before = counts()
    result = runner.invoke(args=["roadmap", "import", str(write(tmp_path, "bad.json", content))])
    assert result.exit_code != 0
    assert "nothing was imported" in result.output
    for message in messages:
        assert message in result.output
    assert counts() == before


BROKEN_CSV = [
    (
        "name,category,status\nX,A,planned\n",
        "line 1 (header): missing column(s) title; unknown column(s) name",
    ),
    ("title,category,status\nX,A,planned,extra\n", "line 2: more values than columns"),
    (
        "title,category,status\nX,A,planned\nY,,planned\n",
        "line 3 ('Y'), field 'category': must not be empty",
    ),
    ("title,category,status,progress\nX,A,planned,viel\n", "line 2 ('X'), field 'progress'"),
    ('title,category,status\n"X,A,planned\n', "line"),
]


@pytest.mark.parametrize(("content", "message"), BROKEN_CSV)
def test_broken_csv_files_change_nothing_and_name_line_and_field(
    runner: FlaskCliRunner, ctx: Flask, tmp_path: Path, content: str, message: str
) -> None:
    result = runner.invoke(args=["roadmap", "import", str(write(tmp_path, "bad.csv", content))])
    assert result.exit_code != 0
    assert message in result.output
    assert counts() == (0, 0, 0, 0)


def test_one_bad_record_among_good_ones_imports_nothing(
    runner: FlaskCliRunner, ctx: Flask, tmp_path: Path
) -> None:
    data = json.loads(BUNDLED_ROADMAP.read_text("utf-8"))
    data["projects"][20]["status"] = "fertig"
    result = runner.invoke(args=["roadmap", "import", str(write(tmp_path, "r.json", data))])
    assert (
        "project 21 ('Selbstbedienungsterminal im Bürgercenter'), field 'status'" in result.output
    )
    assert counts() == (0, 0, 0, 0)


def test_database_failure_midway_rolls_back_everything(ctx: Flask, monkeypatch) -> None:
    parsed = roadmap_parse.parse_roadmap_json(json.loads(BUNDLED_ROADMAP.read_text("utf-8")))
    calls = {"n": 0}
    original = roadmap_io._create_project

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 10:
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))
        return original(*args, **kwargs)

    monkeypatch.setattr(roadmap_io, "_create_project", failing)
    with pytest.raises(sa.exc.OperationalError):
        roadmap_io.import_roadmap(parsed)
    assert counts() == (0, 0, 0, 0)


def test_non_utf8_file_gets_a_clear_message(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("title,category,status\nMärkte,Handel,planned\n".encode("latin-1"))
    result = runner.invoke(args=["roadmap", "import", str(path)])
    assert result.exit_code != 0 and "not UTF-8" in result.output


def test_dry_run_checks_but_writes_nothing(runner: FlaskCliRunner, ctx: Flask) -> None:
    result = runner.invoke(args=["roadmap", "import", "--dry-run", str(BUNDLED_ROADMAP)])
    assert "valid, 25 project(s); nothing changed" in result.output
    assert counts() == (0, 0, 0, 0)


def test_demo_load_refuses_outside_demo_mode_and_loads_once(app_factory) -> None:
    production_like = app_factory()
    result = production_like.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code != 0 and "never in production" in result.output


def test_demo_load_loads_the_roadmap_once(app_factory) -> None:
    app = app_factory(DEMO=True)
    runner = app.test_cli_runner()
    assert (
        "loaded the Kaiserslautern roadmap (25 projects)"
        in runner.invoke(args=["demo", "load"]).output
    )
    assert "already loaded" in runner.invoke(args=["demo", "load"]).output
    with app.app_context():
        assert counts()[1] == 25


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Verkehr & Mobilität", "verkehr-mobilitaet"),
        (
            "Letzte Meile im ÖPNV: Teil-Autonomer Zubringerdienst",
            "letzte-meile-im-oepnv-teil-autonomer-zubringerdienst",
        ),
        ("Straße", "strasse"),
        ("  --Café--  ", "cafe"),
        ("日本", ""),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert rules.slugify(title) == slug


def test_title_without_latin_letters_needs_an_explicit_slug(ctx: Flask) -> None:
    with pytest.raises(roadmap_parse.RoadmapError, match="cannot derive a slug"):
        roadmap_parse.parse_roadmap_json(
            {"projects": [{"title": "日本", "category": "A", "status": "planned"}]}
        )
    parsed = roadmap_parse.parse_roadmap_json(
        {"projects": [{"title": "日本", "slug": "nihon", "category": "A", "status": "planned"}]}
    )
    assert parsed.projects[0].slug == "nihon"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=True)
        | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "title",
                        "category",
                        "status",
                        "progress",
                        "slug",
                        "projects",
                        "history",
                        "updates",
                        "as_of",
                        "date",
                        "new_status",
                        "categories",
                    ]
                ),
                children,
                max_size=6,
            )
        ),
        max_leaves=25,
    )
)
def test_any_json_value_either_parses_or_raises_roadmap_error(value: object) -> None:
    try:
        roadmap_parse.parse_roadmap_json(value)
    except roadmap_parse.RoadmapError as error:
        assert error.problems


def test_visibility_survives_export_and_import(ctx: Flask, runner: FlaskCliRunner) -> None:
    from kldialog.projects.models import Visibility

    parsed = roadmap_parse.parse_roadmap_json(
        {
            "projects": [
                {"title": "Entwurf", "category": "A", "status": "planned", "visibility": "draft"},
                {"title": "Alt", "category": "A", "status": "completed", "visibility": "archived"},
                {"title": "Offen", "category": "A", "status": "planned"},
            ]
        }
    )
    roadmap_io.import_roadmap(parsed)
    exported = roadmap_io.export_roadmap_json()
    assert {p["slug"]: p["visibility"] for p in exported["projects"]} == {
        "entwurf": "draft",
        "alt": "archived",
        "offen": "published",
    }
    csv_text = roadmap_io.export_roadmap_csv()
    states = {r.slug: r.visibility for r in roadmap_parse.parse_roadmap_csv(csv_text).projects}
    assert states["entwurf"] is Visibility.draft and states["alt"] is Visibility.archived
    with pytest.raises(roadmap_parse.RoadmapError, match="unknown visibility"):
        roadmap_parse.parse_roadmap_json(
            {
                "projects": [
                    {"title": "X", "category": "A", "status": "planned", "visibility": "secret"}
                ]
            }
        )
