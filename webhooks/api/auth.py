"""Who is calling the admin API: an API token (stored as its SHA-256 only) or a browser session
(signed cookie; unsafe methods also need the CSRF token). Every principal belongs to one org,
and every query the API makes filters on it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import request, session
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from dunlin.db import utcnow
from dunlin.users import ApiToken, User
from webhooks.edge import dunlin_app, refuse

TOKEN_PREFIX = "dln_"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Principal:
    org_id: int
    user_id: int
    role: str
    salesperson_ref: str | None
    via: str  # token, session
    token_id: int | None = None  # the API token this call authenticated with

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


def new_token() -> tuple[str, str]:
    """(the token to show once, its hash to store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            refuse(
                401, "unauthenticated", "use `Authorization: Bearer <token>` / 请使用 Bearer 令牌"
            )
        return _by_token(token.strip())
    if "user_id" in session:
        principal = _by_session()
        if request.method not in SAFE_METHODS:
            from webhooks.security import csrf

            try:
                csrf.protect()
            except CSRFError as exc:
                refuse(403, "csrf", f"{exc.description} / 缺少或错误的 CSRF 令牌")
        return principal
    refuse(401, "unauthenticated", "an API token or a session is required / 需要令牌或登录")


def _by_token(token: str) -> Principal:
    with dunlin_app().factory() as db, db.begin():
        row = db.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        ).first()
        if row is None or not row.User.active:
            refuse(401, "unauthenticated", "unknown or revoked token / 令牌无效或已吊销")
        now = utcnow()
        if row.ApiToken.last_used_at is None or now - row.ApiToken.last_used_at > timedelta(
            minutes=1
        ):
            row.ApiToken.last_used_at = now
        user = row.User
        return Principal(
            user.org_id, user.id, user.role, user.salesperson_ref, "token", row.ApiToken.id
        )


def _by_session() -> Principal:
    with dunlin_app().factory() as db:
        user = db.get(User, session["user_id"])
    if user is None or not user.active or user.org_id != session.get("org_id"):
        session.clear()
        refuse(401, "unauthenticated", "the session has ended / 会话已失效")
    return Principal(user.org_id, user.id, user.role, user.salesperson_ref, "session")
