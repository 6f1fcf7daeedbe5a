"""Staff accounts: create, list, change role or password, disable; their server-side session records.

A password change, a disable and a role change end every open session of the account.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Operator, Role, StaffSession, utcnow
from core.security import hash_password

MIN_PASSWORD = 8


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"unknown role {value!r}", known=[r.value for r in Role]) from None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")


async def add_operator(
    session: AsyncSession,
    login: str,
    password: str,
    role: str = "operator",
    name: str = "",
    language: str = "ru",
) -> Operator:
    login = login.strip().lower()
    if not login:
        raise InvalidInput("a login is required")
    _check_password(password)
    if await session.scalar(select(Operator).where(Operator.login == login)) is not None:
        raise Conflict(f"operator {login!r} already exists")
    operator = Operator(
        login=login,
        name=name or login,
        password_hash=await asyncio.to_thread(hash_password, password),
        role=_role(role),
        language=language,
    )
    session.add(operator)
    await session.flush()
    return operator


async def get_operator(session: AsyncSession, login: str) -> Operator:
    operator = await session.scalar(select(Operator).where(Operator.login == login.strip().lower()))
    if operator is None:
        raise NotFound(f"no operator {login!r}")
    return operator


async def list_operators(session: AsyncSession) -> list[Operator]:
    return list((await session.execute(select(Operator).order_by(Operator.login))).scalars())


async def set_role(session: AsyncSession, login: str, role: str) -> Operator:
    operator = await get_operator(session, login)
    new_role = _role(role)
    if new_role is not operator.role:
        await end_all_sessions(session, operator.id)
    operator.role = new_role
    return operator


async def set_password(session: AsyncSession, login: str, password: str) -> Operator:
    _check_password(password)
    operator = await get_operator(session, login)
    operator.password_hash = await asyncio.to_thread(hash_password, password)
    await end_all_sessions(session, operator.id)
    return operator


async def set_active(session: AsyncSession, login: str, active: bool) -> Operator:
    operator = await get_operator(session, login)
    operator.active = active
    if not active:
        await end_all_sessions(session, operator.id)
    return operator


async def count_active_admins(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(Operator).where(Operator.role == Role.ADMIN, Operator.active.is_(True))
    return int(await session.scalar(stmt) or 0)


async def count_operators(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Operator)) or 0)


async def find_for_sign_in(session: AsyncSession, login: str) -> Operator | None:
    """The account a sign-in names, or None; the password is checked by the caller, outside the transaction."""
    return await session.scalar(select(Operator).where(Operator.login == login.strip().lower()))


async def record_sign_in(session: AsyncSession, operator_id: int, max_age: int) -> str:
    """A new session record for a successful sign-in; returns the token for the cookie."""
    now = utcnow()
    operator = await session.get_one(Operator, operator_id)
    operator.last_login_at = now
    # Expired records of this account go when it signs in again: no sweeper needed to keep the table small.
    await session.execute(
        delete(StaffSession).where(StaffSession.operator_id == operator_id, StaffSession.expires_at < now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_token_hash(token), operator_id=operator_id, expires_at=now + timedelta(seconds=max_age)
        )
    )
    await session.flush()
    return token


async def session_operator(session: AsyncSession, token: str) -> Operator | None:
    """The active account of a live session record (one query), or None."""
    stmt = (
        select(Operator)
        .join(StaffSession, StaffSession.operator_id == Operator.id)
        .where(StaffSession.token_hash == _token_hash(token), StaffSession.expires_at > utcnow())
        .where(Operator.active.is_(True))
    )
    return await session.scalar(stmt)


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))


async def end_all_sessions(session: AsyncSession, operator_id: int) -> int:
    """End every session of an account; returns how many were open."""
    result = await session.execute(delete(StaffSession).where(StaffSession.operator_id == operator_id))
    return int(getattr(result, "rowcount", 0) or 0)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
