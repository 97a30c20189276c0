"""The OpenAPI document, made usable by client generators (openapi-python-client and others).

FastAPI describes an upload as {"type": "string", "contentMediaType": "application/octet-stream"}
(OpenAPI 3.1); generators look for `format: binary`, type the field as text without it, and the
generated client's POST /explain then gets 422. Every such schema gets `format: binary` too.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def _binary(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("contentMediaType") == "application/octet-stream":
            node["format"] = "binary"
        for value in node.values():
            _binary(value)
    elif isinstance(node, list):
        for value in node:
            _binary(value)


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _binary(generate())  # FastAPI caches the document in app.openapi_schema
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
