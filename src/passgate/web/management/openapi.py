"""``GET /api/v2/openapi.json``: an OpenAPI 3.1 document generated from the operations.

Every path, method, parameter, body schema, answer and scope comes from the same
:class:`~passgate.web.management.operations.Operation` declarations the router serves,
so the document says what passgate serves and nothing else. Each operation documents the
errors it can answer (404 when its path names something; 400, 401, 403, 413, 429 and 503
always: the body cap holds for every call, also one that takes no body) in Auth0's error
body, the ``x-ratelimit-*`` headers on every authenticated answer and ``retry-after`` on
a 429.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from passgate.domain.management_api import MANAGEMENT_API_NAME, MANAGEMENT_SCOPES
from passgate.web.management.operations import Operation, QueryParam

__all__ = ["openapi_document"]

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["statusCode", "error", "message", "errorCode"],
    "properties": {
        "statusCode": {"type": "integer"},
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errorCode": {"type": "string"},
    },
}
_RATE_HEADERS = {
    "x-ratelimit-limit": "Calls the token's bucket holds.",
    "x-ratelimit-remaining": "Calls left in the token's bucket now.",
    "x-ratelimit-reset": "When the bucket is full again, in seconds since the Unix epoch.",
}
_ALWAYS = {
    401: "Missing or invalid token (not ours, expired, another audience or issuer, a "
    "user's token).",
    403: "The token has none of the scopes the operation needs.",
    429: "The token's rate limit is reached: see the x-ratelimit-* and retry-after headers.",
    503: "A storage backend is unreachable.",
}


def _scope_description(scope: str) -> str:
    action, _, thing = scope.partition(":")
    return f"{action.capitalize()} {thing.replace('_', ' ')}"


def _headers(limited: bool) -> dict[str, Any]:
    if not limited:
        return {}
    return {
        "headers": {
            name: {"description": text, "schema": {"type": "integer"}}
            for name, text in _RATE_HEADERS.items()
        }
    }


_RETRY_AFTER = {
    "description": "Seconds until the token's bucket holds a call again.",
    "schema": {"type": "integer"},
}


def _error_answer(description: str, *, limited: bool = True) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        **_headers(limited),
    }


def _rate_limited() -> dict[str, Any]:
    answer = _error_answer(_ALWAYS[429])
    answer["headers"] = {**answer["headers"], "retry-after": _RETRY_AFTER}
    return answer


def _query_schema(param: QueryParam) -> dict[str, Any]:
    if param.documented is not None:
        return dict(param.documented)
    schema: dict[str, Any] = {"type": param.type}
    if param.type == "string":
        if param.min_length:
            schema["minLength"] = param.min_length
        if param.max_length is not None:
            schema["maxLength"] = param.max_length
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    return schema


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {
            "name": param.name,
            "in": "path",
            "required": True,
            "description": param.description,
            "schema": dict(param.schema),
        }
        for param in operation.path_params
    ]
    found += [
        {
            "name": param.name,
            "in": "query",
            "required": param.required,
            "description": param.description,
            "schema": _query_schema(param),
        }
        for param in operation.query
    ]
    return found


def _responses(operation: Operation) -> dict[str, Any]:
    answer = operation.answer
    success: dict[str, Any] = {"description": answer.description, **_headers(True)}
    if answer.schema is not None:
        success["content"] = {answer.media_type: {"schema": dict(answer.schema)}}
    responses: dict[str, Any] = {str(answer.status): success}
    # Every operation refuses unknown or repeated query parameters and unwanted bodies.
    responses["400"] = _error_answer("A parameter or the body is refused (the message says which).")
    responses["401"] = _error_answer(_ALWAYS[401], limited=False)
    responses["403"] = _error_answer(_ALWAYS[403])
    if operation.not_found is not None:
        responses["404"] = _error_answer(operation.not_found)
    if operation.conflict is not None:
        responses["409"] = _error_answer(operation.conflict)
    if operation.body is not None or operation.form is not None:
        responses["413"] = _error_answer("The body is larger than the server accepts.")
    else:  # the cap is checked before the body is refused
        responses["413"] = _error_answer(
            "A body (which this operation does not take) larger than the server accepts."
        )
    responses["429"] = _rate_limited()
    responses["503"] = _error_answer(_ALWAYS[503], limited=False)
    return responses


def _operation(operation: Operation) -> dict[str, Any]:
    scopes = list(operation.scopes)
    document: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "responses": _responses(operation),
        "security": [{"bearerAuth": scopes}, {"oAuth2ClientCredentials": scopes}],
        "x-required-scopes": scopes,
    }
    if operation.description:
        document["description"] = operation.description
    parameters = _parameters(operation)
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": dict(operation.body)}},
        }
    if operation.form is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": dict(operation.form)}},
        }
    return document


def _openapi_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "This document",
            "operationId": "get_openapi",
            "tags": ["openapi"],
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI 3.1 document of the Management API.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }


#: A path parameter's Starlette convertor (``{id:path}``), which OpenAPI does not spell.
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def openapi_document(operations: Sequence[Operation], *, issuer: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` served under ``<issuer>api/v2``."""
    base = issuer.rstrip("/")
    paths: dict[str, Any] = {"/openapi.json": _openapi_path()}
    for operation in operations:
        path = _CONVERTOR.sub(r"{\1}", operation.path)
        paths.setdefault(path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": MANAGEMENT_API_NAME,
            "version": "2.0",
            "description": "The part of Auth0's Management API v2 that passgate serves, in "
            "Auth0's shapes. Call it with a client-credentials access token for the "
            f"audience {base}/api/v2/ holding the operation's scope. Paths under "
            "/passgate/ (tag passgate) are passgate extensions that Auth0 does not have.",
        },
        "servers": [{"url": f"{base}/api/v2"}],
        "tags": [{"name": name} for name in sorted({op.tag for op in operations} | {"openapi"})],
        "paths": paths,
        "components": {
            "schemas": {"Error": _ERROR_SCHEMA},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "oAuth2ClientCredentials": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": f"{base}/oauth/token",
                            "scopes": {
                                scope: _scope_description(scope) for scope in MANAGEMENT_SCOPES
                            },
                        }
                    },
                },
            },
        },
    }
