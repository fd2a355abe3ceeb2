"""A worker delivers a batch's messages concurrently on PostgreSQL (issue 12's 1,000 webhooks/s), while one
recipient's messages still go one after the other, in the order they were written."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from hub.notify.dispatch import Dispatcher, InboxChannel, Message
from hub.notify.models import DELIVERED, OutboxRow
from tests.api.test_notifications import announced
from tests.conftest import Backend

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


class Watching(InboxChannel):
    """The inbox, slowed a little, noting how many deliveries overlap and each resident's order."""

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = {}
        self.most_at_once = 0
        self.overlapped_one_recipient = False
        self.order: dict[str, list[str]] = {}

    async def deliver(self, session: Any, message: Message) -> str | None:
        recipient = message.subject_commitment or f"account:{message.account_id}"  # staff: by account
        self.overlapped_one_recipient |= self.in_flight.get(recipient, 0) > 0
        self.in_flight[recipient] = self.in_flight.get(recipient, 0) + 1
        self.most_at_once = max(self.most_at_once, sum(self.in_flight.values()))
        try:
            await asyncio.sleep(0.01)
            self.order.setdefault(recipient, []).append(message.message_id)
            return await super().deliver(session, message)
        finally:
            self.in_flight[recipient] -= 1


async def test_a_batch_is_delivered_concurrently_and_each_recipient_in_order(
    postgres_backend: Backend,
) -> None:
    from hub.state import build_state

    state = build_state(postgres_backend.settings)
    try:
        subjects = [
            state.committer.commit(r["resident_number"].replace("-", "")) for r in postgres_backend.residents
        ]
        written: dict[str, list[str]] = {}
        for subject in subjects:
            ids = set(await announced(state, subject, count=3))
            async with state.sessions() as session:
                in_seq = await session.execute(
                    select(OutboxRow.message_id).where(OutboxRow.message_id.in_(ids)).order_by(OutboxRow.seq)
                )
                written[subject] = list(in_seq.scalars())
        channel = Watching()
        worker = Dispatcher(
            state.sessions, state.keys.data_key, channels={"inbox": channel}, batch_size=50, concurrency=4
        )
        while await worker.run_once():
            pass
        assert len(subjects) > 1
        assert channel.most_at_once > 1  # the batch's recipients were served side by side
        assert not channel.overlapped_one_recipient
        for subject, message_ids in written.items():
            assert [m for m in channel.order[subject] if m in message_ids] == message_ids
        mine = [m for ids in written.values() for m in ids]
        async with state.sessions() as session:
            statuses = await session.execute(select(OutboxRow.status).where(OutboxRow.message_id.in_(mine)))
            assert list(statuses.scalars()) == [DELIVERED] * len(mine)
    finally:
        await state.close()
