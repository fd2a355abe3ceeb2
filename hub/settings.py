"""Runtime configuration, read from ``GONGYU_*`` environment variables.

The embedded default (SQLite under ``./var/``) needs no setup so that a newcomer can run the demo with one
command; production points ``GONGYU_DATABASE_URL`` at PostgreSQL. Agency databases are derived from the hub's
URL unless given explicitly, so one switch moves the whole demo to PostgreSQL. The agencies the hub connects
to are configuration too (``GONGYU_AGENCIES``); the default is the sandbox set the demo serves itself.

``GONGYU_ENVIRONMENT=production`` turns those conveniences off: nothing is derived that would point at the
sandbox (agencies, their addresses and the key directory must all be named): ``Settings.production_problems``.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

import adapters.sandbox

# XSDs of the sandbox SOAP agencies (shipped as package data of adapters/sandbox).
SANDBOX_XSD_DIR = Path(adapters.sandbox.__file__).resolve().parent / "xsd"
# An agency's name is part of URLs (``/sandbox/<agency>``) and database names (``…_agency_<agency>``).
AGENCY_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class AgencyConfig(BaseModel):
    """How the hub reaches one agency: its own SQL database, or a REST/JSON or SOAP service.

    The database URL (SQL) or base URL (REST, SOAP) and the resilience settings are the ``agency_*`` settings
    keyed by the same name; ``xsd`` is the schema a SOAP agency's responses are validated against.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sql", "rest", "soap"]
    xsd: Path | None = None

    @model_validator(mode="after")
    def _xsd_only_for_soap(self) -> AgencyConfig:
        if self.xsd is not None and self.kind != "soap":
            raise ValueError(f"xsd is for SOAP agencies, not {self.kind}")
        return self


def sandbox_agencies() -> dict[str, AgencyConfig]:
    """The embedded default: the sandbox agencies (adapters/sandbox), which the hub also serves itself."""
    return {
        "mois": AgencyConfig(kind="sql"),
        "localtax": AgencyConfig(kind="sql"),
        "molit": AgencyConfig(kind="sql"),
        "court": AgencyConfig(kind="soap", xsd=SANDBOX_XSD_DIR / "court.xsd"),
        "nts": AgencyConfig(kind="rest"),
        "nhis": AgencyConfig(kind="rest"),
    }


class WitnessConfig(BaseModel):
    """A witness the hub submits its checkpoints to (c2sp.org/tlog-witness): where, and its cosigner vkey."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str  # the submission prefix: ``{url}/add-checkpoint``
    vkey: str  # what ``gongyu witness init`` prints: ``<name>+<key id>+<base64(0x04 || key)>``

    @field_validator("vkey")
    @classmethod
    def _cosigner_key(cls, value: str) -> str:
        from audit.witness.protocol import ProtocolError, parse_cosigner_vkey

        try:
            parse_cosigner_vkey(value)
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None
        return value.strip()


class ConfigurationError(RuntimeError):
    """A setting a production hub refuses to start with; the message says which and what to set instead."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGYU_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    key_dir: Path | None = None
    audit_pepper_file: Path | None = None
    origin: str = "gongyu.local/log"
    public_url: str = "http://127.0.0.1:8000"
    token_audience: str = "gongyu"  # noqa: S105 - a JWT audience, not a secret
    token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    # The agencies the hub connects to, by name (the ``adapter`` of the document specs), as JSON:
    # ``{"mois": {"kind": "sql"}, "court": {"kind": "soap", "xsd": "/etc/gongyu/court.xsd"}, "nts": {"kind":
    # "rest"}}``. Setting it replaces the whole default (the sandbox agencies), it is not merged with it.
    agencies: dict[str, AgencyConfig] = Field(default_factory=sandbox_agencies)
    # Agency databases: ``{"mois": "sqlite+aiosqlite:///var/agency_mois.db"}``; missing ones are derived.
    agency_database_urls: dict[str, str] = Field(default_factory=dict)
    agency_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Agency resilience (adapters/resilience.py). Per-agency overall deadlines override the default above;
    # an attempt may get a shorter timeout so a retry after a hung attempt still fits in the deadline.
    agency_timeouts: dict[str, float] = Field(default_factory=dict)
    agency_attempt_timeout_seconds: float | None = Field(default=None, gt=0, le=60)
    agency_retries: int = Field(default=2, ge=0, le=5)
    agency_backoff_seconds: float = Field(default=0.05, ge=0, le=5)
    agency_breaker_threshold: int = Field(default=5, ge=1, le=1000)
    agency_breaker_cooldown_seconds: float = Field(default=30.0, ge=0, le=3600)
    agency_max_response_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # HTTP agencies (REST/SOAP): ``{"nts": "https://…"}``; missing ones are ``{public_url}/sandbox/<agency>``.
    agency_base_urls: dict[str, str] = Field(default_factory=dict)
    # How the hub reaches the sandbox HTTP agencies it also serves under /sandbox: "asgi" calls them
    # in-process through httpx's ASGI transport (no port, works whatever port the hub listens on), "http"
    # over the network at their base URL. Agencies with an explicit base URL always use the network.
    sandbox_transport: Literal["asgi", "http"] = "asgi"
    sandbox_resident_count: int = Field(default=10_000, ge=1)
    # E-documents: an external RFC 3161 time-stamping authority (default: the hub's own, in-process), and
    # where the Korean font converted for PDFs is cached (default: ~/.cache/gongyu/fonts).
    tsa_url: str | None = None
    font_cache_dir: Path | None = None
    # How often the audit integrator looks for new events; 0 turns the background task off (tests drive it).
    integrator_interval_seconds: float = Field(default=0.5, ge=0, le=1)
    # How often the open statistics count the days closed since (audit.stats, /stats). The loop runs where the
    # integrator runs in-process; 0 turns it off (then run `gongyu stats refresh`, e.g. from cron).
    stats_refresh_seconds: float = Field(default=3600, ge=0, le=86_400)
    # Notifications (hub/notify): how often the in-process delivery loop polls the outbox (0 turns it off: run
    # `gongyu worker` processes instead), how many messages a worker claims at once and for how long (a killed
    # worker's claims are taken over when the lease runs out), and how often a failing delivery is retried
    # (exponential back-off from the base, with jitter) before it becomes a dead letter.
    notify_interval_seconds: float = Field(default=0.5, ge=0, le=60)
    # ``GONGYU_NOTIFY_BATCH`` (or ``GONGYU_NOTIFY_BATCH_SIZE``): a batch costs one claim and one record
    # whatever its size, so larger batches make each message cheaper (docs/performance.md).
    notify_batch_size: int = Field(
        default=200,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("notify_batch_size", "GONGYU_NOTIFY_BATCH", "GONGYU_NOTIFY_BATCH_SIZE"),
    )
    # Deliveries in flight at once per worker: webhooks of a batch side by side (as many connections per
    # endpoint), e-mails on PostgreSQL with one resident's in order. 1 sends one after the other.
    notify_concurrency: int = Field(default=16, ge=1, le=64)
    notify_lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    # E-mail notices (hub/notify/email.py): the SMTP server (``smtp://host:port``, ``smtps://user:pass@host``
    # for implicit TLS; ``?starttls=1`` upgrades a plain connection), unset sends no e-mail; the sender shown.
    # ``gongyu demo`` points it at an embedded sink that keeps mail under ``var/mail/`` (a Maildir).
    smtp_url: str | None = None
    mail_from: str = "Gongyu <notices@gongyu.test>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Webhook receivers on loopback or private addresses (hub/notify/ssrf.py): refused unless this is set,
    # so a client cannot make the hub POST into its own network; the demo and tests set it for a receiver
    # on 127.0.0.1. Production refuses to start with it.
    webhook_allow_private: bool = False
    # ``/dev/mail`` lists the demo's Maildir: on in development, off in test unless set, never in production.
    dev_mail: bool | None = None
    # Where sign-in failures, request rates and signed-out tokens are counted (hub/ratelimit.py): unset is
    # this process's memory (one worker); ``redis://host:6379/0`` lets several workers share them.
    rate_limit_url: str | None = None
    # Witnesses that cosign every checkpoint (hub/witnessing.py), as JSON: ``[{"url": "http://127.0.0.1:8101",
    # "vkey": "<what gongyu witness init printed>"}]``; unset, checkpoints are signed by the log alone. The
    # quorum is how many valid cosignatures verifiers require (unset: every configured witness).
    witnesses: list[WitnessConfig] = Field(default_factory=list)
    witness_quorum: int | None = Field(default=None, ge=1)
    witness_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and make_url(value).drivername not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
            raise ValueError("GONGYU_DATABASE_URL must use sqlite+aiosqlite or postgresql+asyncpg")
        return value

    @field_validator("agencies")
    @classmethod
    def _agency_names(cls, value: dict[str, AgencyConfig]) -> dict[str, AgencyConfig]:
        for name in value:
            if not AGENCY_NAME.fullmatch(name):
                raise ValueError(f"agency name {name!r}: a-z, 0-9 and _, starting with a letter, at most 40")
        return value

    @model_validator(mode="after")
    def _quorum_reachable(self) -> Settings:
        if self.witness_quorum is not None and self.witness_quorum > len(self.witnesses):
            raise ValueError(
                f"GONGYU_WITNESS_QUORUM={self.witness_quorum} but only {len(self.witnesses)} witnesses are "
                "configured"
            )
        return self

    @property
    def effective_witness_quorum(self) -> int:
        """How many valid cosignatures a checkpoint needs: the configured quorum, or every witness."""
        return len(self.witnesses) if self.witness_quorum is None else self.witness_quorum

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def mail_dir(self) -> Path:
        """The demo's mail sink (a Maildir): what ``gongyu demo`` stores and ``/dev/mail`` lists."""
        return self.var_dir / "mail"

    @property
    def dev_mail_enabled(self) -> bool:
        """Whether ``/dev/mail`` is served: development by default, test when asked, production never."""
        if self.is_production:
            return False
        return self.dev_mail if self.dev_mail is not None else self.environment == "development"

    def production_problems(self) -> list[str]:
        """What this configuration lacks to run in production (empty when nothing, or when not production).

        The development defaults all lead to the sandbox: the sandbox agency set, agency databases derived
        beside the hub's, HTTP agencies at ``{public_url}/sandbox/...`` and keys under ``var/``. Each is
        fine for the demo and wrong in production, where the sandbox is neither served nor wired, so
        production requires each to be named rather than silently falling back to it.
        """
        if not self.is_production:
            return []
        problems = []
        if "agencies" not in self.model_fields_set:
            problems.append(
                "GONGYU_AGENCIES is not set: production does not use the sandbox agencies; name the agencies "
                'the hub connects to, e.g. {"mois": {"kind": "sql"}, "nts": {"kind": "rest"}}'
            )
        else:
            for name, agency in self.agencies.items():
                if agency.kind == "sql" and name not in self.agency_database_urls:
                    problems.append(
                        f"agency {name!r}: no database URL in GONGYU_AGENCY_DATABASE_URLS (production does "
                        "not derive the sandbox's database beside the hub's)"
                    )
                if agency.kind != "sql" and name not in self.agency_base_urls:
                    problems.append(
                        f"agency {name!r}: no base URL in GONGYU_AGENCY_BASE_URLS (production does not call "
                        "the sandbox under /sandbox)"
                    )
        if self.webhook_allow_private:
            problems.append(
                "GONGYU_WEBHOOK_ALLOW_PRIVATE is set: production sends webhooks to public addresses only "
                "(unset it)"
            )
        if self.key_dir is None:
            problems.append("GONGYU_KEY_DIR is not set: create the keys with `gongyu keys init` into it")
        return problems

    def check_production(self) -> None:
        """Raise ``ConfigurationError`` listing every production problem at once (one restart fixes all)."""
        problems = self.production_problems()
        if problems:
            raise ConfigurationError("refusing to start in production:\n- " + "\n- ".join(problems))

    @property
    def sqlite_database_dir(self) -> Path | None:
        """The directory holding the hub's SQLite database file (None on PostgreSQL or in memory)."""
        url = make_url(self.effective_database_url)
        if self.is_postgres or not url.database or url.database == ":memory:":
            return None
        return Path(url.database).resolve().parent

    @cached_property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'gongyu.db'}"

    @property
    def is_postgres(self) -> bool:
        return make_url(self.effective_database_url).drivername.startswith("postgresql")

    @property
    def effective_key_dir(self) -> Path:
        return self.key_dir or self.var_dir / "keys"

    @property
    def effective_pepper_file(self) -> Path:
        return self.audit_pepper_file or self.effective_key_dir / "audit-pepper"

    def agency_timeout(self, agency: str) -> float:
        return self.agency_timeouts.get(agency, self.agency_timeout_seconds)

    def agency_base_url(self, agency: str) -> str:
        return self.agency_base_urls.get(agency) or f"{self.public_url.rstrip('/')}/sandbox/{agency}"

    def agency_database_url(self, agency: str) -> str:
        """Async URL of a sandbox agency's own database: a sibling file or a sibling PostgreSQL database."""
        if agency in self.agency_database_urls:
            return self.agency_database_urls[agency]
        url = make_url(self.effective_database_url)
        if self.is_postgres:
            return url.set(database=f"{url.database}_agency_{agency}").render_as_string(hide_password=False)
        base = Path(url.database or str(self.var_dir / "gongyu.db"))
        return f"sqlite+aiosqlite:///{base.with_name(f'{base.stem}_agency_{agency}.db')}"


def async_url(url: str) -> str:
    """Accept the usual spellings of a database URL and return the async driver's."""
    parsed = make_url(url)
    driver = {
        "sqlite": "sqlite+aiosqlite",
        "sqlite+pysqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgresql+psycopg2": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def sync_url(async_url: str) -> str:
    """The same database through a synchronous driver, for migrations and seeding scripts."""
    url = make_url(async_url)
    driver = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg2"}.get(url.drivername)
    return url.set(drivername=driver or url.drivername).render_as_string(hide_password=False)
