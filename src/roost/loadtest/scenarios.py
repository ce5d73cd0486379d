"""What a virtual user does, one iteration at a time (see docs/loadlab.md).

Endpoint names are stable templates (`GET /api/v1/accounts/:id/statuses`), so reports
of different runs line up. Users (and the accounts they look at) are drawn with the
activity skew of the tokens file.
"""

from __future__ import annotations

import random
from typing import Any

from roost.loadtest.driver import Client, Scenario

HOME = "GET /api/v1/timelines/home"
ACCOUNT = "GET /api/v1/accounts/:id"
ACCOUNT_STATUSES = "GET /api/v1/accounts/:id/statuses"
POST_STATUS = "POST /api/v1/statuses"
NOTIFICATIONS = "GET /api/v1/notifications"
FAVOURITE = "POST /api/v1/statuses/:id/favourite"
REBLOG = "POST /api/v1/statuses/:id/reblog"
FOLLOW = "POST /api/v1/accounts/:id/follow"
# Not a Roost endpoint: bench/ceiling_app.py adds it to the app to measure the framework's
# ceiling (a prepared home-timeline body from memory, through the same middleware).
CEILING = "GET /bench/ceiling"

WORDS = ("morning", "coffee", "river", "garden", "train", "rain", "music", "bread", "cat",
         "library", "bicycle", "lunch", "sunset", "moss", "kettle", "harbour", "notes",
         "walk", "soup", "window", "meeting", "seeds", "paint", "owl")

# Which endpoints each scenario can send: the report lists every one, even at 0.
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "mixed": (HOME, ACCOUNT_STATUSES, POST_STATUS),
    "home": (HOME,),
    "mastodon": (HOME, NOTIFICATIONS, FAVOURITE, REBLOG, POST_STATUS, ACCOUNT,
                 ACCOUNT_STATUSES, FOLLOW),
    "ceiling": (CEILING,),
}


def status_text(rng: random.Random, index: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
    return f"{words} (bench vu{index} #{rng.getrandbits(32):08x})"


async def home(client: Client, rng: random.Random, index: int, think_scale: float) -> None:
    user = client.picker.pick(rng)
    await client.send(HOME, "GET", "/api/v1/timelines/home", user)


async def mixed(client: Client, rng: random.Random, index: int, think_scale: float) -> None:
    """60% home timeline, 30% an account's statuses, 10% a new post."""
    user = client.picker.pick(rng)
    draw = rng.random()
    if draw < 0.6:
        await client.send(HOME, "GET", "/api/v1/timelines/home", user)
    elif draw < 0.9:
        account_id = await client.account_id(client.picker.pick(rng))
        if account_id is not None:
            await client.send(ACCOUNT_STATUSES, "GET",
                              f"/api/v1/accounts/{account_id}/statuses", user)
    else:
        await client.send(POST_STATUS, "POST", "/api/v1/statuses", user,
                          data={"status": status_text(rng, index)})


def _statuses(body: Any) -> list[tuple[str, bool]]:
    """(id, may be boosted) of each status of a timeline page, newest first. Clients offer
    no boost of a followers-only or direct status (the server would answer 403)."""
    if not isinstance(body, list):
        return []
    return [(str(item["id"]), item.get("visibility") in ("public", "unlisted"))
            for item in body if isinstance(item, dict) and "id" in item]


async def mastodon(client: Client, rng: random.Random, index: int, think_scale: float) -> None:
    """One client session: open home, refresh, notifications, like, boost, reply, post,
    view a profile, follow; with think times between the steps."""
    user = client.picker.pick(rng)

    async def pause() -> bool:
        await client.think(rng, think_scale)
        return client.running()

    reply = await client.send(HOME, "GET", "/api/v1/timelines/home", user, keep_body=True)
    seen = _statuses(reply.json())
    if not await pause():
        return
    params = {"since_id": seen[0][0]} if seen else None
    reply = await client.send(HOME, "GET", "/api/v1/timelines/home", user, params=params,
                              keep_body=True)
    seen = _statuses(reply.json()) + seen
    if not await pause():
        return
    await client.send(NOTIFICATIONS, "GET", "/api/v1/notifications", user)
    if not await pause():
        return
    if seen:
        liked = rng.choice(seen)[0]
        await client.send(FAVOURITE, "POST", f"/api/v1/statuses/{liked}/favourite", user)
        if not await pause():
            return
        boostable = [status_id for status_id, public in seen if public]
        if boostable:
            await client.send(REBLOG, "POST",
                              f"/api/v1/statuses/{rng.choice(boostable)}/reblog", user)
            if not await pause():
                return
        await client.send(POST_STATUS, "POST", "/api/v1/statuses", user,
                          data={"status": status_text(rng, index),
                                "in_reply_to_id": rng.choice(seen)[0]})
        if not await pause():
            return
    await client.send(POST_STATUS, "POST", "/api/v1/statuses", user,
                      data={"status": status_text(rng, index)})
    if not await pause():
        return
    target = client.picker.pick(rng)
    account_id = await client.account_id(target)
    if account_id is not None:
        await client.send(ACCOUNT, "GET", f"/api/v1/accounts/{account_id}", user)
        await client.send(ACCOUNT_STATUSES, "GET", f"/api/v1/accounts/{account_id}/statuses",
                          user)
        if not await pause():
            return
        if target != user:
            await client.send(FOLLOW, "POST", f"/api/v1/accounts/{account_id}/follow", user)
    await pause()


async def ceiling(client: Client, rng: random.Random, index: int, think_scale: float) -> None:
    """GET /bench/ceiling only: needs bench/ceiling_app.py's server (docs/performance.md)."""
    user = client.picker.pick(rng)
    await client.send(CEILING, "GET", "/bench/ceiling", user)


SCENARIOS: dict[str, Scenario] = {"mixed": mixed, "home": home, "mastodon": mastodon,
                                  "ceiling": ceiling}
