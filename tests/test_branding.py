"""Branding for another city from config and instance/branding/: logo, favicon, colour."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from kldialog.branding import contrast_ratio

LOGO = b"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10'><rect width='10' height='10'/></svg>"


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give the app an instance folder of its own with a logo in branding/."""
    folder = tmp_path / "instance"
    (folder / "branding").mkdir(parents=True)
    (folder / "branding" / "logo.svg").write_bytes(LOGO)
    (folder / "config.py").write_text("SECRET_KEY = 'must-not-be-served-0123456789'\n")
    monkeypatch.setenv("KLDIALOG_INSTANCE_PATH", str(folder))
    return folder


def test_site_name_city_logo_and_colour_come_from_config(
    instance: Path, app_factory: Callable[..., Flask]
) -> None:
    app = app_factory(
        SITE_NAME="Mitreden Beispielhausen",
        CITY_NAME="Beispielhausen",
        BRAND_LOGO="logo.svg",
        BRAND_FAVICON="logo.svg",
        BRAND_PRIMARY_COLOR="#8A1538",
    )
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert "<title>" in page
    assert "– Mitreden Beispielhausen</title>" in page
    assert "Digitale Roadmap der Stadt Beispielhausen" in page
    assert "Kaiserslautern" not in page
    logo = re.search(r'<img class="site-header__logo" src="([^"]+)" alt="">', page)
    assert logo is not None
    assert re.search(r'<link rel="icon" href="/branding/logo\.svg\?v=[0-9a-f]{12}">', page)
    theme = re.search(r'<link rel="stylesheet" href="(/branding/theme\.css\?v=[^"]+)">', page)
    assert theme is not None

    with client.get(logo.group(1)) as served:
        assert served.status_code == 200
        assert served.data == LOGO
        assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    css = client.get(theme.group(1))
    assert css.mimetype == "text/css"
    assert "--kern-color-action-default: #8a1538;" in css.get_data(as_text=True)
    assert css.headers["Cache-Control"].startswith("public, max-age=31536000")


def test_without_branding_the_defaults_stay(
    instance: Path, app_factory: Callable[..., Flask]
) -> None:
    client = app_factory().test_client()
    page = client.get("/").get_data(as_text=True)
    assert "site-header__logo" not in page
    assert "/branding/" not in page
    assert re.search(r'href="/static/favicon\.[0-9a-f]{12}\.svg"', page)
    assert client.get("/branding/theme.css").status_code == 404


@pytest.mark.parametrize("colour", ["red", "#8a153", "#8a1538; } body { display: none", "8a1538"])
def test_a_malformed_colour_never_reaches_the_stylesheet(
    instance: Path, app_factory: Callable[..., Flask], colour: str
) -> None:
    client = app_factory(BRAND_PRIMARY_COLOR=colour).test_client()
    assert "/branding/theme.css" not in client.get("/").get_data(as_text=True)
    assert client.get("/branding/theme.css").status_code == 404


def test_only_files_inside_instance_branding_are_served(
    instance: Path, app_factory: Callable[..., Flask]
) -> None:
    client = app_factory(BRAND_LOGO="logo.svg").test_client()
    for path in ("/branding/../config.py", "/branding/%2e%2e/config.py", "/branding/nope.svg"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"must-not-be-served" not in response.data


def test_a_configured_logo_that_is_missing_keeps_the_page_working(
    instance: Path, app_factory: Callable[..., Flask]
) -> None:
    client = app_factory(BRAND_LOGO="missing.svg").test_client()
    response = client.get("/")
    assert response.status_code == 200
    assert "site-header__logo" not in response.get_data(as_text=True)


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
