"""``GONGYU_ENVIRONMENT=production``: the hub refuses what only the demo may do (issue 16, point 1).

The app is started with ``Settings(environment="production", ...)`` on a database of its own (production
accounts, a key directory made by ``gongyu keys init``) and each refusal is checked: the sandbox is neither
served nor wired, the demo's principals cannot be created, key material that is missing, readable by others,
a placeholder or stored beside the database stops start-up, cookies are Secure, HSTS is sent and /readyz
names the mode.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.routing import Mount
from typer.testing import CliRunner

import hub.state
from adapters.http import HttpAdapter
from hub.app import create_app
from hub.auth.accounts import create_account
from hub.cli import app as cli
from hub.cli.accounts import DemoRefused, seed_demo_principals
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.keys import DATA_KEY_FILE, TOKEN_KEY_FILE, KeyMaterialError
from hub.migrate import upgrade
from hub.settings import ConfigurationError, Settings, sandbox_agencies
from hub.state import HubState, build_state

pytestmark = pytest.mark.anyio

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SQL_AGENCIES = [name for name, agency in sandbox_agencies().items() if agency.kind == "sql"]
HTTP_AGENCIES = [name for name, agency in sandbox_agencies().items() if agency.kind != "sql"]


def _init_keys(key_dir: Path, **env: str) -> str:
    """Run ``gongyu keys init`` as an operator would, in production mode."""
    result = CliRunner().invoke(
        cli,
        ["keys", "init"],
        env={"GONGYU_ENVIRONMENT": "production", "GONGYU_KEY_DIR": str(key_dir), **env},
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A key directory made by ``gongyu keys init`` and a migrated database with one official, apart."""
    keys = tmp_path_factory.mktemp("prod-keys") / "keys"
    _init_keys(keys)
    db_dir = tmp_path_factory.mktemp("prod-db")
    settings = production_settings(keys, db_dir)
    upgrade(settings)

    async def official() -> None:
        engine = create_async_engine(settings.effective_database_url)
        async with session_factory(engine)() as session, session.begin():
            await create_account(
                session,
                username="prod-official",
                password="a long production password",
                role="official",
                display_name="Official",
                org="Production Office",
            )
        await engine.dispose()

    asyncio.run(official())
    return keys, db_dir


def production_settings(key_dir: Path, db_dir: Path, **overrides: object) -> Settings:
    """Every agency named, with explicit addresses (port 9 refuses at once: nothing is ever asked)."""
    values: dict[str, object] = {
        "environment": "production",
        "var_dir": db_dir,
        "database_url": f"sqlite+aiosqlite:///{db_dir / 'hub.db'}",
        "key_dir": key_dir,
        "agencies": sandbox_agencies(),
        "agency_database_urls": {
            name: f"sqlite+aiosqlite:///{db_dir / f'agency_{name}.db'}" for name in SQL_AGENCIES
        },
        "agency_base_urls": {name: f"http://127.0.0.1:9/{name}" for name in HTTP_AGENCIES},
        "integrator_interval_seconds": 0,
        "log_json": True,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def prod(provisioned: tuple[Path, Path]) -> AsyncIterator[tuple[httpx.AsyncClient, HubState]]:
    keys, db_dir = provisioned
    app = create_app(production_settings(keys, db_dir))
    async with LifespanManager(app) as manager:
        state: HubState = app.state.hub
        transport = httpx.ASGITransport(app=manager.app)
        # Plain http on the test host: the one place development and test mode leave cookies not Secure.
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client, state


def _copy_keys(provisioned: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "keys"
    shutil.copytree(provisioned[0], copy)  # copy2: the 0700/0600 modes come along
    return copy


def _refused(settings: Settings, *fragments: str) -> str:
    with pytest.raises(KeyMaterialError) as caught:
        build_state(settings)
    message = str(caught.value)
    assert message.startswith("refusing to start in production")
    for fragment in fragments:
        assert fragment in message
    return message


# -- the sandbox ------------------------------------------------------------------------------------------


async def test_sandbox_is_not_served(prod: tuple[httpx.AsyncClient, HubState]) -> None:
    client, _ = prod
    query = await client.post(
        "/sandbox/nts/v1/tax-payment-certificates/query", json={"resident_number": "900101-1234567"}
    )
    assert query.status_code == 404
    assert (await client.get("/sandbox/nhis/health")).status_code == 404


def test_sandbox_is_mounted_only_outside_production(provisioned: tuple[Path, Path], tmp_path: Path) -> None:
    def mounts(settings: Settings) -> set[str]:
        return {route.path for route in create_app(settings).routes if isinstance(route, Mount)}

    assert "/sandbox" in mounts(Settings(environment="test", var_dir=tmp_path))
    assert "/sandbox" not in mounts(production_settings(*provisioned))


async def test_no_sandbox_adapter_is_wired(
    provisioned: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sandbox(*args: object, **kwargs: object) -> None:
        raise AssertionError("production built the in-process sandbox")

    monkeypatch.setattr(hub.state, "sandbox_transport", no_sandbox)
    state = build_state(production_settings(*provisioned))
    try:
        assert set(state.adapters) == set(sandbox_agencies())
        for name in HTTP_AGENCIES:
            adapter = state.adapters[name]
            assert isinstance(adapter, HttpAdapter)
            assert str(adapter.client.base_url).rstrip("/") == f"http://127.0.0.1:9/{name}"
    finally:
        await state.close()


def test_the_sandbox_default_does_not_apply_in_production(provisioned: tuple[Path, Path]) -> None:
    keys, db_dir = provisioned
    # Settings as the environment gives them: GONGYU_AGENCIES unset means "not configured", not "sandbox".
    implicit = Settings(environment="production", key_dir=keys, var_dir=db_dir)
    with pytest.raises(ConfigurationError, match="GONGYU_AGENCIES is not set"):
        build_state(implicit)
    # Named, but left to the derived sandbox addresses.
    derived = production_settings(keys, db_dir, agency_base_urls={}, agency_database_urls={})
    with pytest.raises(ConfigurationError) as caught:
        build_state(derived)
    for name in sandbox_agencies():
        assert f"agency {name!r}" in str(caught.value)
    no_key_dir = production_settings(keys, db_dir).model_copy(update={"key_dir": None})
    with pytest.raises(ConfigurationError, match="GONGYU_KEY_DIR is not set"):
        build_state(no_key_dir)


def test_development_and_test_keep_the_sandbox_default(tmp_path: Path) -> None:
    for environment in ("development", "test"):
        settings = Settings(environment=environment, var_dir=tmp_path)  # type: ignore[arg-type]
        assert settings.production_problems() == []
        assert set(settings.agencies) == set(sandbox_agencies())


# -- demo principals --------------------------------------------------------------------------------------


def test_gongyu_demo_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["demo", "--no-serve"],
        env={"GONGYU_ENVIRONMENT": "production", "GONGYU_VAR_DIR": str(tmp_path)},
    )
    assert result.exit_code == 2
    assert "refused in production" in result.output
    assert not (tmp_path / "keys").exists()  # refused before anything was created


def test_demo_principals_cannot_be_created(provisioned: tuple[Path, Path]) -> None:
    with pytest.raises(DemoRefused):
        asyncio.run(seed_demo_principals(production_settings(*provisioned), []))
    result = CliRunner().invoke(
        cli,
        ["accounts", "add", "--username", "official", "--role", "official", "--display-name", "x"],
        input="official-demo\nofficial-demo\n",
        env={"GONGYU_ENVIRONMENT": "production"},
    )
    assert result.exit_code == 2 and "demo password" in result.output


# -- key material -----------------------------------------------------------------------------------------


def test_keys_init_creates_owner_only_files_and_keeps_existing_keys(provisioned: tuple[Path, Path]) -> None:
    keys, _ = provisioned
    for root, dirs, files in os.walk(keys):
        assert os.stat(root).st_mode & 0o777 == 0o700
        for name in files:
            assert os.stat(Path(root) / name).st_mode & 0o777 == 0o600, name
    before = (keys / TOKEN_KEY_FILE).read_bytes()
    again = _init_keys(keys)
    assert "created" not in again and "kept" in again
    assert (keys / TOKEN_KEY_FILE).read_bytes() == before


def test_group_or_world_readable_keys_are_refused(provisioned: tuple[Path, Path], tmp_path: Path) -> None:
    keys = _copy_keys(provisioned, tmp_path)
    settings = production_settings(keys, provisioned[1])
    os.chmod(keys, 0o755)
    _refused(settings, f"{keys.resolve()} is group/world-accessible", "chmod 700")
    os.chmod(keys, 0o700)
    os.chmod(keys / DATA_KEY_FILE, 0o644)
    _refused(settings, f"{(keys / DATA_KEY_FILE).resolve()} is group/world-accessible", "chmod 600")


def test_missing_keys_are_refused_not_created(provisioned: tuple[Path, Path], tmp_path: Path) -> None:
    keys = _copy_keys(provisioned, tmp_path)
    (keys / DATA_KEY_FILE).unlink()
    _refused(production_settings(keys, provisioned[1]), f"{keys / DATA_KEY_FILE} is missing", "keys init")
    assert not (keys / DATA_KEY_FILE).exists()
    _refused(production_settings(tmp_path / "nowhere", provisioned[1]), "does not exist")


async def test_start_up_fails_on_bad_keys(provisioned: tuple[Path, Path], tmp_path: Path) -> None:
    keys = _copy_keys(provisioned, tmp_path)
    (keys / DATA_KEY_FILE).unlink()
    with pytest.raises(KeyMaterialError):
        async with LifespanManager(create_app(production_settings(keys, provisioned[1]))):
            pass


def test_placeholder_keys_are_refused(provisioned: tuple[Path, Path], tmp_path: Path) -> None:
    keys = _copy_keys(provisioned, tmp_path)
    settings = production_settings(keys, provisioned[1])
    pepper = keys / "audit-pepper"
    pepper.write_bytes(b"changeme-changeme-changeme-changeme")
    _refused(settings, f"{pepper} holds a placeholder")
    pepper.write_bytes(b"\x00" * 32)
    _refused(settings, f"{pepper} holds a placeholder")
    pepper.write_bytes(os.urandom(32))
    # The RFC 8032 test key, copied from a tutorial.
    rfc8032 = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    pem = Ed25519PrivateKey.from_private_bytes(rfc8032).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (keys / TOKEN_KEY_FILE).write_bytes(pem)
    _refused(settings, f"{keys / TOKEN_KEY_FILE} holds a well-known or placeholder key")


def test_pepper_beside_the_database_is_refused(provisioned: tuple[Path, Path], tmp_path: Path) -> None:
    keys, db_dir = provisioned
    pepper = db_dir / "audit-pepper"
    shutil.copy2(keys / "audit-pepper", pepper)
    try:
        _refused(production_settings(keys, db_dir, audit_pepper_file=pepper), "stored next to the database")
    finally:
        pepper.unlink()
    # The default key directory under var/, beside the SQLite file, is refused the same way.
    beside = db_dir / "keys"
    shutil.copytree(keys, beside)
    try:
        _refused(production_settings(beside, db_dir), "stored next to the database")
    finally:
        shutil.rmtree(beside)


# -- HTTP -------------------------------------------------------------------------------------------------


def _attributes(set_cookie: str) -> list[str]:
    return [part.strip().lower() for part in set_cookie.split(";")]


async def test_session_cookies_are_secure(prod: tuple[httpx.AsyncClient, HubState]) -> None:
    client, _ = prod
    page = await client.get("/login")
    login_cookie = page.headers["set-cookie"]
    assert login_cookie.startswith("gy_login_csrf=") and "secure" in _attributes(login_cookie)
    token = CSRF.search(page.text)
    assert token
    # A Secure cookie is not sent back over plain http, so the form's cookie goes along by hand.
    signed_in = await client.post(
        "/login",
        data={"username": "prod-official", "password": "a long production password", "csrf": token.group(1)},
        headers={"Cookie": login_cookie.split(";")[0]},
    )
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("gy_session=") and "secure" in _attributes(cookie)


async def test_hsts_is_sent(prod: tuple[httpx.AsyncClient, HubState]) -> None:
    client, _ = prod
    for path in ("/healthz", "/login", "/.well-known/gongyu/keys", "/static/gongyu.css", "/no-such-page"):
        response = await client.get(path)
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", path


async def test_readyz_reports_the_mode(prod: tuple[httpx.AsyncClient, HubState]) -> None:
    client, state = prod
    ready = await client.get("/readyz")
    # The agencies of this test are unreachable by design (port 9): the answer is 503, but it names the mode.
    assert ready.json()["environment"] == "production"
    assert ready.json()["checks"]["database"] == "ok"
    assert state.settings.is_production
