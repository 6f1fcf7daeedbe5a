"""Routes that declare their access policy and JSON models where they are registered.

``Routes`` works like aiohttp's ``RouteTableDef`` but every route must say who may call it, and may name
pydantic models for its body, query and response: the access middleware enforces the policy, the
OpenAPI document is generated from the models, and a test walks the router for routes without one.
"""

from __future__ import annotations

import enum
import json
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.errors import InvalidInput
from core.security import MAX_ID, storable, storable_text
from core.uow import UnitOfWork
from core.web.keys import BUS, SESSIONS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROUTE_ATTR = "__frontline_route__"


class Access(enum.StrEnum):
    PUBLIC = "public"
    CUSTOMER = "customer"  # a web-chat visitor with a signed token
    PORTAL = "portal"  # a customer signed in to the portal by a magic link (session cookie)
    OPERATOR = "operator"
    EDITOR = "editor"
    ADMIN = "admin"
    MANAGER = "manager"  # reports: a support lead who reads the figures


# Staff roles are ranked: an editor may do what an operator may, a manager what an editor may and read the
# reports, an admin everything.
ROLE_RANK = {"operator": 1, "editor": 2, "manager": 3, "admin": 4}
ACCESS_RANK = {Access.OPERATOR: 1, Access.EDITOR: 2, Access.MANAGER: 3, Access.ADMIN: 4}
STAFF = frozenset(ACCESS_RANK)


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str
    access: Access
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    html: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)


def route_spec(handler: Any) -> RouteSpec | None:
    spec = getattr(handler, ROUTE_ATTR, None)
    return spec if isinstance(spec, RouteSpec) else None


class Routes:
    def __init__(self, tag: str = "") -> None:
        self.tag = tag
        self._routes: list[tuple[RouteSpec, Handler]] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        access: Access,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        html: bool = False,
    ) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            doc = (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            spec = RouteSpec(method, path, access, doc, body, query, response, status, html, (self.tag,))
            setattr(handler, ROUTE_ATTR, spec)
            self._routes.append((spec, handler))
            return handler

        return decorator

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)

    def __iter__(self) -> Any:
        return iter(self._routes)

    def register(self, app: web.Application) -> None:
        for spec, handler in self._routes:
            app.router.add_route(spec.method, spec.path, handler)


M = TypeVar("M", bound=BaseModel)


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidInput("the JSON body is nested too deeply") from None
    except ValueError:
        return _NOT_JSON


_NOT_JSON = object()


def _bools_as_ints(model: type[BaseModel], data: Any) -> list[str]:
    """Top-level fields typed as integers (ids) that were given ``true``/``false``: pydantic would take them as 1/0."""
    if not isinstance(data, dict):
        return []
    wrong = []
    for name, field_info in model.model_fields.items():
        key = field_info.alias or name
        annotation = field_info.annotation
        allowed = typing.get_args(annotation) or (annotation,)
        if isinstance(data.get(key), bool) and int in allowed and bool not in allowed:
            wrong.append(key)
    return wrong


async def read_json(request: web.Request, model: type[M]) -> M:
    """The body validated by ``model``; a clear 422 for anything else (empty, not JSON, wrong shape).

    Strings are made storable first (no NUL, no lone surrogates: see ``core.security.storable``), and a
    boolean is never taken for an integer (``true`` is not operator 1).
    """
    raw = await request.read()
    if not raw:
        raise InvalidInput("the request body is empty; a JSON object is expected")
    data = _parse_json(raw)
    if data is not _NOT_JSON:
        if wrong := _bools_as_ints(model, data):
            raise InvalidInput("a boolean is not a number", fields=wrong)
        raw = json.dumps(storable(data)).encode()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidInput(
            "the request body does not match the expected shape",
            errors=exc.errors(include_url=False, include_context=False, include_input=False),
        ) from None


def read_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate({k: storable_text(v) for k, v in request.query.items()})
    except ValidationError as exc:
        raise InvalidInput(
            "the query parameters are not valid",
            errors=exc.errors(include_url=False, include_context=False, include_input=False),
        ) from None


def json_response(model: BaseModel | list[BaseModel], status: int = 200) -> web.Response:
    if isinstance(model, list):
        body = "[" + ",".join(m.model_dump_json() for m in model) + "]"
    else:
        body = model.model_dump_json()
    return web.Response(text=body, status=status, content_type="application/json")


def match_int(request: web.Request, name: str) -> int:
    """A path integer (an id); anything else, or one no table can hold, is a clear 422."""
    text = request.match_info.get(name, "")
    if not (text.isascii() and text.lstrip("-").isdigit() and len(text) <= 20):
        raise InvalidInput(f"{name} must be an integer")
    value = int(text)
    if abs(value) > MAX_ID:
        raise InvalidInput(f"{name} is out of range", maximum=MAX_ID)
    return value


def unit_of_work(request: web.Request) -> UnitOfWork:
    """A unit of work on the application's database and event bus, for one request."""
    return UnitOfWork(request.config_dict[SESSIONS], request.config_dict[BUS])
