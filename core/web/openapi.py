"""The OpenAPI 3.1 document, generated from the pydantic models routes declare when they register."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from core.web.errors import ErrorResponse
from core.web.routes import Access, route_spec

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_openapi(app: web.Application, title: str = "Frontline", version: str = "0.1.0") -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    error_ref = _schema(ErrorResponse, components)
    for route in app.router.routes():
        spec = route_spec(route.handler)
        resource = route.resource
        if spec is None or spec.html or resource is None:
            continue
        path = _PARAM.sub(r"{\1}", resource.canonical)
        if not path.startswith("/api/") and path not in ("/healthz",):
            continue
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "tags": [t for t in spec.tags if t],
            "x-access": spec.access.value,
            "responses": {"default": {"description": "error", "content": {"application/json": {"schema": error_ref}}}},
        }
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in _PARAM.findall(path)
        ]
        if spec.query is not None:
            props = spec.query.model_json_schema().get("properties", {})
            required = set(spec.query.model_json_schema().get("required", []))
            params += [{"name": n, "in": "query", "required": n in required, "schema": s} for n, s in props.items()]
        if params:
            operation["parameters"] = params
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(spec.body, components)}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if spec.response is not None:
            ok["content"] = {"application/json": {"schema": _schema(spec.response, components)}}
        operation["responses"][str(spec.status)] = ok
        if spec.access is not Access.PUBLIC:
            operation["security"] = [{"visitorToken": []}] if spec.access is Access.CUSTOMER else [{"session": []}]
        paths.setdefault(path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "frontline_session"},
                "visitorToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }
