"""The open-data API: answers conform to its OpenAPI document and carry no personal data.

Also: filters, pagination, ETag/304, CORS, problem+json, the rate limit and k, as documented.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker

from kldialog.kernel.db import db
from kldialog.projects.models import Project, Status, Visibility

from .crawl import bulkdata

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://localhost"


# --- validating an answer against the OpenAPI document ------------------------------------------


class Spec:
    """The app's OpenAPI document, able to validate an answer of any of its operations."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.routes = [
            (re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$"), path)
            for path in document["paths"]
        ]

    def operation_path(self, path: str) -> str | None:
        """Return the OpenAPI path template an /api/v1 path belongs to."""
        relative = path.removeprefix("/api/v1") or "/"
        for pattern, template in self.routes:
            if pattern.match(relative):
                return template
        return None

    def validate(self, path: str, status: int, content_type: str, body: bytes) -> None:
        """Fail unless the answer is documented for this path and matches its schema."""
        template = self.operation_path(path)
        assert template is not None, f"{path} is not in the OpenAPI document"
        responses = self.document["paths"][template]["get"]["responses"]
        assert str(status) in responses, f"{path}: status {status} is not documented"
        if status == 304:
            assert body == b""
            return
        media_type = content_type.split(";")[0]
        content = responses[str(status)]["content"]
        assert media_type in content, f"{path}: {media_type} is not documented for {status}"
        schema = {"components": self.document["components"], **content[media_type]["schema"]}
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(json.loads(body))


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app whose database scripts/bulkdata.py filled at scale 0.02 (as the benchmark does)."""
    from kldialog import create_app

    from .conftest import base_config

    app = create_app(
        base_config(MAIL_OUTBOX=str(tmp_path_factory.mktemp("outbox")), RATELIMIT_ENABLED=False)
    )
    with app.app_context():
        db.create_all()
        app.extensions["facts"] = bulkdata.generate(0.02)
        db.session.remove()
    client = app.test_client()
    facts = app.extensions["facts"]
    # The public results page makes the survey's final release (the API itself never writes).
    assert client.get(f"/surveys/{facts.closed_survey}/results").status_code == 200
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def _crawl(client: FlaskClient, start: list[str], limit: int = 400) -> dict[str, Any]:
    """Request the start paths and every /api/v1 link in the answers; return path → response."""
    seen: dict[str, Any] = {}
    queue = list(start)
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        response = client.get(path)
        seen[path] = response
        if response.mimetype not in ("application/json", "application/ld+json"):
            continue
        for value in _strings(json.loads(response.data)):
            if value.startswith(BASE + "/api/v1"):
                parts = urlsplit(value)
                link = parts.path + (f"?{parts.query}" if parts.query else "")
                if link not in seen:
                    queue.append(link)
    return seen


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)
    elif isinstance(data, str):
        yield data


def _keys(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from _keys(value)
    elif isinstance(data, list):
        for value in data:
            yield from _keys(value)


@pytest.fixture(scope="module")
def crawled(populated: Flask) -> dict[str, Any]:
    """Every API answer reachable from the index on the populated database."""
    start = [
        "/api/v1/",
        "/api/v1/projects?sort=updated&updated_since=2000-01-01T00:00:00Z&per_page=100",
        "/api/v1/projects?status=in_progress&q=digital",
    ]
    return _crawl(populated.test_client(), start)


def test_the_crawl_reaches_every_operation(populated: Flask, crawled: dict[str, Any]) -> None:
    spec = Spec(json.loads(populated.test_client().get("/api/v1/openapi.json").data))
    reached = {spec.operation_path(urlsplit(p).path) for p in crawled if "openapi" not in p}
    assert reached == set(spec.document["paths"])
    facts = populated.extensions["facts"]
    assert f"/api/v1/rounds/{facts.closed_round}" in crawled
    assert f"/api/v1/surveys/{facts.closed_survey}" in crawled


def test_open_upcoming_and_draft_rounds_and_surveys_are_not_in_the_api(populated: Flask) -> None:
    facts = populated.extensions["facts"]
    client = populated.test_client()
    listed = {item["id"] for item in client.get("/api/v1/rounds").get_json()["items"]}
    for round_id in (facts.open_round, facts.upcoming_round, facts.draft_round):
        assert round_id not in listed
        assert client.get(f"/api/v1/rounds/{round_id}").status_code == 404
    listed = {item["id"] for item in client.get("/api/v1/surveys").get_json()["items"]}
    for survey_id in (facts.open_survey, facts.draft_survey):
        assert survey_id not in listed
        assert client.get(f"/api/v1/surveys/{survey_id}").status_code == 404


def test_every_answer_conforms_to_the_openapi_document(
    populated: Flask, crawled: dict[str, Any]
) -> None:
    spec = Spec(json.loads(populated.test_client().get("/api/v1/openapi.json").data))
    for path, response in crawled.items():
        assert response.status_code == 200, path
        if path == "/api/v1/openapi.json":
            continue  # the document itself
        spec.validate(
            urlsplit(path).path, response.status_code, response.content_type, response.data
        )


def test_no_answer_contains_personal_data(populated: Flask, crawled: dict[str, Any]) -> None:
    users = db.metadata.tables["user_account"]
    answers = db.metadata.tables["survey_answer"]
    with populated.app_context():
        people = db.session.execute(sa.select(users.c.email, users.c.display_name)).all()
        texts = db.session.scalars(
            sa.select(answers.c.text).where(sa.func.length(answers.c.text) >= 20)
        ).all()
    emails = {email for email, _name in people if email}
    names = {name for _email, name in people if name}
    assert len(emails) > 100 and len(names) > 100 and texts  # the data has people and texts
    name_pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, names)) + r")(?!\w)")
    for path, response in crawled.items():
        body = response.get_data(as_text=True)
        assert "@" not in body.replace("@context", "").replace("@id", "").replace("@type", ""), (
            path
        )  # no e-mail address of any kind
        assert not [email for email in emails if email in body], path
        assert name_pattern.search(body) is None, (path, name_pattern.search(body))
        assert not [text for text in texts if text in body], path  # no free text of a survey
        keys = set(_keys(json.loads(body)))
        assert not {k for k in keys if re.search(r"user|account|mail|voter|person", k)}, path


# --- behaviour on small data ---------------------------------------------------------------------


def test_projects_filter_like_the_list_page_and_page_in_a_stable_order(
    app: Flask, client: FlaskClient, make_project: Callable[..., Project]
) -> None:
    for number in range(7):
        make_project(f"Gleich {number % 2}", slug=f"p{number}", category="Bildung")
    make_project("Öffentliches WLAN", status=Status.completed, category="Verwaltung")
    make_project("Entwurf", state=Visibility.draft)
    make_project("Archiv", state=Visibility.archived)

    seen = []
    path = "/api/v1/projects?per_page=3&category=bildung"
    while path:
        data = client.get(path).get_json()
        seen += [item["slug"] for item in data["items"]]
        path = data["links"]["next"] and data["links"]["next"].removeprefix(BASE)
    # Equal titles are ordered by id: every project once, none skipped at a page boundary.
    assert seen == ["p0", "p2", "p4", "p6", "p1", "p3", "p5"]

    all_slugs = {i["slug"] for i in client.get("/api/v1/projects?per_page=100").get_json()["items"]}
    assert "entwurf" not in all_slugs and "archiv" not in all_slugs
    found = client.get("/api/v1/projects?q=%C3%B6ffentlich&status=completed").get_json()
    assert [i["slug"] for i in found["items"]] == ["oeffentliches-wlan"]
    assert client.get("/api/v1/projects/archiv").get_json()["visibility"] == "archived"
    assert client.get("/api/v1/projects/entwurf").status_code == 404

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    with app.app_context():
        db.session.execute(sa.update(Project).where(Project.slug == "p3").values(updated_at=later))
        db.session.commit()
    since = (later - dt.timedelta(seconds=1)).isoformat()
    changed = client.get("/api/v1/projects", query_string={"updated_since": since}).get_json()
    assert [i["slug"] for i in changed["items"]] == ["p3"]


def test_a_project_has_its_history_and_updates(
    client: FlaskClient, make_project: Callable[..., Project]
) -> None:
    make_project("Mit Historie", slug="mit-historie")
    data = client.get("/api/v1/projects/mit-historie").get_json()
    assert [(c["new_status"], c["reason"]) for c in data["status_history"]] == [("planned", "Test")]
    assert data["updates"] == []
    assert data["html_url"] == f"{BASE}/projects/mit-historie"


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=%C2%B2",  # "²" is a digit to str.isdigit, not to the API
        "page=99999999999999999999",
        "per_page=101",
        "status=unknown",
        "sort=random",
        "updated_since=yesterday",
        "updated_since=0.5",  # pydantic alone would read a number as a Unix time
        "updated_since=2026-01-01",  # a date is not an RFC 3339 date-time
        "updated_since=0001-01-01T00:00:00%2B14:00",  # cannot be converted to UTC
        "q=" + "x" * 201,
    ],
)
def test_bad_parameters_are_400_problems_naming_the_parameter(
    client: FlaskClient, query: str
) -> None:
    response = client.get(f"/api/v1/projects?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["parameter"] == query.split("=")[0]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing",
        "/api/v1/projects/NOT_A_SLUG",
        "/api/v1/rounds/7",
        "/api/v1/rounds/99999999999",
    ],
)
def test_unknown_things_are_404_problems(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.mimetype) == (404, "application/problem+json")


def test_writing_methods_are_405_problems(client: FlaskClient) -> None:
    response = client.post("/api/v1/projects")
    assert (response.status_code, response.mimetype) == (405, "application/problem+json")
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_etag_gives_304_and_answers_are_public_and_cors(
    client: FlaskClient, make_project: Callable[..., Project]
) -> None:
    make_project("Eins")
    first = client.get("/api/v1/projects")
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    assert first.headers["Cache-Control"] == "public, max-age=60"
    again = client.get("/api/v1/projects", headers={"If-None-Match": first.headers["ETag"]})
    assert (again.status_code, again.data) == (304, b"")
    make_project("Zwei")
    changed = client.get("/api/v1/projects", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    preflight = client.options(
        "/api/v1/projects",
        headers={"Origin": "https://portal.example", "Access-Control-Request-Method": "GET"},
    )
    assert "If-None-Match" in preflight.headers["Access-Control-Allow-Headers"]
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_the_api_is_rate_limited_with_a_problem(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_API="2 per minute")
    client = app.test_client()
    assert [client.get("/api/v1/categories").status_code for _ in range(2)] == [200, 200]
    limited = client.get("/api/v1/categories")
    assert (limited.status_code, limited.mimetype) == (429, "application/problem+json")
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get("/projects").status_code == 200  # the site itself is not affected


def test_ratings_are_published_only_from_k_people(
    app: Flask,
    client: FlaskClient,
    make_project: Callable[..., Project],
    make_user: Callable[..., Any],
) -> None:
    from kldialog.auth.models import User
    from kldialog.priorities.models import Indicator
    from kldialog.priorities.ratings import rate_project

    project = make_project("Bewertet", slug="bewertet")
    k = app.config["RATING_MIN_GROUP_SIZE"]
    users = [make_user() for _ in range(2 * k)]

    def rate(user: Any, score: int) -> None:
        # Through the service: ratings are released in steps of k (kernel.disclosure).
        with app.app_context():
            rate_project(
                db.session.get(User, user.id),
                db.session.get(Project, project.id),
                {Indicator.benefit: score},
            )
            db.session.commit()

    assert k == 5  # the scores below are chosen for five
    for user in users[: k - 1]:
        rate(user, 4)
    below = client.get("/api/v1/ratings").get_json()["items"][0]["indicators"][0]
    assert below == {"indicator": "benefit", "released": False, "n": None, "mean": None}
    rate(users[k - 1], 2)
    # Released, but 4, 4, 4, 4, 2 with its interval says what each gave: "too uniform".
    at_k = client.get("/api/v1/ratings").get_json()["items"][0]["indicators"][0]
    assert at_k == {"indicator": "benefit", "released": False, "n": None, "mean": None}
    for user, score in zip(users[k:], [1, 3, 5, 2, 3], strict=True):
        rate(user, score)
    varied = client.get("/api/v1/ratings").get_json()["items"][0]["indicators"][0]
    assert (varied["released"], varied["n"]) == (True, 2 * k)
    assert varied["mean"]["estimate"] == pytest.approx(3.2)


def test_a_suppressed_round_has_no_ballot_file(
    app: Flask, client: FlaskClient, make_project: Callable[..., Project]
) -> None:
    from kldialog.priorities.models import Method, PriorityRound, RoundResult, RoundState

    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        round_ = PriorityRound(
            title="Kleine Runde",
            method=Method.approval,
            state=RoundState.published,
            opens_at=now - dt.timedelta(days=9),
            closes_at=now - dt.timedelta(days=1),
        )
        db.session.add(round_)
        db.session.flush()
        results = {
            "format": "x",
            "method": "approval",
            "n": 3,
            "min_group_size": 5,
            "suppressed": True,
            "bootstrap_samples": 200,
            "projects": [],
            "categories": [],
        }
        db.session.add(
            RoundResult(
                round_id=round_.id,
                results=json.dumps(results),
                participation=json.dumps([{"day": "2026-01-01", "ballots": None}]),
                ballot_file="{}",
                ballot_sha256="0" * 64,
            )
        )
        db.session.commit()
        round_id = round_.id
    data = client.get(f"/api/v1/rounds/{round_id}").get_json()
    assert (data["suppressed"], data["ballots"], data["ballot_file"]) == (True, 3, None)
    assert data["ballot_file_sha256"] is None


def test_dcat_catalogue_lists_the_datasets_with_licence_and_frequency(
    app_factory: Callable[..., Flask],
) -> None:
    client = app_factory(CITY_NAME="Musterstadt").test_client()
    response = client.get("/api/v1/dcat")
    assert response.mimetype == "application/ld+json"
    catalogue = response.get_json()
    assert catalogue["@type"] == "dcat:Catalog"
    assert catalogue["dct:publisher"]["foaf:name"] == "Stadt Musterstadt"
    datasets = catalogue["dcat:dataset"]
    assert {d["dct:identifier"] for d in datasets} >= {"roadmap", "priority-rounds", "surveys"}
    for dataset in datasets:
        assert dataset["dct:license"]["@id"] == "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
        assert dataset["dct:accrualPeriodicity"]["@id"].startswith(
            "http://publications.europa.eu/resource/authority/frequency/"
        )
        address = dataset["dcat:distribution"][0]["dcat:accessURL"]["@id"]
        assert client.get(address.removeprefix(BASE)).status_code == 200


def test_dcat_datasets_name_the_contributor_and_the_municipality(
    app_factory: Callable[..., Flask],
) -> None:
    contributor = "http://dcat-ap.de/def/contributors/stadtMusterstadt"
    client = app_factory(
        API_CONTRIBUTOR_ID=contributor, CITY_MUNICIPALITY_KEY="07312000"
    ).test_client()
    for dataset in client.get("/api/v1/dcat").get_json()["dcat:dataset"]:
        assert dataset["dcatde:contributorID"] == {"@id": contributor}
        assert dataset["dcatde:politicalGeocodingURI"] == {
            "@id": "http://dcat-ap.de/def/politicalGeocoding/municipalityKey/07312000"
        }
        assert dataset["dcatde:politicalGeocodingLevelURI"] == {
            "@id": "http://dcat-ap.de/def/politicalGeocodingLevel/municipality"
        }
    # Unset or malformed: left out rather than published wrong.
    client = app_factory(API_CONTRIBUTOR_ID="", CITY_MUNICIPALITY_KEY="7312").test_client()
    for dataset in client.get("/api/v1/dcat").get_json()["dcat:dataset"]:
        assert "dcatde:contributorID" not in dataset
        assert "dcatde:politicalGeocodingURI" not in dataset


def test_the_human_page_is_linked_from_the_footer_in_german(client: FlaskClient) -> None:
    home = client.get("/").get_data(as_text=True)
    assert 'href="/api"' in home
    page = client.get("/api").get_data(as_text=True)
    assert "Offene Daten (API)" in page
    assert "/api/v1/openapi.json" in page


def test_page_cache_hits_keep_cors_caching_and_etag(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(PAGE_CACHE_ENABLED=True, PAGE_CACHE_SECONDS=60)
    client = app.test_client()
    first = client.get("/api/v1/categories")
    hit = client.get("/api/v1/categories")
    assert (first.headers["X-Page-Cache"], hit.headers["X-Page-Cache"]) == ("miss", "hit")
    assert hit.headers["Access-Control-Allow-Origin"] == "*"
    assert hit.headers["Cache-Control"] == "public, max-age=60"
    assert hit.headers["ETag"] == first.headers["ETag"]
    again = client.get("/api/v1/categories", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
