"""The API's documentation is served from the package: Swagger UI at /docs loads nothing from
another origin (nodes run air-gapped), and its files are the vendored ones."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from hanoi.api.app import SWAGGER_UI_DIR, SWAGGER_UI_VERSION


def test_swagger_ui_is_served_from_the_package(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", page.text)
    linked = [u for pair in urls for u in pair if u]
    assert linked and all(u.startswith("/") and not u.startswith("//") for u in linked), linked
    assert "/openapi.json" in page.text
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        asset = client.get(f"/docs/static/{name}")
        assert asset.status_code == 200
        assert asset.content == (SWAGGER_UI_DIR / name).read_bytes()
    assert f"swagger-ui-dist@{SWAGGER_UI_VERSION}" in (SWAGGER_UI_DIR / "README.md").read_text()
    assert (SWAGGER_UI_DIR / "LICENSE-swagger-ui.txt").is_file()
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not served
