"""The admins' pages for service records: list and search, a customer's records, the form, the CSV import.

Plain forms and links: everything works without a script. Problems are shown in the form (or, for an import,
one line per bad line of the file) and nothing is written while any remains.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db import transaction
from core.errors import NotFound
from core.models import Customer, Identity
from core.web.auth import current_operator, read_form
from core.web.keys import NAV, SESSIONS, TEMPLATES
from core.web.pages import NavItem
from core.web.routes import Access, Routes, match_int
from core.web.staff import staff_page
from records.csv_import import MAX_IMPORT_BYTES, ImportFailed, LineProblem, import_records
from records.models import RecordKind, ServiceRecord
from records.queries import list_records, records_of
from records.schedule import DUE_SOON_DAYS
from records.service import delete_record, save_record
from records.validation import FIELDS, Problem, validate
from records.views import today, view

PAGES_DIR = Path(__file__).parent / "pages"
routes = Routes("records-pages")
_SEARCH_MAX = 150


def register(app: web.Application) -> None:
    routes.register(app)
    app[NAV].append(NavItem("nav.records", "/records", Access.ADMIN))


def _describe(request: web.Request, language: str) -> Callable[[Problem], str]:
    """Words for a problem in the admin's language (plain text: the page escapes it once)."""
    templates = request.config_dict[TEMPLATES]

    def describe(problem: Problem) -> str:
        field = templates.render(f"records.field.{problem.field}", language)
        return templates.render(f"records.problem.{problem.code}", language, field=field, **problem.params)

    return describe


async def _render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    operator = current_operator(request)
    context.setdefault("describe", _describe(request, operator.language))
    return await staff_page(
        request,
        name,
        status=status,
        due_soon_days=DUE_SOON_DAYS,
        **context,
    )


async def _missing(request: web.Request, message_key: str) -> web.Response:
    return await _render(request, "records_missing.html", status=404, message_key=message_key)


@routes.get("/records", access=Access.ADMIN, html=True)
async def records_list(request: web.Request) -> web.StreamResponse:
    """Service records: search by customer or serial number, and the ones due soon."""
    text = request.query.get("q", "")[:_SEARCH_MAX]
    due_soon = request.query.get("due") == "1"
    on = today()
    async with transaction(request.config_dict[SESSIONS]) as session:
        found = await list_records(session, text=text, due_soon=due_soon, today=on)
    rows = [(view(record, on), customer_name) for record, customer_name in found.rows]
    return await _render(request, "records_list.html", rows=rows, has_more=found.has_more, q=text, due=due_soon)


async def _form_page(
    request: web.Request,
    form: dict[str, str],
    problems: list[Problem] | None = None,
    record_id: int | None = None,
    status: int = 200,
) -> web.Response:
    errors: dict[str, list[Problem]] = {}
    for problem in problems or []:
        errors.setdefault(problem.field, []).append(problem)
    return await _render(
        request,
        "records_form.html",
        status=status,
        form=form,
        problems=problems or [],
        errors=errors,
        record_id=record_id,
        kinds=[k.value for k in RecordKind],
    )


def _form_of(record: ServiceRecord) -> dict[str, str]:
    def day(value: Any) -> str:
        return value.isoformat() if value is not None else ""

    return {
        "customer": str(record.customer_id),
        "kind": record.kind.value,
        "name": record.name,
        "serial_number": record.serial_number,
        "installed_on": day(record.installed_on),
        "interval_months": str(record.interval_months or ""),
        "last_check_on": day(record.last_check_on),
        "warranty_end": day(record.warranty_end),
        "service_period_end": day(record.service_period_end),
        "note": record.note,
    }


async def _posted_form(request: web.Request) -> dict[str, str]:
    data = await read_form(request)
    # Bounded before validation so that a huge paste is reported as too long, not stored or echoed in full.
    return {name: str(data.get(name, ""))[:4000] for name in FIELDS}


async def _save(request: web.Request, record_id: int | None) -> web.StreamResponse:
    form = await _posted_form(request)
    values, problems = validate(form)
    if values is not None:
        try:
            async with transaction(request.config_dict[SESSIONS]) as session:
                record, problems = await save_record(session, values, record_id)
                customer_id = record.customer_id if record is not None else None
        except NotFound:
            return await _missing(request, "records.missing.record")
        except IntegrityError:
            # Another admin saved the same serial number between the check and the write.
            problems = [Problem("serial_number", "serial_taken", {"value": values.serial_number})]
            customer_id = None
        if customer_id is not None:
            raise web.HTTPSeeOther(f"/records/customers/{customer_id}?saved=1")
    return await _form_page(request, form, problems, record_id, status=422)


@routes.get("/records/new", access=Access.ADMIN, html=True)
async def record_new(request: web.Request) -> web.StreamResponse:
    """The form for a new service record (``?customer=`` fills in whose)."""
    form = dict.fromkeys(FIELDS, "")
    form["customer"] = request.query.get("customer", "")[:150]
    form["kind"] = RecordKind.EQUIPMENT.value
    return await _form_page(request, form)


@routes.post("/records/new", access=Access.ADMIN, html=True)
async def record_create(request: web.Request) -> web.StreamResponse:
    """Add a service record; a bad one comes back in the form with every problem marked."""
    return await _save(request, None)


@routes.get("/records/import", access=Access.ADMIN, html=True)
async def records_import_page(request: web.Request) -> web.StreamResponse:
    """The CSV import: the columns it takes, and the upload form."""
    report = {k: request.query[k] for k in ("created", "updated") if request.query.get(k, "").isdigit()}
    return await _import_page(request, report=report)


async def _import_page(
    request: web.Request,
    status: int = 200,
    report: dict[str, str] | None = None,
    filename: str = "",
    problems: list[LineProblem] | None = None,
) -> web.Response:
    operator = current_operator(request)
    templates = request.config_dict[TEMPLATES]
    describe = _describe(request, operator.language)

    def describe_line(found: LineProblem) -> str:
        """ "file NAME, line N: what is wrong" (without a line for the file as a whole)."""
        what = describe(found.problem)
        if found.line:
            return templates.render(
                "records.import.at_line", operator.language, file=filename, line=found.line, problem=what
            )
        if filename:
            return templates.render("records.import.at_file", operator.language, file=filename, problem=what)
        return what

    return await _render(
        request,
        "records_import.html",
        describe_line=describe_line,
        status=status,
        fields=FIELDS,
        report=report or {},
        filename=filename,
        problems=problems or [],
        max_kib=MAX_IMPORT_BYTES // 1024,
    )


@routes.post("/records/import", access=Access.ADMIN, html=True)
async def records_import(request: web.Request) -> web.StreamResponse:
    """Import a CSV file of service records: every row, or none and every bad line named."""
    data = await read_form(request)
    upload = data.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        missing = LineProblem(0, Problem("file", "no_file"))
        return await _import_page(request, status=422, problems=[missing])
    filename = upload.filename[:200]
    content = upload.file.read(MAX_IMPORT_BYTES + 1)
    try:
        async with transaction(request.config_dict[SESSIONS]) as session:
            report = await import_records(session, filename, content)
    except ImportFailed as failed:
        status = 413 if any(p.problem.code == "too_big" for p in failed.problems) else 422
        return await _import_page(request, status=status, filename=filename, problems=failed.problems)
    raise web.HTTPSeeOther(f"/records/import?created={report.created}&updated={report.updated}")


@routes.get("/records/customers/{id}", access=Access.ADMIN, html=True)
async def customer_records(request: web.Request) -> web.StreamResponse:
    """One customer's service records, with the link to add another."""
    customer_id = match_int(request, "id")
    on = today()
    async with transaction(request.config_dict[SESSIONS]) as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            return await _missing(request, "records.missing.customer")
        identities = list(await session.scalars(select(Identity).where(Identity.customer_id == customer_id)))
        records = [view(record, on) for record in await records_of(session, customer_id)]
    return await _render(
        request,
        "records_customer.html",
        customer=customer,
        identities=identities,
        records=records,
        saved=request.query.get("saved") == "1",
    )


@routes.get("/records/{id}", access=Access.ADMIN, html=True)
async def record_edit(request: web.Request) -> web.StreamResponse:
    """The form for one service record."""
    record_id = match_int(request, "id")
    async with transaction(request.config_dict[SESSIONS]) as session:
        record = await session.get(ServiceRecord, record_id)
        if record is None:
            return await _missing(request, "records.missing.record")
        form = _form_of(record)
    return await _form_page(request, form, record_id=record_id)


@routes.post("/records/{id}", access=Access.ADMIN, html=True)
async def record_update(request: web.Request) -> web.StreamResponse:
    """Change a service record; a bad change comes back in the form with every problem marked."""
    return await _save(request, match_int(request, "id"))


@routes.post("/records/{id}/delete", access=Access.ADMIN, html=True)
async def record_delete(request: web.Request) -> web.StreamResponse:
    """Delete a service record."""
    try:
        async with transaction(request.config_dict[SESSIONS]) as session:
            customer_id = await delete_record(session, match_int(request, "id"))
    except NotFound:
        return await _missing(request, "records.missing.record")
    raise web.HTTPSeeOther(f"/records/customers/{customer_id}")
