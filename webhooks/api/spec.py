"""Declaring an API operation once: its auth, roles, query/body/response models, and its place
in the OpenAPI 3.1 document.

We build on pydantic (already what validates mappings and policies): its JSON Schema is the
dialect OpenAPI 3.1 uses, so the document is generated from the very models that validate
requests and shape responses, and schemathesis checks the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

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
    # Set when a schema-valid body can still be refused with 422 because it is a document
    # (policy YAML, a provider's settings) validated by its own parser: says what is checked.
    beyond_schema: str | None = None


OPERATIONS: list[Operation] = []
ALL_ROLES = ("admin", "finance", "sales")
MAX_ID = 2**63 - 1
# PostgreSQL text and jsonb cannot hold NUL, so `_validate` refuses any request value with one;
# the request schemas say so on every string (see RequestSchema).
NO_NUL = "^[^\\x00]*$"
JSON_VALUE = "JsonValue"
ANY_MARK = "x-dunlin-any"
BEYOND_SCHEMA = "x-validated-beyond-schema"
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
    beyond_schema: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the view; it is called as view(principal, [query=], [body=], **path args) and
    returns a pydantic model (or None for 204)."""
    op = Operation(
        method, path, summary, tag, roles, query, body, response, status, public, beyond_schema
    )
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
                kwargs["query"] = _validate(query, _single_query(), "query")
            if body is not None:
                data = json_body()  # size and depth bounded before parsing
                if not isinstance(data, dict):
                    refuse(400, "bad_json", "the body must be a JSON object / 请求体须为 JSON 对象")
                kwargs["body"] = _validate(body, data, "body", strict=True)
            result = view(principal, **kwargs)
            if result is None:
                return Response(status=204)
            out = jsonify(result.model_dump(mode="json"))
            out.status_code = status
            return out

        bp.add_url_rule(path, view.__name__, handler, methods=[method])
        return handler

    return decorate


def _as_json_schema_numbers(value: Any) -> Any:
    """JSON Schema counts 797.0 as an integer, so strict validation must too."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_ID:
        return int(value)
    if isinstance(value, dict):
        return {k: _as_json_schema_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json_schema_numbers(v) for v in value]
    return value


def _single_query() -> dict[str, str]:
    """The query string as one value per name: no parameter of ours is a list, so a repeated
    one is refused rather than silently reduced to its first value."""
    values = request.args.to_dict(flat=False)
    repeated = sorted(k for k, v in values.items() if len(v) > 1)
    if repeated:
        fields = [{"field": k, "message": "given more than once"} for k in repeated]
        raise ApiRefused(422, "invalid", "invalid query / 参数无效", fields)
    return {k: v[0] for k, v in values.items()}


def _validate(
    model: type[BaseModel], data: dict[str, Any], where: str, *, strict: bool = False
) -> BaseModel:
    """Bodies are validated strictly, as JSON: the types the schema states and no others (no
    `0` for a date, no `"5"` for a number, no `"yes"` for a boolean). A query string has only
    text, so its numbers are parsed from it."""
    if has_nul(data):  # PostgreSQL text cannot hold NUL; no legitimate value has one
        refuse(400, "nul_byte", f"the {where} contains a NUL character / 含有 NUL 字符")
    try:
        if strict:
            return model.model_validate_json(json.dumps(_as_json_schema_numbers(data)), strict=True)
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


class RequestSchema(GenerateJsonSchema):
    """JSON Schema of request models that states what `_validate` refuses besides the model's
    own rules: no string, key or free-form value anywhere may contain NUL."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        out = super().str_schema(schema)
        out.setdefault("pattern", NO_NUL)  # our own patterns already exclude NUL
        return out

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        out = super().dict_schema(schema)
        out.setdefault("propertyNames", {"pattern": NO_NUL})
        return out

    def any_schema(self, schema: core_schema.AnySchema) -> JsonSchemaValue:
        return {ANY_MARK: True}  # becomes a JsonValue $ref (pydantic resolves refs it made)

    def generate(self, schema: Any, mode: Any = "validation") -> JsonSchemaValue:
        document: JsonSchemaValue = _any_to_json_value(super().generate(schema, mode=mode))
        return document


def _any_to_json_value(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get(ANY_MARK):
            return {"$ref": f"#/components/schemas/{JSON_VALUE}"}
        return {k: _any_to_json_value(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_any_to_json_value(v) for v in node]
    return node


def json_value_schema() -> dict[str, Any]:
    """Any JSON value without NUL in its strings or keys (free-form settings)."""
    ref = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
    return {
        "anyOf": [
            {"type": "string", "pattern": NO_NUL},
            {"type": ["number", "boolean", "null"]},
            {"type": "array", "items": ref},
            {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": ref,
            },
        ]
    }


def _responses(
    op: Operation, model_ref: Callable[[type[BaseModel]], dict[str, str]]
) -> dict[str, Any]:
    """Every status the operation can answer, each error with the one JSON error body."""
    error = {"content": {"application/json": {"schema": model_ref(ErrorBody)}}}
    ok: dict[str, Any] = {"description": "OK"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": model_ref(op.response)}}
    responses: dict[str, Any] = {
        str(op.status): ok,
        "400": {"description": "Malformed request (not JSON, or a NUL character)", **error},
        "401": {
            "description": "Wrong login" if op.public else "Not authenticated",
            **error,
        },
        "404": {"description": "Not found (or not this org's)", **error},
        "409": {"description": "Conflicts with the current state", **error},
        "422": {"description": _invalid_description(op), **error},
        "429": {"description": "Rate limited", **error},
    }
    if not op.public:
        responses["403"] = {"description": "Not allowed for this role (or no CSRF token)", **error}
    if op.body is not None:
        responses["413"] = {"description": "The body is larger than the server accepts", **error}
    return dict(sorted(responses.items()))


def _invalid_description(op: Operation) -> str:
    if op.beyond_schema:
        return f"Invalid parameters, or {op.beyond_schema}"
    return "Invalid parameters"


def _operation_id(op: Operation) -> str:
    return f"{op.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', op.path.lower()).strip('_')}"


def _links(op: Operation) -> dict[str, Any]:
    """OpenAPI links from an operation that yields ids to the operations on one of them: a
    create (its `id`) or a list (its first item's `id`) → every `<collection>/<int:x>/...`
    operation. Schemathesis follows them in its stateful phase."""
    if op.response is None or op.method not in ("GET", "POST") or _CONVERTER.search(op.path):
        return {}
    fields = op.response.model_fields
    if "items" in fields and op.method == "GET":
        source = "$response.body#/items/0/id"
    elif "id" in fields and op.method == "POST":
        source = "$response.body#/id"
    else:
        return {}
    links: dict[str, Any] = {}
    for target in OPERATIONS:
        if not target.path.startswith(op.path + "/<int:"):
            continue
        params = _CONVERTER.findall(target.path)
        if len(params) != 1:
            continue
        links[_operation_id(target)] = {
            "operationId": _operation_id(target),
            "parameters": {params[0][2]: source},
        }
    return links


def openapi_document(prefix: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {JSON_VALUE: json_value_schema()}

    def ref(
        model: type[BaseModel], generator: type[GenerateJsonSchema] = GenerateJsonSchema
    ) -> dict[str, str]:
        schema = model.model_json_schema(
            ref_template="#/components/schemas/{model}", schema_generator=generator
        )
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        path = prefix + _CONVERTER.sub(r"{\3}", op.path)
        params = [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(conv, args)}
            for conv, args, name in _CONVERTER.findall(op.path)
        ]
        if op.query is not None:
            schema = op.query.model_json_schema(schema_generator=RequestSchema)
            for name, prop in schema.get("properties", {}).items():
                params.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": name in schema.get("required", []),
                        "schema": prop,
                    }
                )
        responses = _responses(op, ref)
        links = _links(op)
        if links:
            responses[str(op.status)]["links"] = links
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(op),
            "tags": [op.tag],
            "parameters": params,
            "responses": responses,
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.body, RequestSchema)}},
            }
        if op.beyond_schema:
            entry[BEYOND_SCHEMA] = op.beyond_schema
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
            "scoped to the caller's org. Every error, whatever its status, is JSON: "
            '`{"error": {"code", "message", "fields"?}}`.',
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
    return {"type": "string", "pattern": "^[^/\\x00]+$"}
