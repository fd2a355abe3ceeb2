"""Everything a running hub holds, built once per process at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.base import Adapter
from adapters.registry import AdapterRegistry
from adapters.resilience import ResiliencePolicy
from adapters.rest import RestAdapter
from adapters.sandbox import apps as sandbox_apps
from adapters.soap import SoapAdapter
from adapters.sql import SqlAdapter
from audit import AuditLog, SubjectCommitter
from audit.exports import ExportService
from audit.integrator import Integrator
from audit.service import AuditReader
from audit.signer import LogSigner
from audit.stats import LookupStats
from consent import ConsentService
from document_specs.forms import FormSpec, load_forms
from document_specs.loader import SpecCatalog, load_bundles, load_catalog
from document_specs.model import BundleSpec
from hub.applications.counter_sessions import CounterSessions
from hub.applications.disputes import DisputeService
from hub.applications.files import AttachmentStore
from hub.applications.handoff import HandoffService
from hub.applications.prefill import PrefillService
from hub.applications.service import ApplicationService
from hub.auth.accounts import NumberSealer
from hub.auth.tokens import TokenService
from hub.broker import Broker
from hub.consents import ConsentApp
from hub.credentials.service import CredentialService
from hub.db import create_engine, session_factory
from hub.issuance.service import IssuanceService, build_issuance
from hub.keys import KeyRing, check_production_keys, load_keyring
from hub.settings import SANDBOX_XSD_DIR as SANDBOX_XSD_DIR  # re-exported: tests validate against court.xsd
from hub.settings import Settings
from hub.signing import MANIFEST_TYP, jws_signer
from hub.uow import Trail
from hub.witnessing import Witnessing


@dataclass
class HubState:
    """The services a running hub wires once; routes and pages call these, never through one another."""

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
    issuance: IssuanceService
    sealer: NumberSealer
    audit: AuditLog
    committer: SubjectCommitter
    trail: Trail
    consent: ConsentApp
    exports: ExportService
    stats: LookupStats  # the open statistics: daily lookup counts, published late and suppressed (/stats)
    bundles: dict[str, BundleSpec]
    files: AttachmentStore  # a case's attachments and scans, encrypted at rest (hub/applications/files.py)
    handoff: HandoffService  # the offline hand-off QR to a counter (hub/applications/handoff.py)
    forms: dict[str, FormSpec]
    applications: ApplicationService
    prefill: PrefillService
    form_sessions: CounterSessions
    disputes: DisputeService  # residents' disputes of an access (hub/applications/disputes.py)
    credentials: CredentialService  # SD-JWT VCs the resident holds (hub/credentials)
    witnessing: Witnessing  # checkpoints submitted to the witnesses, their cosignatures (hub/witnessing.py)

    async def close(self) -> None:
        await self.adapters.close()
        await self.witnessing.close()
        await self.engine.dispose()


def agency_policy(settings: Settings, agency: str) -> ResiliencePolicy:
    return ResiliencePolicy(
        timeout=settings.agency_timeout(agency),
        attempt_timeout=settings.agency_attempt_timeout_seconds,
        retries=settings.agency_retries,
        backoff=settings.agency_backoff_seconds,
        failure_threshold=settings.agency_breaker_threshold,
        cooldown=settings.agency_breaker_cooldown_seconds,
    )


def sandbox_transport(settings: Settings, *, include_hostile: bool = False) -> httpx.AsyncBaseTransport:
    """In-process transport to the sandbox HTTP agencies (URLs ``…/sandbox/<agency>/…``)."""
    app = sandbox_apps.create_root_app(settings.agency_database_url, include_hostile=include_hostile)
    return httpx.ASGITransport(app=app)


def http_adapter(
    settings: Settings,
    name: str,
    kind: str,
    *,
    base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    xsd: Path | None = None,
) -> Adapter:
    url = base_url or settings.agency_base_url(name)
    policy = agency_policy(settings, name)
    limit = settings.agency_max_response_bytes
    if kind == "soap":
        return SoapAdapter(name, url, xsd=xsd, policy=policy, transport=transport, max_response_bytes=limit)
    return RestAdapter(name, url, policy=policy, transport=transport, max_response_bytes=limit)


def build_adapters(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> AdapterRegistry:
    """Every agency of ``settings.agencies`` (default: the sandbox set), in the order configured.

    ``transport`` (tests) replaces the network for the HTTP agencies without an explicit base URL, which are
    the sandbox agencies the hub serves itself under ``/sandbox``. In production the sandbox is not wired:
    no in-process sandbox app is built, and a configuration that would fall back to a sandbox address is
    refused (``Settings.check_production``) rather than quietly pointed at ``/sandbox``.
    """
    settings.check_production()
    if transport is None and settings.sandbox_transport == "asgi" and not settings.is_production:
        transport = sandbox_transport(settings)
    registry = AdapterRegistry()
    for name, agency in settings.agencies.items():
        if agency.kind == "sql":
            policy = agency_policy(settings, name)
            registry.add(SqlAdapter(name, settings.agency_database_url(name), policy=policy))
            continue
        explicit = name in settings.agency_base_urls
        via = None if explicit else transport
        registry.add(http_adapter(settings, name, agency.kind, transport=via, xsd=agency.xsd))
    return registry


def build_state(
    settings: Settings, catalog: SpecCatalog | None = None, adapters: AdapterRegistry | None = None
) -> HubState:
    if settings.is_production:
        # Before anything is built or generated: a production hub never creates its own keys on start-up.
        settings.check_production()
        check_production_keys(
            settings.effective_key_dir, settings.effective_pepper_file, settings.sqlite_database_dir
        )
    catalog = catalog if catalog is not None else load_catalog()
    adapters = adapters if adapters is not None else build_adapters(settings)
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
    sealer = NumberSealer(keys.data_key)
    rules = ConsentService(
        sealer=sealer, sign_receipt=jws_signer(keys.token_key, "gongyu-consent-receipt+jws")
    )
    bundles = load_bundles(catalog)  # a broken bundle stops start-up, like a broken spec
    forms = load_forms(catalog)  # and so does a broken application form
    audit_log = AuditLog(sessions)
    trail = Trail(audit_log)
    committer = SubjectCommitter(keys.pepper)
    broker = Broker(catalog, adapters, rules, trail, committer, sessions, bundles)
    signer = LogSigner(settings.origin, keys.log_key.private_key)
    audit_reader = AuditReader(sessions, signer)
    witnessing = Witnessing(
        sessions,
        audit_reader,
        settings.witnesses,
        settings.effective_witness_quorum,
        settings.witness_timeout_seconds,
    )
    return HubState(
        settings,
        engine,
        sessions,
        keys,
        catalog,
        adapters,
        tokens,
        broker,
        audit_reader=audit_reader,
        integrator=Integrator(sessions, signer, on_publish=witnessing.notify),
        issuance=build_issuance(
            issuer=settings.public_url,
            public_url=settings.public_url,
            key_dir=settings.effective_key_dir,
            data_key=keys.data_key,
            sessions=sessions,
            catalog=catalog,
            broker=broker,
            tsa_url=settings.tsa_url,
            font_cache_dir=settings.font_cache_dir,
        ),
        sealer=sealer,
        audit=audit_log,
        committer=committer,
        trail=trail,
        consent=ConsentApp(rules, trail, catalog, bundles, settings.public_url),
        exports=ExportService(audit_reader, audit_log, jws_signer(keys.token_key, MANIFEST_TYP)),
        stats=LookupStats(sessions, jws_signer(keys.token_key, MANIFEST_TYP), known_documents=list(catalog)),
        bundles=dict(bundles),
        files=AttachmentStore.for_hub(settings, trail),
        handoff=HandoffService(
            keys.token_key,
            settings.effective_key_dir,
            trail,
            settings.public_url,
            create_keys=not settings.is_production,
        ),
        forms=forms,
        applications=ApplicationService(forms, trail, sealer),
        prefill=PrefillService(catalog, broker, trail, sealer),
        form_sessions=CounterSessions(trail, frozenset(forms)),
        disputes=DisputeService(audit_reader, trail),
        credentials=CredentialService(
            catalog,
            broker,
            trail,
            public_url=settings.public_url,
            key_dir=settings.effective_key_dir,
            create_keys=not settings.is_production,
        ),
        witnessing=witnessing,
    )
