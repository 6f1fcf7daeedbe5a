"""Staff accounts: create, list, change role or password, disable; login with throttling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Operator, Role, utcnow
from core.security import hash_password, verify_password

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
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
        password_hash=hash_password(password),
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
    operator.role = _role(role)
    return operator


async def set_password(session: AsyncSession, login: str, password: str) -> Operator:
    _check_password(password)
    operator = await get_operator(session, login)
    operator.password_hash = hash_password(password)
    operator.failed_logins = 0
    operator.locked_until = None
    return operator


async def set_active(session: AsyncSession, login: str, active: bool) -> Operator:
    operator = await get_operator(session, login)
    operator.active = active
    return operator


async def count_operators(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Operator)) or 0)


@dataclass(frozen=True, slots=True)
class LoginResult:
    operator: Operator | None
    locked_minutes: int = 0


async def authenticate(session: AsyncSession, login: str, password: str) -> LoginResult:
    """Check a login; after repeated failures the account is locked for a while, shared by all workers."""
    operator = await session.scalar(select(Operator).where(Operator.login == login.strip().lower()))
    now = utcnow()
    if operator is None or not operator.active:
        # Spend the same time as a real check so response timing does not reveal which logins exist.
        verify_password(hash_password("x" * MIN_PASSWORD), password)
        return LoginResult(None)
    if operator.locked_until is not None and operator.locked_until > now:
        remaining = operator.locked_until - now
        return LoginResult(None, locked_minutes=max(1, int(remaining.total_seconds() // 60) + 1))
    if not verify_password(operator.password_hash, password):
        operator.failed_logins += 1
        if operator.failed_logins >= MAX_FAILED_LOGINS:
            operator.locked_until = now + LOCKOUT
            operator.failed_logins = 0
            return LoginResult(None, locked_minutes=int(LOCKOUT.total_seconds() // 60))
        return LoginResult(None)
    operator.failed_logins = 0
    operator.locked_until = None
    operator.last_login_at = now
    return LoginResult(operator)
