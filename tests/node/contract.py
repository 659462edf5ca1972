"""Every response the API tests see must be what the OpenAPI document says: the status is
declared, and a JSON body validates against the declared schema, strictly (an object may carry
no key its schema does not name, unless the schema says it may). The document is what partners
generate their clients from, so it may not drift from the wire."""

from __future__ import annotations

import copy
import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


class Contract:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.components = _strict(copy.deepcopy(spec.get("components", {})))
        self.routes: list[tuple[str, re.Pattern[str], dict[str, Any]]] = []
        for path, ops in spec["paths"].items():
            rx = re.compile("^" + re.sub(r"\{(\w+)(:path)?\}", lambda m: ".+" if m.group(2) else "[^/]+", path) + "$")
            for method, op in ops.items():
                self.routes.append((method.upper(), rx, op))
        self.routes.sort(key=lambda r: r[1].pattern.count("[^/]+") + 10 * r[1].pattern.count(".+"))
        self.checked = 0

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        return next((op for m, rx, op in self.routes if m == method and rx.match(path)), None)

    def check(self, response: httpx.Response) -> None:
        request = response.request
        op = self.operation(request.method, request.url.path)
        if op is None:
            return  # not an API operation (the console, the Swagger UI)
        declared = op["responses"].get(str(response.status_code))
        assert declared is not None, (f"{request.method} {request.url.path} answered {response.status_code}, "
                                      f"which its operation {op['operationId']} does not declare")
        media = response.headers.get("content-type", "").split(";")[0].strip()
        content = declared.get("content", {})
        if "json" not in media or not content:
            return
        same = [c for m, c in content.items() if m.split(";")[0] == media]
        assert same, f"{op['operationId']} {response.status_code} answered {media}, declared {sorted(content)}"
        schema = same[0].get("schema")
        if not schema:
            return  # a document in another format (an export): declared as such, not described
        response.read()
        errors = sorted(Draft202012Validator({**_strict(schema), "components": self.components})
                        .iter_errors(response.json()), key=lambda e: list(e.absolute_path))
        assert not errors, (f"{op['operationId']} {response.status_code}: the body is not what the OpenAPI "
                            "document says: " + "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                                                          for e in errors[:5]))
        self.checked += 1
