"""``gongyu integrator``: sequence the audit log apart from the web processes.

By default every ``gongyu serve`` worker runs the integrator in-process
(``GONGYU_INTEGRATOR_INTERVAL_SECONDS``, 0.5 s): the zero-setup shape. At scale the API workers should only
append: an integration round hashes a batch of leaves, writes its nodes and signs a checkpoint, CPU work that
otherwise runs on the event loop serving lookups and shows in their slowest latencies. This process takes
that work, with what follows each checkpoint (submitting it to the witnesses, counting the open statistics),
and the serving processes are started with ``gongyu serve --no-integrator``.

Any number may run: on PostgreSQL each round goes to whoever holds the advisory lock (``audit.integrator``),
so a second integrator is a standby, not a second writer, and killing one loses nothing (appended events wait
as rows until the next round).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from hub.cli.common import console
from hub.settings import Settings


def integrator(
    interval: Annotated[
        float,
        typer.Option(
            help="seconds between rounds when nothing is pending (a backlog runs at once)", min=0.05, max=1
        ),
    ] = 0.5,
    once: Annotated[bool, typer.Option("--once", help="integrate what is pending now, then exit")] = False,
) -> None:
    """Integrate the audit log (leaf indices, nodes, signed checkpoints), submit checkpoints to the witnesses
    and count the open statistics, apart from the web processes, until stopped (Ctrl-C, SIGTERM)."""
    from hub import stats
    from hub.state import build_state

    settings = Settings()
    settings.check_production()

    async def main() -> None:
        state = build_state(settings)
        try:
            if once:
                total, size = 0, 0
                while True:
                    result = await state.integrator.integrate_once()
                    total, size = total + result.integrated, result.tree_size
                    if result.integrated == 0:
                        break
                if state.witnessing.enabled:
                    await state.witnessing.submit_latest()
                console.print(f"integrated {total} event(s); the log holds {size} leaves")
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            tasks = [asyncio.create_task(state.integrator.run(interval, stop), name="audit-integrator")]
            if settings.stats_refresh_seconds > 0:
                every = settings.stats_refresh_seconds
                tasks.append(asyncio.create_task(stats.refresh_loop(state.stats, every, stop), name="stats"))
            if state.witnessing.enabled:
                tasks.append(asyncio.create_task(state.witnessing.run(stop), name="audit-witnessing"))
            witnesses = len(state.witnessing.vkeys) if state.witnessing.enabled else 0
            console.print(
                f"integrator: a round every {interval} s when idle, {witnesses} witness(es) to submit to"
                " (Ctrl-C stops after the current round)"
            )
            await asyncio.gather(*tasks)
        finally:
            await state.close()

    asyncio.run(main())
