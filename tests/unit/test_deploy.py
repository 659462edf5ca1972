"""The production files (issue 17 item 3) say what docs/operations.md says they do: the
Dockerfile is multi-stage, its runtime stage installs the wheels only (no source tree, no
compiler) and runs as an unprivileged user; the compose file runs the node, PostgreSQL and a
TLS-terminating proxy, only the proxy reachable from outside; the wheel carries what the node
needs at run time (migrations, templates, vendored static files)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += " " + line.rstrip("\\").strip() if current else line.rstrip("\\").strip()
        if not line.endswith("\\"):
            word, _, rest = current.partition(" ")
            out.append((word.upper(), rest.strip()))
            current = ""
    return out


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in instructions:
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def test_dockerfile_is_multi_stage_non_root_wheel_only() -> None:
    instructions = _instructions((ROOT / "Dockerfile").read_text())
    known = {"ARG", "FROM", "RUN", "WORKDIR", "COPY", "ENV", "USER", "VOLUME", "EXPOSE", "HEALTHCHECK",
             "ENTRYPOINT", "CMD", "LABEL"}
    assert {i for i, _ in instructions} <= known
    stages = _stages(instructions)
    assert len(stages) >= 2
    names = [re.search(r"\bAS\s+(\S+)", s[0][1], re.I) for s in stages]
    assert all(names) and [n.group(1) for n in names if n] == ["build", "runtime"]
    runtime = stages[-1]
    # Nothing of the source tree reaches the runtime stage: only the build stage's wheels.
    copies = [args for i, args in runtime if i == "COPY"]
    assert copies and all(a.startswith("--from=build /wheels ") for a in copies)
    installs = " ".join(args for i, args in runtime if i == "RUN")
    assert "--no-index --find-links /tmp/wheels hanoi-exchange" in installs
    assert "gcc" not in installs and "python3-dev" not in installs
    # An unprivileged user, set before the process starts, and kept to the end.
    users = [args for i, args in runtime if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    last_user = max(n for n, (i, _) in enumerate(runtime) if i == "USER")
    assert all(i not in ("RUN", "USER") for i, _ in runtime[last_user + 1:])
    entry = next(args for i, args in runtime if i == "ENTRYPOINT")
    assert yaml.safe_load(entry) == ["hanoi"]
    health = next(args for i, args in runtime if i == "HEALTHCHECK")
    assert "/readyz" in health
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_compose_node_postgres_and_tls_proxy() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "node", "proxy"}
    assert "ports" not in services["node"] and "ports" not in services["db"]
    assert sorted(services["proxy"]["ports"]) == ["443:443", "80:80"]
    assert compose["networks"]["internal"]["internal"] is True
    assert services["node"]["environment"]["HANOI_DATABASE_URL"].startswith("postgresql://hanoi:")
    assert services["node"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["node"]["build"]["dockerfile"] == "Dockerfile"
    assert "ALL" in services["node"]["cap_drop"]
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy node:8600" in caddy
    assert any("Caddyfile" in v for v in services["proxy"]["volumes"])
    command = services["node"]["command"]
    assert command[0] == "serve" and shlex.join(command).count("--host 0.0.0.0") == 1


@pytest.mark.timeout(600)
def test_the_wheel_carries_what_the_node_needs(tmp_path: Path) -> None:
    # As the Dockerfile's build stage makes it (pip fetches setuptools for the build).
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                           "--wheel-dir", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = next(tmp_path.glob("hanoi_exchange-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("hanoi/store/migrations/env.py", "hanoi/api/static/swagger-ui/swagger-ui-bundle.js",
                   "hanoi/console/translations/fr/LC_MESSAGES/messages.po", "hanoi/py.typed"):
        assert needed in names, needed
    assert any(n.startswith("hanoi/store/migrations/versions/0001") for n in names)
    assert any(n.startswith("hanoi/console/templates/") for n in names)
    assert not any(n.startswith("tests/") for n in names)
