"""``gongyu worker``: deliver the notifications outbox, apart from the web process.

Run as many as the load needs: on PostgreSQL they claim disjoint batches (``SKIP LOCKED``), and one killed
with ``kill -9`` loses nothing (its claims are taken over when their lease runs out). The demo runs the same
loop inside the web process instead (``GONGYU_NOTIFY_INTERVAL_SECONDS``; set it to 0 where workers run).

Each worker also runs the consent sweep (``hub.notify.sweep``) about once a minute: the consents that came to
expire within three days, expired or were used up are recorded and announced there, since no request does
it. Several workers sweeping at once record each moment once. Beside it runs the deadline sweep
(``hub.applications.deadline_sweep``): the assigned official of an open case is alerted two business days
before its due date, on the day and once it is overdue, each stage once, also with several workers.
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
        float,
        typer.Option(
            help="seconds to wait when the outbox has nothing due (doubled while idle, up to 1 s or this)",
            min=0.05,
            max=60,
        ),
    ] = 0.5,
    once: Annotated[bool, typer.Option("--once", help="deliver what is due now, then exit")] = False,
) -> None:
    """Deliver notifications (inbox, e-mail, webhooks), sweep consents and case deadlines until stopped
    (Ctrl-C, SIGTERM)."""
    from audit import AuditLog
    from hub.applications import deadline_sweep
    from hub.keys import load_keyring
    from hub.notify.dispatch import from_settings
    from hub.uow import Trail

    settings = Settings()
    settings.check_production()
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)

    async def main() -> None:
        engine, sessions = open_sessions(settings)
        dispatcher = from_settings(settings, sessions, keys.data_key)
        trail = Trail(AuditLog(sessions))
        try:
            if once:
                swept = await dispatcher.sweeper() if dispatcher.sweeper is not None else 0
                alerted = await deadline_sweep.sweep(sessions, trail)
                total = 0
                while claimed := await dispatcher.run_once():
                    total += claimed
                console.print(
                    f"recorded {swept} consent moment(s) and {alerted} deadline alert(s); "
                    f"delivered or retried {total} message(s)"
                )
                return
            dispatcher.sweeper = deadline_sweep.alongside(dispatcher.sweeper, sessions, trail)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            console.print(f"worker {dispatcher.worker_id}: delivering (Ctrl-C stops after the current batch)")
            await dispatcher.run(interval, stop)
        finally:
            await engine.dispose()

    asyncio.run(main())
