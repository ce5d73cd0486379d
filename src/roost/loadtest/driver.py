"""The asyncio load driver: one aiohttp connection pool, C virtual users, a hard stop.

Each virtual user is a closed loop (send, wait for the answer, maybe think, repeat) with
its own `random.Random`, seeded from `--seed` and its index, so the draws of a run are
reproducible (the interleaving with the server is not). The run lasts `duration` seconds
in all; the first `warmup` seconds are sent but not counted. At the deadline no new
request starts; requests in flight get `grace` seconds to finish, then are cancelled
(and counted as `cancelled`, not as errors).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from roost.loadtest.cpu import CpuSnapshot, snapshot
from roost.loadtest.stats import Recorder
from roost.loadtest.tokens import BenchUser, WeightedPicker


class BenchError(RuntimeError):
    """The run cannot start (server unreachable, tokens rejected); the message says why."""


@dataclass
class RunConfig:
    url: str
    users: list[BenchUser]
    scenario: str
    duration: float
    warmup: float
    concurrency: int
    seed: int
    think_scale: float = 1.0
    timeout: float = 30.0
    grace: float = 5.0
    server_pid: int | None = None


@dataclass
class RunResult:
    recorder: Recorder
    measured_seconds: float
    warmup_requests: int
    lookups: int
    cancelled: int
    started_at_unix: float
    client_cpu_seconds: float  # CPU time of this process over the measured window
    cpu_start: CpuSnapshot | None = None
    cpu_end: CpuSnapshot | None = None
    wall_start: float = 0.0  # perf_counter at the measured window's start
    wall_end: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass
class Reply:
    status: int | None  # None: no HTTP answer (connection error, timeout)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        if not self.ok or not self.body:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


class Client:
    """Sends requests for the virtual users and records each under a stable name."""

    def __init__(self, session: aiohttp.ClientSession, config: RunConfig) -> None:
        self.session = session
        self.base = config.url.rstrip("/")
        self.users = config.users
        self.picker = WeightedPicker([u.weight for u in config.users])
        self.headers = [{"Authorization": f"Bearer {u.token}"} for u in config.users]
        self.recorder = Recorder()
        self.measure_start = 0.0
        self.stop_at = 0.0
        self.warmup_requests = 0
        self.lookups = 0
        self.error_samples: set[str] = set()
        self._account_ids: dict[int, asyncio.Future[str | None]] = {}
        for index, user in enumerate(config.users):
            if user.account_id:
                self._known(index, user.account_id)

    def _known(self, index: int, account_id: str) -> None:
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        future.set_result(account_id)
        self._account_ids[index] = future

    def running(self) -> bool:
        return time.perf_counter() < self.stop_at

    def remaining(self) -> float:
        return self.stop_at - time.perf_counter()

    async def send(self, name: str, method: str, path: str, user: int, *,
                   params: Mapping[str, str] | None = None,
                   data: Mapping[str, str] | None = None,
                   keep_body: bool = False) -> Reply:
        started = time.perf_counter()
        status: int | None = None
        error_kind: str | None = None
        body = b""
        try:
            async with self.session.request(method, self.base + path, params=params, data=data,
                                            headers=self.headers[user]) as response:
                body = await response.read()
                status = response.status
        except TimeoutError:
            error_kind = "timeout"
        except aiohttp.ClientError as exc:
            error_kind = "connection"
            if len(self.error_samples) < 5:
                self.error_samples.add(f"{name}: {type(exc).__name__}: {exc}"[:300])
        finished = time.perf_counter()
        if error_kind == "connection":  # a server that is gone must not spin the loop
            await asyncio.sleep(0.05)
        if finished < self.measure_start:
            self.warmup_requests += 1
        else:
            micros = None if status is None else int((finished - started) * 1_000_000)
            self.recorder.add(name, finished - self.measure_start, micros, status, error_kind)
        return Reply(status, body if keep_body else b"")

    async def account_id(self, index: int) -> str | None:
        """The account id of user `index`, from the file or looked up once (not counted)."""
        future = self._account_ids.get(index)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._account_ids[index] = future
            found: str | None = None
            try:
                async with self.session.get(
                    self.base + "/api/v1/accounts/verify_credentials",
                    headers=self.headers[index],
                ) as response:
                    body = await response.read()
                    if response.status == 200:
                        found = str(orjson.loads(body)["id"])
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, KeyError):
                found = None
            self.lookups += 1
            if found is None:  # try again next time rather than remember a failure
                del self._account_ids[index]
            future.set_result(found)
            return found
        return await future

    async def think(self, rng: random.Random, scale: float) -> None:
        if scale <= 0:
            return
        pause = min(rng.expovariate(1.0 / scale), max(self.remaining(), 0.0))
        if pause > 0:
            await asyncio.sleep(pause)


Scenario = Callable[[Client, random.Random, int, float], Awaitable[None]]


async def preflight(session: aiohttp.ClientSession, config: RunConfig) -> str:
    """Check the server answers and the most active user's token works; its account id."""
    base = config.url.rstrip("/")
    try:
        async with session.get(base + "/api/v1/instance",
                               timeout=aiohttp.ClientTimeout(total=10)) as response:
            await response.read()
            if response.status >= 500:
                raise BenchError(f"server at {config.url} answered {response.status} "
                                 "to GET /api/v1/instance")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise BenchError(f"server at {config.url} is unreachable: {exc or type(exc).__name__}"
                         ) from None
    first = max(range(len(config.users)), key=lambda i: config.users[i].weight)
    user = config.users[first]
    try:
        async with session.get(base + "/api/v1/accounts/verify_credentials",
                               headers={"Authorization": f"Bearer {user.token}"},
                               timeout=aiohttp.ClientTimeout(total=10)) as response:
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise BenchError(f"server at {config.url} is unreachable: {exc or type(exc).__name__}"
                         ) from None
    if status != 200:
        raise BenchError(f"the token of {user.username!r} was refused "
                         f"(GET /api/v1/accounts/verify_credentials answered {status}); "
                         "is the tokens file for this server?")
    return str(orjson.loads(body)["id"])


async def drive(config: RunConfig, scenario: Scenario) -> RunResult:
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends (aiohttp sweeps
    # every keepalive_timeout, so a connection idles up to twice that): reusing one the
    # server is closing at that moment fails a request that never reached it.
    connector = aiohttp.TCPConnector(limit=config.concurrency, keepalive_timeout=2.0,
                                     ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=config.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     raise_for_status=False) as session:
        first_id = await preflight(session, config)
        client = Client(session, config)
        first = max(range(len(config.users)), key=lambda i: config.users[i].weight)
        if first not in client._account_ids:
            client._known(first, first_id)
        started_at_unix = time.time()
        start = time.perf_counter()
        client.measure_start = start + config.warmup
        client.stop_at = start + config.duration
        cpu_at_measure: list[float] = []
        snapshots: list[CpuSnapshot] = []

        async def mark_measure_start() -> None:
            await asyncio.sleep(max(client.measure_start - time.perf_counter(), 0.0))
            cpu_at_measure.append(_cpu_seconds())
            snapshots.append(snapshot(config.server_pid))

        marker = asyncio.create_task(mark_measure_start())
        tasks = [asyncio.create_task(_virtual_user(client, scenario, config, index))
                 for index in range(config.concurrency)]
        await asyncio.sleep(max(client.stop_at - time.perf_counter(), 0.0))
        end = time.perf_counter()
        cpu_end = _cpu_seconds()
        snapshot_end = snapshot(config.server_pid)
        await marker
        _done, pending = await asyncio.wait(tasks, timeout=config.grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]  # a bug in a scenario
        measured = max(end - client.measure_start, 1e-9)
        client.recorder.finish(until_second=int(measured + 0.999))
        return RunResult(
            recorder=client.recorder,
            measured_seconds=measured,
            warmup_requests=client.warmup_requests,
            lookups=client.lookups,
            cancelled=len(pending),
            started_at_unix=started_at_unix,
            client_cpu_seconds=cpu_end - (cpu_at_measure[0] if cpu_at_measure else cpu_end),
            wall_start=client.measure_start,
            wall_end=end,
            notes=sorted(client.error_samples),
            cpu_start=snapshots[0] if snapshots else None,
            cpu_end=snapshot_end,
        )


async def _virtual_user(client: Client, scenario: Scenario, config: RunConfig,
                        index: int) -> None:
    rng = random.Random(config.seed * 1_000_003 + index)  # noqa: S311 (load, not secrets)
    while client.running():
        await scenario(client, rng, index, config.think_scale)


def _cpu_seconds() -> float:
    return time.process_time()
