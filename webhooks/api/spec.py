"""Declaring an API operation once: its auth, roles, query/body/response models, and its place
in the OpenAPI 3.1 document.

We build on pydantic (already what validates mappings and policies): its JSON Schema is the
dialect OpenAPI 3.1 uses, so the document is generated from the very models that validate
requests and shape responses, and schemathesis checks the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError

from webhooks.api.auth import authenticate
from webhooks.edge import Refused, has_nul, json_body, refuse


class ApiModel(BaseModel):
    """Bodies reject unknown fields, so a typo is an error and not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


@dataclass
class Operation:
    method: str
    path: str  # Flask rule
    summary: str
    tag: str
    roles: tuple[str, ...]
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    public: bool
    errors: tuple[int, ...] = field(default=())


OPERATIONS: list[Operation] = []
ALL_ROLES = ("admin", "finance", "sales")
MAX_ID = 2**63 - 1
_CONVERTER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def operation(
    bp: Blueprint,
    method: str,
    path: str,
    summary: str,
    *,
    tag: str,
    roles: tuple[str, ...] = ALL_ROLES,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    public: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the view; it is called as view(principal, [query=], [body=], **path args) and
    returns a pydantic model (or None for 204)."""
    op = Operation(method, path, summary, tag, roles, query, body, response, status, public)
    OPERATIONS.append(op)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def handler(**path_args: Any) -> Response:
            if any(isinstance(v, int) and v > MAX_ID for v in path_args.values()):
                refuse(404, "not_found", "not found / 未找到")  # beyond BIGINT: cannot exist
            principal = None if public else authenticate()
            if principal is not None and principal.role not in roles:
                refuse(403, "forbidden", f"role {principal.role!r} may not do this / 无此权限")
            kwargs: dict[str, Any] = dict(path_args)
            if query is not None:
                kwargs["query"] = _validate(query, request.args.to_dict(), "query")
            if body is not None:
                data = json_body()  # size and depth bounded before parsing
                if not isinstance(data, dict):
                    refuse(400, "bad_json", "the body must be a JSON object / 请求体须为 JSON 对象")
                kwargs["body"] = _validate(body, data, "body")
            result = view(principal, **kwargs)
            if result is None:
                return Response(status=204)
            out = jsonify(result.model_dump(mode="json"))
            out.status_code = status
            return out

        bp.add_url_rule(path, view.__name__, handler, methods=[method])
        return handler

    return decorate


def _validate(model: type[BaseModel], data: dict[str, Any], where: str) -> BaseModel:
    if has_nul(data):  # PostgreSQL text cannot hold NUL; no legitimate value has one
        refuse(400, "nul_byte", f"the {where} contains a NUL character / 含有 NUL 字符")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise ApiRefused(422, "invalid", f"invalid {where} / 参数无效", fields) from exc


class ApiRefused(Refused):
    def __init__(self, status: int, code: str, reason: str, fields: list[dict[str, Any]]) -> None:
        super().__init__(status, code, reason)
        self.fields = fields

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:
        response = jsonify(
            error={"code": self.error_code, "message": self.reason, "fields": self.fields}
        )
        response.status_code = self.code or 422
        return response


def openapi_document(prefix: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error = {"content": {"application/json": {"schema": ref(ErrorBody)}}}
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        path = prefix + _CONVERTER.sub(r"{\3}", op.path)
        params = [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(conv, args)}
            for conv, args, name in _CONVERTER.findall(op.path)
        ]
        if op.query is not None:
            schema = op.query.model_json_schema()
            for name, prop in schema.get("properties", {}).items():
                params.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": name in schema.get("required", []),
                        "schema": prop,
                    }
                )
        responses: dict[str, Any] = {
            str(op.status): {"description": "OK"}
            if op.response is None
            else {
                "description": "OK",
                "content": {"application/json": {"schema": ref(op.response)}},
            },
            "400": {"description": "Malformed request", **error},
            "404": {"description": "Not found (or not this org's)", **error},
            "409": {"description": "Conflicts with an existing row", **error},
            "422": {"description": "Invalid parameters", **error},
            "429": {"description": "Rate limited", **error},
        }
        if not op.public:
            responses["401"] = {"description": "Not authenticated", **error}
            responses["403"] = {"description": "Not allowed for this role", **error}
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', op.path.lower()).strip('_')}",
            "tags": [op.tag],
            "parameters": params,
            "responses": responses,
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.body)}},
            }
        if op.public:
            entry["security"] = []
        paths.setdefault(path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dunlin admin API",
            "version": "1",
            "description": "Orgs, people and tokens, sources, mappings, policies, the ledger "
            "(customers, receivables, reminders, tasks, events) and channels. Every call is "
            "scoped to the caller's org.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
        "security": [{"token": []}, {"session": []}],
    }


def _path_schema(converter: str, args: str) -> dict[str, Any]:
    if converter == "int":
        return {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    if converter == "any":
        return {"type": "string", "enum": [a.strip() for a in args.split(",")]}
    return {"type": "string"}
