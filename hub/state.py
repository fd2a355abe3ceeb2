"""Everything a running hub holds, built once per process at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.registry import AdapterRegistry
from adapters.sql import SqlAdapter
from audit import AuditLog, SubjectCommitter
from audit.integrator import Integrator
from audit.service import AuditReader
from audit.signer import LogSigner
from consent import ConsentService
from document_specs.loader import SpecCatalog, load_catalog
from hub.auth.tokens import TokenService
from hub.broker import Broker
from hub.db import create_engine, session_factory
from hub.keys import KeyRing, load_keyring
from hub.settings import Settings

# The sandbox agencies the embedded default connects to; real deployments configure their own.
SQL_AGENCIES = ("mois",)


@dataclass
class HubState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keys: KeyRing
    catalog: SpecCatalog
    adapters: AdapterRegistry
    tokens: TokenService
    broker: Broker
    audit_reader: AuditReader
    integrator: Integrator

    async def close(self) -> None:
        await self.adapters.close()
        await self.engine.dispose()


def build_adapters(settings: Settings) -> AdapterRegistry:
    return AdapterRegistry(
        SqlAdapter(name, settings.agency_database_url(name), timeout=settings.agency_timeout_seconds)
        for name in SQL_AGENCIES
    )


def build_state(settings: Settings, catalog: SpecCatalog | None = None) -> HubState:
    catalog = catalog if catalog is not None else load_catalog()
    adapters = build_adapters(settings)
    adapters.validate((spec.type, spec.adapter, spec.query) for spec in catalog.values())
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    engine = create_engine(settings.effective_database_url)
    sessions = session_factory(engine)
    tokens = TokenService(
        keys.token_key,
        issuer=settings.public_url,
        audience=settings.token_audience,
        ttl_seconds=settings.token_ttl_seconds,
    )
    broker = Broker(catalog, adapters, ConsentService(), AuditLog(sessions), SubjectCommitter(keys.pepper))
    signer = LogSigner(settings.origin, keys.log_key.private_key)
    return HubState(
        settings,
        engine,
        sessions,
        keys,
        catalog,
        adapters,
        tokens,
        broker,
        audit_reader=AuditReader(sessions, signer),
        integrator=Integrator(sessions, signer),
    )
