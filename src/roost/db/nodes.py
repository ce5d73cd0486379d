"""Leases the node number that makes this process's ids unique (see roost.ids).

The id_nodes table holds one row per node number. A process claims a row whose lease
has expired with a conditional UPDATE (atomic on SQLite and PostgreSQL alike), renews
it while it runs and gives it back when it stops. A process that dies leaves a lease
that expires after LEASE_MS, so its node number is free again then and never earlier.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket

import structlog
from sqlalchemy import and_, update

from roost.db.engine import Database
from roost.db.tables import id_nodes
from roost.events.context import IN_DISPATCHER
from roost.ids import NODE_COUNT, now_ms

LEASE_MS = 5 * 60 * 1000
RENEW_EVERY_S = 60.0

log = structlog.get_logger(__name__)


class NoFreeNode(RuntimeError):
    pass


def _holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"


class NodeLease:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.holder = _holder_name()
        self.node: int | None = None
        self._renewer: asyncio.Task[None] | None = None

    async def acquire(self) -> int:
        candidates = list(range(NODE_COUNT))
        random.shuffle(candidates)  # spread claims so concurrent starters rarely collide
        for node in candidates:
            now = now_ms()
            async with self.db.write() as conn:
                result = await conn.execute(
                    update(id_nodes)
                    .where(and_(id_nodes.c.node_id == node, id_nodes.c.expires_at_ms < now))
                    .values(holder=self.holder, expires_at_ms=now + LEASE_MS)
                )
            if result.rowcount == 1:
                self.node = node
                return node
        raise NoFreeNode(f"all {NODE_COUNT} id nodes are leased; too many live processes")

    async def renew(self) -> bool:
        assert self.node is not None
        async with self.db.write() as conn:
            result = await conn.execute(
                update(id_nodes)
                .where(and_(id_nodes.c.node_id == self.node, id_nodes.c.holder == self.holder))
                .values(expires_at_ms=now_ms() + LEASE_MS)
            )
        return result.rowcount == 1

    def start_renewing(self) -> None:
        self._renewer = asyncio.create_task(self._renew_forever(), name="id-node-lease")

    async def _renew_forever(self) -> None:
        IN_DISPATCHER.set(True)  # background work: its statements are not a request's
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                if not await self.renew():
                    # Someone took our node after our lease lapsed: our ids could now
                    # collide, so stopping is safer than going on.
                    log.critical("id node lease lost", node=self.node)
                    os._exit(70)
            except Exception:
                # A database blip: the lease is still good for minutes; try again later.
                log.exception("id node lease renewal failed", node=self.node)

    async def release(self, *, free_after_ms: int = 0) -> None:
        """Gives the node back. `free_after_ms` is the generator's last_issued_ms: after a
        burst it has stamped ids with moments the clock has not reached yet, and a
        successor on this node must not stamp those moments again."""
        if self._renewer is not None:
            self._renewer.cancel()
        if self.node is None:
            return
        async with self.db.write() as conn:
            await conn.execute(
                update(id_nodes)
                .where(and_(id_nodes.c.node_id == self.node, id_nodes.c.holder == self.holder))
                .values(expires_at_ms=free_after_ms)
            )
        self.node = None
