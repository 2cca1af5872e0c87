"""The OpenAPI 3.1 document, built from the pydantic models the views answer with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from kldialog.api import schemas

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    """One GET operation: its OpenAPI path, what it answers with and which parameters it takes."""

    path: str
    operation_id: str
    summary: str
    response: type[BaseModel] | None  # None: a JSON-LD document described in the text
    tag: str
    query: type[BaseModel] | None = None
    path_params: tuple[tuple[str, dict[str, Any]], ...] = field(default=())
    media_type: str = "application/json"


SLUG = {"type": "string", "pattern": "^[a-z0-9-]{1,120}$"}
ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
PROBLEM = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
HEADERS = {
    "ETag": {"description": "Send it back as If-None-Match.", "schema": {"type": "string"}},
    "Cache-Control": {"schema": {"type": "string"}},
    "Access-Control-Allow-Origin": {"schema": {"type": "string", "const": "*"}},
}


def _parameters(operation: Operation, definitions: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the OpenAPI parameters: path ones, then one per field of the query model."""
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in operation.path_params
    ]
    if operation.query is not None:
        model = definitions[operation.query.__name__]
        for name, schema in model["properties"].items():
            schema = dict(schema)
            # A query value is one string; null ("not given") is expressed by leaving it out.
            if "anyOf" in schema:
                choices = [s for s in schema.pop("anyOf") if s.get("type") != "null"]
                schema.update(choices[0])
            schema.pop("default", None)
            schema.pop("title", None)
            description = schema.pop("description", None)
            parameter: dict[str, Any] = {"name": name, "in": "query", "schema": schema}
            if description:
                parameter["description"] = description
            parameters.append(parameter)
    parameters.append(
        {
            "name": "If-None-Match",
            "in": "header",
            "description": "An ETag from an earlier answer: 304 while nothing changed.",
            "schema": {"type": "string"},
        }
    )
    return parameters


def _responses(operation: Operation) -> dict[str, Any]:
    """Return the documented answers of an operation."""
    content: dict[str, Any] = {
        operation.media_type: {
            "schema": {"$ref": REF.format(model=operation.response.__name__)}
            if operation.response is not None
            else {"type": "object"}
        }
    }
    responses: dict[str, Any] = {
        "200": {"description": "OK", "headers": HEADERS, "content": content},
        "304": {"description": "Not modified (the If-None-Match ETag still matches)."},
        "429": {"description": "Too many requests.", "content": PROBLEM},
    }
    if operation.query is not None or operation.path_params:
        responses["400"] = {"description": "A parameter is not valid.", "content": PROBLEM}
    if operation.path_params:
        responses["404"] = {"description": "Not found (or not public).", "content": PROBLEM}
    return responses


def build(operations: list[Operation], *, title: str, version: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document for these operations."""
    models: set[type[BaseModel]] = {schemas.Problem}
    for operation in operations:
        models.update(m for m in (operation.response, operation.query) if m is not None)
    ordered = sorted(models, key=lambda model: model.__name__)
    _mapping, top = models_json_schema(
        [(model, "serialization") for model in ordered], ref_template=REF
    )
    definitions: dict[str, Any] = top.get("$defs", {})
    paths: dict[str, Any] = {}
    for operation in operations:
        paths[operation.path] = {
            "get": {
                "operationId": operation.operation_id,
                "summary": operation.summary,
                "tags": [operation.tag],
                "parameters": _parameters(operation, definitions),
                "responses": _responses(operation),
            }
        }
    query_models = {o.query.__name__ for o in operations if o.query is not None}
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Read-only open data: the roadmap, closed priority rounds, published survey "
                "results, the moderation report and indicator rating aggregates. Published data "
                "and aggregates only, never personal data. Licence: dl-de/by-2-0."
            ),
            "license": {
                "name": "Datenlizenz Deutschland – Namensnennung – Version 2.0",
                "url": "https://www.govdata.de/dl-de/by-2-0",
            },
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": {
                name: schema for name, schema in definitions.items() if name not in query_models
            }
        },
    }
