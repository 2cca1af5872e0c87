"""`flask check`: every finding triggers on its bad setting, and a good deployment passes."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import stamp

from kldialog import DEBUG_SECRET_KEY, create_app, deploy_check
from kldialog.deploy_check import ERROR, OK, WARNING, Finding, check_settings
from kldialog.kernel.db import db
from kldialog.priorities.models import Method, PriorityRound, RoundState

from .conftest import base_config

GOOD = {
    "SECRET_KEY": "5f0c2a9e7d41b8c3a6e9f20d4b7c1e8a3f6d9b2c5e8a1d4f7b0c3e6a9d2f5b8c",
    "DEBUG": False,
    "TESTING": False,
    "DEMO": False,
    "PUBLIC_URL": "https://beteiligung.stadt.example",
    "SESSION_COOKIE_SECURE": True,
    "PROXY_COUNT": 1,
    "MAIL_SERVER": "smtp.stadt.example",
    "MAIL_PORT": 587,
    "MAIL_USE_TLS": True,
    "MAIL_FROM": "Beteiligung <beteiligung@stadt.example>",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
    "PAGE_CACHE_REDIS_URL": "redis://127.0.0.1:6379/0",
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://kldialog@db.internal/kldialog",
    "OPERATOR_NAME": "Stadt Beispielhausen",
    "OPERATOR_ADDRESS": "Rathausplatz 1\n12345 Beispielhausen",
    "OPERATOR_EMAIL": "digital@stadt.example",
    "DATA_PROTECTION_OFFICER": "Datenschutzbeauftragte der Stadt, datenschutz@stadt.example",
    "BRAND_PRIMARY_COLOR": "#8a1538",
    "MFA_REQUIRED_ROLES": ("admin", "staff"),
}


def levels(findings: list[Finding], topic: str) -> list[str]:
    return [f.level for f in findings if f.topic == topic]


def test_a_good_configuration_has_no_error_and_no_warning(tmp_path: Path) -> None:
    findings = check_settings(GOOD, str(tmp_path), workers=3)
    assert [f for f in findings if f.level != OK] == []
    assert {"SECRET_KEY", "PUBLIC_URL", "MAIL_SERVER", "RATELIMIT_STORAGE_URI"} <= {
        f.topic for f in findings
    }


@pytest.mark.parametrize(
    ("change", "workers", "topic", "level"),
    [
        ({"SECRET_KEY": ""}, 3, "SECRET_KEY", ERROR),
        ({"SECRET_KEY": DEBUG_SECRET_KEY}, 3, "SECRET_KEY", ERROR),
        ({"SECRET_KEY": "0123456789abcde"}, 3, "SECRET_KEY", ERROR),
        ({"SECRET_KEY": "abababababababababababababababababab"}, 3, "SECRET_KEY", ERROR),
        ({"SECRET_KEY": "0123456789abcdefghij"}, 3, "SECRET_KEY", WARNING),
        ({"DEBUG": True}, 3, "DEBUG", ERROR),
        ({"TESTING": True}, 3, "TESTING", ERROR),
        ({"DEMO": True}, 3, "DEMO", ERROR),
        ({"MFA_REQUIRED_ROLES": ()}, 3, "MFA_REQUIRED_ROLES", ERROR),
        ({"MFA_REQUIRED_ROLES": ("admin", "staf")}, 3, "MFA_REQUIRED_ROLES", ERROR),
        ({"MFA_REQUIRED_ROLES": ("admin",)}, 3, "MFA_REQUIRED_ROLES", WARNING),
        (
            {"SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": True},
            3,
            "SESSION_COOKIE_SECURE",
            ERROR,
        ),
        ({"REMEMBER_COOKIE_SECURE": False}, 3, "REMEMBER_COOKIE_SECURE", ERROR),
        ({"PUBLIC_URL": "http://beteiligung.stadt.example"}, 3, "PUBLIC_URL", ERROR),
        ({"PUBLIC_URL": "http://127.0.0.1:5000"}, 3, "PUBLIC_URL", WARNING),
        ({"PUBLIC_URL": "beteiligung.stadt.example"}, 3, "PUBLIC_URL", ERROR),
        ({"PROXY_COUNT": 0}, 3, "PROXY_COUNT", WARNING),
        ({"MAIL_SERVER": ""}, 3, "MAIL_SERVER", WARNING),
        ({"MAIL_USE_TLS": False, "MAIL_USE_SSL": False}, 3, "MAIL_USE_TLS", WARNING),
        ({"MAIL_FROM": "KL.dialog <noreply@kldialog.invalid>"}, 3, "MAIL_FROM", WARNING),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, 3, "RATELIMIT_STORAGE_URI", ERROR),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, None, "RATELIMIT_STORAGE_URI", WARNING),
        ({"PAGE_CACHE_REDIS_URL": None}, 3, "PAGE_CACHE_REDIS_URL", WARNING),
        ({"RATELIMIT_ENABLED": False}, 3, "RATELIMIT_ENABLED", ERROR),
        ({"SQLALCHEMY_DATABASE_URI": "sqlite:///kldialog.sqlite"}, 3, "DATABASE_URL", WARNING),
        ({"OPERATOR_ADDRESS": ""}, 3, "Impressum", WARNING),
        ({"DATA_PROTECTION_OFFICER": ""}, 3, "DATA_PROTECTION_OFFICER", WARNING),
        ({"BRAND_PRIMARY_COLOR": "red; } body { display: none"}, 3, "BRAND_PRIMARY_COLOR", ERROR),
        ({"BRAND_PRIMARY_COLOR": "#7fb2e5"}, 3, "BRAND_PRIMARY_COLOR", ERROR),  # 2.2:1
        ({"BRAND_LOGO": "logo.svg"}, 3, "BRAND_LOGO", ERROR),
        ({"BRAND_FAVICON": "icon.png"}, 3, "BRAND_FAVICON", ERROR),
    ],
)
def test_each_unsafe_setting_is_reported(
    tmp_path: Path, change: dict[str, Any], workers: int | None, topic: str, level: str
) -> None:
    findings = check_settings({**GOOD, **change}, str(tmp_path), workers=workers)
    assert levels(findings, topic) == [level]
    # Nothing else turns bad: each finding belongs to its own setting.
    others = [f for f in findings if f.topic != topic and f.level != OK]
    assert others == []


def test_memory_limits_are_fine_for_exactly_one_worker(tmp_path: Path) -> None:
    findings = check_settings({**GOOD, "RATELIMIT_STORAGE_URI": "memory://"}, str(tmp_path), 1)
    assert levels(findings, "RATELIMIT_STORAGE_URI") == [OK]


def test_legal_pages_and_brand_files_in_instance_satisfy_the_check(tmp_path: Path) -> None:
    pages = tmp_path / "templates" / "pages"
    pages.mkdir(parents=True)
    (pages / "impressum.de.html").write_text("{% extends 'base.html' %}")
    (pages / "datenschutz.de.html").write_text("{% extends 'base.html' %}")
    (tmp_path / "branding").mkdir()
    (tmp_path / "branding" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    config = {
        **GOOD,
        "OPERATOR_NAME": "",
        "OPERATOR_ADDRESS": "",
        "OPERATOR_EMAIL": "",
        "DATA_PROTECTION_OFFICER": "",
        "BRAND_LOGO": "logo.svg",
    }
    findings = check_settings(config, str(tmp_path), workers=3)
    assert [f for f in findings if f.level != OK] == []


def test_secrets_never_appear_in_the_report(tmp_path: Path) -> None:
    config = {**GOOD, "RATELIMIT_STORAGE_URI": "redis://:hunter2-secret@redis.internal:6379/0"}
    findings = check_settings(config, str(tmp_path), workers=3)
    report = deploy_check.format_report(findings, [])
    assert "hunter2" not in report
    assert GOOD["SECRET_KEY"] not in report
    assert "redis://:***@redis.internal:6379/0" in report


# --- database, Redis and jobs ----------------------------------------------------------------


def production_like_app(path: Path) -> Flask:
    """Return an app as production would configure it, on the SQLite file at path."""
    return create_app(
        {
            **base_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"),
            **{
                key: GOOD[key]
                for key in (
                    "SECRET_KEY",
                    "PUBLIC_URL",
                    "SESSION_COOKIE_SECURE",
                    "MFA_REQUIRED_ROLES",
                )
            },
            "TESTING": False,
            "PROXY_COUNT": 1,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Create the tables once in a SQLite file (creating them costs about two seconds)."""
    path = tmp_path_factory.mktemp("schema") / "schema.sqlite"
    app = production_like_app(path)
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return path


@pytest.fixture
def file_app(schema_file: Path, tmp_path: Path) -> Iterator[Flask]:
    """Return a production-like app on a copy of the schema file (tables, no schema version)."""
    path = tmp_path / "check.sqlite"
    shutil.copyfile(schema_file, path)
    app = production_like_app(path)
    yield app
    with app.app_context():
        db.engine.dispose()


def base_revision(app: Flask) -> str:
    config = Config()
    config.set_main_option("script_location", app.extensions["migrate"].directory)
    base = ScriptDirectory.from_config(config).get_base()
    assert base is not None
    return base


def test_database_must_be_migrated_to_head(file_app: Flask) -> None:
    with file_app.app_context():
        assert levels(deploy_check.check_services(file_app), "Database") == [ERROR]
        stamp(revision=base_revision(file_app))
        behind = deploy_check.check_services(file_app)
        assert levels(behind, "Database") == [ERROR]
        assert "db upgrade" in behind[0].message
        stamp(revision="head")
        assert levels(deploy_check.check_services(file_app), "Database") == [OK]


def test_an_unreachable_database_is_an_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/folder/x.sqlite"
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        findings = deploy_check.run_checks(app, workers=1)
        db.engine.dispose()
    assert levels(findings, "Database") == [ERROR]
    assert "not reachable" in findings[[f.topic for f in findings].index("Database")].message
    assert levels(findings, "Cron") == []  # no job checks on a database that is not there


def test_an_unreachable_redis_is_an_error(file_app: Flask) -> None:
    file_app.config["RATELIMIT_STORAGE_URI"] = "redis://127.0.0.1:1/0"  # nothing listens on 1
    with file_app.app_context():
        stamp(revision="head")
        assert levels(deploy_check.check_services(file_app), "Redis") == [ERROR]


def test_cli_exits_zero_with_warnings_only_and_lists_the_cron_jobs(file_app: Flask) -> None:
    with file_app.app_context():
        stamp(revision="head")
    result = file_app.test_cli_runner().invoke(args=["check", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "warning  MAIL_SERVER" in result.output
    assert "ERROR" not in result.output
    for command in ("rounds close-due", "surveys flush", "maintenance purge"):
        assert f"flask --app kldialog {command}" in result.output
    assert "No errors" in result.output


def test_cli_exits_non_zero_on_errors(file_app: Flask) -> None:
    with file_app.app_context():
        stamp(revision="head")
    result = file_app.test_cli_runner().invoke(args=["check", "--workers", "4"])
    assert result.exit_code == 1
    assert "ERROR    RATELIMIT_STORAGE_URI" in result.output
    assert "fix the errors before going live" in result.output


def test_overdue_retention_work_means_cron_is_not_running(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        assert levels(deploy_check.check_jobs(), "Cron") == [OK]
        db.session.add(
            PriorityRound(
                title="Ended",
                method=Method.approval,
                state=RoundState.published,
                opens_at=now - dt.timedelta(days=10),
                closes_at=now - dt.timedelta(hours=2),
            )
        )
        db.session.commit()
        findings = deploy_check.check_jobs()
    assert levels(findings, "Cron") == [WARNING]
    assert "rounds close-due" in findings[0].message
    make_user(email_confirmed_at=None, created_at=now - dt.timedelta(days=30))
    with app.app_context():
        message = deploy_check.check_jobs()[0].message
    assert "maintenance purge" in message


def test_an_ended_round_within_the_cron_interval_is_not_overdue(app: Flask) -> None:
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        db.session.add(
            PriorityRound(
                title="Just ended",
                method=Method.approval,
                state=RoundState.published,
                opens_at=now - dt.timedelta(days=10),
                closes_at=now - dt.timedelta(minutes=3),
            )
        )
        db.session.commit()
        assert levels(deploy_check.check_jobs(), "Cron") == [OK]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PriorityRound)) == 1
