"""A node's home directory and configuration.

``HOME/config.yaml`` holds who the node is and how it runs; ``HOME/identity.key`` its Ed25519
private key (mode 0600); ``HOME/node.db`` the SQLite database unless ``HANOI_DATABASE_URL`` (or
``database_url`` in the config) names PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from hanoi.core.errors import InvalidInput, Problem, TooLarge

CONFIG_FILE = "config.yaml"
KEY_FILE = "identity.key"
DB_FILE = "node.db"
POLICY_FILE = "policy.yaml"
DEFAULT_MAX_IMPORT_BYTES = 100 * 1_048_576  # 100 MiB


class NodeConfig(BaseModel):
    node_id: str
    name: str
    country: str
    kind: str
    key_id: str
    created_at: str
    database_url: str | None = None
    default_region: str | None = None
    checkpoint_interval: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_evidence_bytes: int = Field(default=100 * 1_048_576, ge=1024)
    # The largest document imported in one go (STIX, MISP, CSV signals; hash lists; request,
    # member and policy files), by the CLI and by POST /api/v1/signals/import alike: reading one
    # takes about three times its size in memory, so this bounds an import's memory too.
    max_import_bytes: int = Field(default=DEFAULT_MAX_IMPORT_BYTES, ge=1024)
    public_url: str | None = None
    # Private lookups (docs/privacy.md): a prefix must cover at least this many stored values on
    # average, which sets the prefix length (``hanoi.core.prefixes.prefix_bits``).
    private_lookup_k: int = Field(default=8, ge=1, le=1_000_000)
    # Federation: the current key's start, earlier keys (public halves, with their windows) for
    # verifying what they signed, and the inbox's freshness / size limits and retry backoff.
    key_not_before: str | None = None
    previous_keys: list[dict[str, Any]] = Field(default_factory=list)
    federation_max_skew_seconds: int = Field(default=300, ge=1)
    federation_max_envelope_bytes: int = Field(default=512 * 1024, ge=1024)
    outbox_backoff_base: float = Field(default=1.0, gt=0)
    outbox_backoff_cap: float = Field(default=300.0, gt=0)
    # Bulk items (signals, hash lists; each envelope up to 200 reports) a delivery round takes
    # at most: a round is what an urgent item queued during it waits for.
    outbox_bulk_per_round: int = Field(default=10, ge=1)
    # The console: the zone dates are shown in unless a user chooses another, how long a
    # session lives (idle, and at most), and whether X-Forwarded-Proto / -For from the
    # addresses in ``forwarded_allow_ips`` are believed (only behind a reverse proxy that
    # sets them; otherwise anyone could claim https or another address).
    time_zone: str = "UTC"
    console_idle_minutes: int = Field(default=30, ge=1)
    console_session_hours: int = Field(default=12, ge=1)
    trust_forwarded_headers: bool = False
    # Alerts by e-mail: the SMTP relay this node hands them to (no authentication, STARTTLS
    # when the relay offers it), and the sender address.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "hanoi-alerts@localhost"
    forwarded_allow_ips: str = "127.0.0.1"


def home_from(value: str | os.PathLike[str] | None) -> Path:
    """The home given on the command line, else ``HANOI_HOME``, else ``./.hanoi``."""
    if value:
        return Path(value).expanduser().resolve()
    env = os.environ.get("HANOI_HOME")
    return Path(env).expanduser().resolve() if env else Path(".hanoi").resolve()


def database_url(home: Path, config: NodeConfig) -> str:
    return os.environ.get("HANOI_DATABASE_URL") or config.database_url or f"sqlite:///{home / DB_FILE}"


def import_too_large(size: int, limit: int, what: str = "file", field: str = "file") -> TooLarge:
    """The refusal of an import larger than the node's ``max_import_bytes``."""
    return TooLarge(f"{what} is {size:,} bytes; this node imports at most {limit:,} bytes in one go "
                    "(max_import_bytes in config.yaml)", field)


def load_config(home: Path) -> NodeConfig:
    path = home / CONFIG_FILE
    if not path.exists():
        raise InvalidInput(
            f"no node at {home}: run `hanoi --home {home} init` first",
            [Problem("home", f"{path} does not exist")],
        )
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return NodeConfig.model_validate(data)


def save_config(home: Path, config: NodeConfig) -> None:
    path = home / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config.model_dump(), sort_keys=False), encoding="utf-8")
    tmp.replace(path)
