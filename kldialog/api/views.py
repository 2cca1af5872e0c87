"""The open-data API: /api/v1 (JSON, versioned, read-only) and its human-readable page at /api.

Every JSON answer is a pydantic model (schemas.py), so the OpenAPI document built from those
models describes exactly what is sent. Answers are public and the same for everyone: they carry
an ETag (If-None-Match → 304), may be cached by shared caches for a short time, and may be read
from any origin (CORS). Errors are RFC 9457 problem details, never an HTML page.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

import annotated_types
from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _
from limits import parse_many
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from kldialog.api import catalogue, reports, roadmap, schemas
from kldialog.api import rounds as round_data
from kldialog.api import surveys as survey_data
from kldialog.api.openapi import ID, SLUG, Operation, build
from kldialog.kernel.extensions import limiter
from kldialog.kernel.params import parse_int

bp = Blueprint("api", __name__)
v1 = Blueprint("v1", __name__, url_prefix="/api/v1")
bp.register_blueprint(v1)
DEFAULT_LIMIT = "120 per minute"
limiter.limit(lambda: current_app.config.get("RATELIMIT_API", DEFAULT_LIMIT))(v1)

MAX_AGE = 60  # seconds a shared cache may keep an answer; the ETag revalidates after that
SLUG_PATTERN = re.compile(r"[a-z0-9-]{1,120}")
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
OPERATIONS: list[Operation] = []
Q = TypeVar("Q", bound=BaseModel)


class BadParameter(Exception):
    """A query parameter was not valid: answered with 400 naming the parameter."""

    def __init__(self, name: str) -> None:
        """Keep the parameter's name."""
        super().__init__(name)
        self.name = name


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    """Return an application/problem+json answer."""
    body = schemas.Problem(title=title, status=status, detail=detail, **extra)
    return Response(
        body.model_dump_json(exclude_none=True),
        status=status,
        mimetype="application/problem+json",
    )


def json_response(model: BaseModel) -> Response:
    """Return a model as the JSON answer."""
    return Response(model.model_dump_json(), mimetype="application/json")


def operation(
    rule: str,
    *,
    summary: str,
    response: type[BaseModel] | None,
    tag: str,
    query: type[BaseModel] | None = None,
    path_params: tuple[tuple[str, dict[str, Any]], ...] = (),
    media_type: str = "application/json",
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a GET view under /api/v1 and describe it in the OpenAPI document."""

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        v1.add_url_rule(rule, view.__name__, view, methods=["GET"])
        OPERATIONS.append(
            Operation(
                path=re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule),
                operation_id=view.__name__,
                summary=summary,
                response=response,
                tag=tag,
                query=query,
                path_params=path_params,
                media_type=media_type,
            )
        )
        return view

    return decorate


def parse_query(model: type[Q]) -> tuple[Q, dict[str, str]]:
    """Return the query parameters as the model, and the valid ones as strings for links.

    Integers go through kernel.params.parse_int (ASCII digits within the field's bounds);
    everything else through the model's validation. Unknown parameters are ignored.
    """
    values: dict[str, Any] = {}
    given: dict[str, str] = {}
    for name, field in model.model_fields.items():
        raw = request.args.get(name)
        if raw is None:
            continue
        given[name] = raw
        if field.annotation == dt.datetime | None:
            # RFC 3339 only: pydantic would also take a number as a Unix time.
            if not RFC3339.fullmatch(raw):
                raise BadParameter(name)
            values[name] = raw
        elif field.annotation is int:
            # The query models declare their bounds as ints (Field(ge=..., le=...)).
            low = cast(int, next(m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)))
            high = cast(
                int, next(m.le for m in field.metadata if isinstance(m, annotated_types.Le))
            )
            number = parse_int(raw, low, high)
            if number is None:
                raise BadParameter(name)
            values[name] = number
        else:
            values[name] = raw
    try:
        parsed = model.model_validate(values)
    except ValidationError as error:
        raise BadParameter(str(error.errors()[0]["loc"][0])) from None
    for name in given:
        value = getattr(parsed, name)
        if isinstance(value, dt.datetime):
            try:
                # Compared with UTC columns; a time zone at the calendar's edge cannot convert.
                setattr(
                    parsed,
                    name,
                    value.replace(tzinfo=value.tzinfo or dt.UTC).astimezone(dt.UTC),
                )
            except (OverflowError, ValueError):
                raise BadParameter(name) from None
    given.pop("page", None)
    return parsed, given


# --- answers and errors for every /api/v1 request ----------------------------------------------


@v1.errorhandler(BadParameter)
def _bad_parameter(error: BadParameter) -> Response:
    return problem(
        400,
        _("Invalid parameter"),
        _("The value of “%(name)s” is not valid; see the OpenAPI document.", name=error.name),
        parameter=error.name,
    )


@v1.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    if isinstance(error, RequestRedirect):
        return error.get_response()  # type: ignore[return-value]
    code = error.code or 500
    titles = {
        400: _("Bad request"),
        404: _("Not found"),
        405: _("Method not allowed"),
        429: _("Too many requests"),
    }
    details = {
        400: _("The request could not be understood."),
        404: _("There is nothing at this address in the API."),
        405: _("This API only reads: use GET."),
        429: _("Too many requests from your address. Please wait as Retry-After says."),
    }
    response = problem(code, titles.get(code, error.name), details.get(code, error.description))
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods or ("GET", "HEAD")))
    return response


@v1.after_request
def _public_answer(response: Response) -> Response:
    """Add CORS, caching and the ETag; answer 304 when the client's ETag still matches."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = (
        "ETag, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
    )
    if request.method == "OPTIONS":  # CORS preflight (If-None-Match is not a simple header)
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "If-None-Match"
        response.headers["Access-Control-Max-Age"] = "86400"
    if request.method in ("GET", "HEAD") and response.status_code == 200:
        # The same for everyone (no session is read), so shared caches may keep it briefly.
        response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
        response.add_etag()
        response.make_conditional(request)
    else:
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.before_app_request
def _unrouted_api_request() -> Response | None:
    """Answer an /api/v1 address that matches no route, or no route for this method, as a problem.

    Routing failed before any blueprint was chosen, so the v1 handlers would not see it.
    """
    error = request.routing_exception
    if not isinstance(error, HTTPException) or isinstance(error, RequestRedirect):
        return None
    if not request.path.startswith("/api/v1/"):
        return None
    response = _http_error(error)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the operations ----------------------------------------------------------------------------


@operation("/", summary="What this API offers", response=schemas.ApiIndex, tag="index")
def index() -> Response:
    """Return the entry point with a link to every collection."""
    links = {
        "categories": "api.v1.categories",
        "projects": "api.v1.projects",
        "rounds": "api.v1.rounds",
        "surveys": "api.v1.surveys",
        "moderation_report": "api.v1.moderation_report",
        "ratings": "api.v1.ratings",
    }
    return json_response(
        schemas.ApiIndex(
            api_version="1",
            title=f"{current_app.config.get('SITE_NAME', 'KL.dialog')} open data API",
            publisher=catalogue.publisher_name(),
            licence=catalogue.LICENCE_URI,
            licence_name=catalogue.LICENCE_NAME,
            documentation=url_for("api.documentation", _external=True),
            openapi=url_for("api.v1.openapi", _external=True),
            dcat=url_for("api.v1.dcat", _external=True),
            links={name: url_for(endpoint, _external=True) for name, endpoint in links.items()},
        )
    )


@operation(
    "/categories", summary="Roadmap categories", response=schemas.CategoryList, tag="roadmap"
)
def categories() -> Response:
    """Return all categories in roadmap order."""
    return json_response(roadmap.categories())


@operation(
    "/projects",
    summary="Published projects (filtered, paginated)",
    response=schemas.ProjectPage,
    tag="roadmap",
    query=schemas.ProjectQuery,
)
def projects() -> Response:
    """Return one page of published projects."""
    query, params = parse_query(schemas.ProjectQuery)
    return json_response(roadmap.projects(query, params))


@operation(
    "/projects/<slug>",
    summary="One project with status history and updates",
    response=schemas.ProjectDetail,
    tag="roadmap",
    path_params=(("slug", SLUG),),
)
def project(slug: str) -> Response:
    """Return a published or archived project."""
    found = roadmap.project(slug) if SLUG_PATTERN.fullmatch(slug) else None
    if found is None:
        return _http_error(NotFound())
    return json_response(found)


@operation(
    "/rounds", summary="Closed priority rounds", response=schemas.RoundList, tag="priorities"
)
def rounds() -> Response:
    """Return the closed rounds whose results are frozen."""
    return json_response(round_data.rounds())


@operation(
    "/rounds/<int:round_id>",
    summary="A closed round's results and ballot file link",
    response=schemas.RoundDetail,
    tag="priorities",
    path_params=(("round_id", ID),),
)
def round(round_id: int) -> Response:
    """Return a closed round's results."""
    found = round_data.round_detail(round_id)
    if found is None:
        return _http_error(NotFound())
    return json_response(found)


@operation("/surveys", summary="Closed surveys", response=schemas.SurveyList, tag="surveys")
def surveys() -> Response:
    """Return the closed published surveys."""
    return json_response(survey_data.surveys())


@operation(
    "/surveys/<int:survey_id>",
    summary="A survey's published results",
    response=schemas.SurveyDetail,
    tag="surveys",
    path_params=(("survey_id", ID),),
)
def survey(survey_id: int) -> Response:
    """Return a closed survey's final released results."""
    found = survey_data.survey_detail(survey_id)
    if found is None:
        return _http_error(NotFound())
    return json_response(found)


@operation(
    "/moderation-report",
    summary="The moderation report per month",
    response=schemas.ModerationReport,
    tag="moderation",
)
def moderation_report() -> Response:
    """Return the public moderation report."""
    return json_response(reports.moderation_report())


@operation(
    "/ratings",
    summary="Indicator rating aggregates per project (released at k)",
    response=schemas.RatingPage,
    tag="ratings",
    query=schemas.PageQuery,
)
def ratings() -> Response:
    """Return one page of rating aggregates."""
    query, params = parse_query(schemas.PageQuery)
    return json_response(reports.ratings(query, params))


@operation(
    "/dcat",
    summary="DCAT-AP.de catalogue of the data sets (JSON-LD)",
    response=None,
    tag="index",
    media_type="application/ld+json",
)
def dcat() -> Response:
    """Return the DCAT-AP.de catalogue."""
    return Response(
        json.dumps(catalogue.catalogue(), ensure_ascii=False), mimetype="application/ld+json"
    )


@v1.get("/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI 3.1 document (built once per process from the models)."""
    spec = current_app.extensions.get("kldialog_openapi")
    if spec is None:
        spec = json.dumps(
            build(OPERATIONS, title="KL.dialog open data API", version="1.0.0"),
            ensure_ascii=False,
        )
        current_app.extensions["kldialog_openapi"] = spec
    return Response(spec, mimetype="application/json")


# --- the human-readable page -------------------------------------------------------------------


@bp.get("/api")
def documentation() -> str:
    """Explain the API to people: what is in it, how to use it, the licence, what is left out."""
    return render_template(
        "api/index.html",
        operations=OPERATIONS,
        base=url_for("api.v1.index", _external=True),
        licence=catalogue.LICENCE_URI,
        licence_name=catalogue.LICENCE_NAME,
        max_age=MAX_AGE,
        limit=parse_many(current_app.config.get("RATELIMIT_API", DEFAULT_LIMIT))[0],
    )
