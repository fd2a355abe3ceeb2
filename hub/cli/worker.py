"""``gongyu worker``: deliver the notifications outbox, apart from the web process.

Run as many as the load needs: on PostgreSQL they claim disjoint batches (``SKIP LOCKED``), and one killed
with ``kill -9`` loses nothing (its claims are taken over when their lease runs out). The demo runs the same
loop inside the web process instead (``GONGYU_NOTIFY_INTERVAL_SECONDS``; set it to 0 where workers run).

Each worker also runs the consent sweep (``hub.notify.sweep``) about once a minute: the consents that came to
expire within three days, expired or were used up are recorded and announced there, since no request does
it. Several workers sweeping at once record each moment once.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from hub.cli.common import console, open_sessions
from hub.settings import Settings


def worker(
    interval: Annotated[
        float, typer.Option(help="seconds to wait when the outbox has nothing due", min=0.05, max=60)
    ] = 0.5,
    once: Annotated[bool, typer.Option("--once", help="deliver what is due now, then exit")] = False,
) -> None:
    """Deliver notifications (inbox, e-mail, webhooks) and sweep consents until stopped (Ctrl-C, SIGTERM)."""
    from hub.keys import load_keyring
    from hub.notify.dispatch import from_settings

    settings = Settings()
    settings.check_production()
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)

    async def main() -> None:
        engine, sessions = open_sessions(settings)
        dispatcher = from_settings(settings, sessions, keys.data_key)
        try:
            if once:
                swept = await dispatcher.sweeper() if dispatcher.sweeper is not None else 0
                total = 0
                while claimed := await dispatcher.run_once():
                    total += claimed
                console.print(f"recorded {swept} consent moment(s); delivered or retried {total} message(s)")
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            console.print(f"worker {dispatcher.worker_id}: delivering (Ctrl-C stops after the current batch)")
            await dispatcher.run(interval, stop)
        finally:
            await engine.dispose()

    asyncio.run(main())
