"""The caller's org, its users, API tokens, and browser sessions."""

from __future__ import annotations

from flask import session as cookie
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from dunlin.db import transaction, utcnow
from dunlin.events import record_event
from dunlin.models import Org
from dunlin.users import ApiToken, User
from webhooks.api import bp
from webhooks.api import schemas as s
from webhooks.api.auth import Principal, new_token
from webhooks.api.common import owned, page
from webhooks.api.spec import operation
from webhooks.edge import dunlin_app, refuse

ADMIN = ("admin",)


def _org_out(org: Org) -> s.OrgOut:
    return s.OrgOut.model_validate(org, from_attributes=True)


def _user_out(user: User) -> s.UserOut:
    return s.UserOut.model_validate(user, from_attributes=True)


def _token_out(token: ApiToken) -> s.TokenOut:
    return s.TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        user_id=token.user_id,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked=token.revoked_at is not None,
    )


@operation(bp, "GET", "/org", "The caller's org", tag="org", response=s.OrgOut)
def get_org(p: Principal) -> s.OrgOut:
    with dunlin_app().factory() as db:
        return _org_out(db.get_one(Org, p.org_id))  # the caller was authenticated in it


@operation(
    bp,
    "PATCH",
    "/org",
    "Change the org's name, zone, language or currency",
    tag="org",
    roles=ADMIN,
    body=s.OrgPatch,
    response=s.OrgOut,
)
def patch_org(p: Principal, body: s.OrgPatch) -> s.OrgOut:
    with transaction(dunlin_app().factory) as db:
        org = db.get(Org, p.org_id)
        assert org is not None
        for key, value in body.model_dump(exclude_none=True).items():
            setattr(org, key, value)
        record_event(db, p.org_id, "org.changed", ", ".join(body.model_fields_set), actor=p.actor)
        return _org_out(org)


@operation(
    bp, "GET", "/users", "List users", tag="users", roles=ADMIN, query=s.Page, response=s.UserList
)
def list_users(p: Principal, query: s.Page) -> s.UserList:
    with dunlin_app().factory() as db:
        rows, nxt = page(
            db, select(User).where(User.org_id == p.org_id), User, query.after, query.limit
        )
        return s.UserList(items=[_user_out(u) for u in rows], next_after=nxt)


@operation(
    bp,
    "POST",
    "/users",
    "Add a user",
    tag="users",
    roles=ADMIN,
    body=s.UserIn,
    response=s.UserOut,
    status=201,
)
def create_user(p: Principal, body: s.UserIn) -> s.UserOut:
    with transaction(dunlin_app().factory) as db:
        taken = db.scalar(select(User.id).where(User.org_id == p.org_id, User.email == body.email))
        if taken is not None:
            refuse(409, "exists", "a user with this email exists / 该邮箱已存在")
        user = User(
            org_id=p.org_id,
            email=body.email,
            name=body.name,
            role=body.role,
            salesperson_ref=body.salesperson_ref,
            password_hash=generate_password_hash(body.password) if body.password else None,
            active=True,
        )
        db.add(user)
        db.flush()
        record_event(
            db, p.org_id, "user.created", body.email, subject=("user", user.id), actor=p.actor
        )
        return _user_out(user)


@operation(
    bp, "GET", "/users/<int:user_id>", "One user", tag="users", roles=ADMIN, response=s.UserOut
)
def get_user(p: Principal, user_id: int) -> s.UserOut:
    with dunlin_app().factory() as db:
        return _user_out(owned(db, User, user_id, p))


@operation(
    bp,
    "PATCH",
    "/users/<int:user_id>",
    "Change a user's role, password or state",
    tag="users",
    roles=ADMIN,
    body=s.UserPatch,
    response=s.UserOut,
)
def patch_user(p: Principal, user_id: int, body: s.UserPatch) -> s.UserOut:
    with transaction(dunlin_app().factory) as db:
        user = owned(db, User, user_id, p)
        changes = body.model_dump(exclude_unset=True)
        if user.id == p.user_id and (
            changes.get("active") is False or changes.get("role") not in (None, "admin")
        ):
            # Another admin may; an org must not lose its admin to one call of its own.
            refuse(409, "self", "you cannot deactivate or demote yourself / 不能停用或降级自己")
        password = changes.pop("password", None)
        if password:
            user.password_hash = generate_password_hash(password)
        for key, value in changes.items():
            if value is not None or key == "salesperson_ref":
                setattr(user, key, value)
        record_event(
            db,
            p.org_id,
            "user.changed",
            ", ".join(sorted(body.model_fields_set)),
            subject=("user", user.id),
            actor=p.actor,
        )
        return _user_out(user)


@operation(
    bp,
    "GET",
    "/tokens",
    "List API tokens (never their values)",
    tag="tokens",
    roles=ADMIN,
    query=s.Page,
    response=s.TokenList,
)
def list_tokens(p: Principal, query: s.Page) -> s.TokenList:
    with dunlin_app().factory() as db:
        base = select(ApiToken).where(ApiToken.org_id == p.org_id)
        rows, nxt = page(db, base, ApiToken, query.after, query.limit)
        return s.TokenList(items=[_token_out(t) for t in rows], next_after=nxt)


@operation(
    bp,
    "POST",
    "/tokens",
    "Create an API token (shown once)",
    tag="tokens",
    roles=ADMIN,
    body=s.TokenIn,
    response=s.TokenCreated,
    status=201,
)
def create_token(p: Principal, body: s.TokenIn) -> s.TokenCreated:
    with transaction(dunlin_app().factory) as db:
        user = owned(db, User, body.user_id or p.user_id, p)
        token, digest = new_token()
        row = ApiToken(
            org_id=p.org_id,
            user_id=user.id,
            name=body.name,
            prefix=token[:10],
            token_hash=digest,
            created_at=utcnow(),
        )
        db.add(row)
        db.flush()
        record_event(
            db, p.org_id, "token.created", body.name, subject=("token", row.id), actor=p.actor
        )
        return s.TokenCreated(**_token_out(row).model_dump(), token=token)


@operation(
    bp,
    "DELETE",
    "/tokens/<int:token_id>",
    "Revoke an API token",
    tag="tokens",
    roles=ADMIN,
    status=204,
)
def revoke_token(p: Principal, token_id: int) -> None:
    with transaction(dunlin_app().factory) as db:
        row = owned(db, ApiToken, token_id, p)
        if row.id == p.token_id:
            # Revoke it with another token or from the console; a script that revoked the
            # token it runs on would fail on its next call with no way to undo it.
            refuse(409, "self", "a token cannot revoke itself / 令牌不能吊销自身")
        row.revoked_at = row.revoked_at or utcnow()
        record_event(
            db, p.org_id, "token.revoked", row.name, subject=("token", row.id), actor=p.actor
        )


@operation(
    bp,
    "POST",
    "/session",
    "Log in (for the console): sets a session cookie",
    tag="session",
    body=s.LoginIn,
    response=s.SessionOut,
    public=True,
)
def login(_p: None, body: s.LoginIn) -> s.SessionOut:
    with dunlin_app().factory() as db:
        user = db.scalar(
            select(User)
            .join(Org, Org.id == User.org_id)
            .where(Org.slug == body.org, User.email == body.email)
        )
    if (
        user is None
        or not user.active
        or not user.password_hash
        or not check_password_hash(user.password_hash, body.password)
    ):
        refuse(401, "bad_login", "wrong org, email or password / 组织、邮箱或密码错误")
    cookie.clear()
    cookie["user_id"], cookie["org_id"] = user.id, user.org_id
    return s.SessionOut(user=_user_out(user), csrf_token=generate_csrf())


@operation(bp, "DELETE", "/session", "Log out", tag="session", status=204)
def logout(_p: Principal) -> None:
    cookie.clear()
