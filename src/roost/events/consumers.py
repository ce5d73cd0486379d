"""The registry of consumers: every consumer module Roost has, in one list."""

from __future__ import annotations

from roost.analytics.consumer import ANALYTICS
from roost.counters.consumer import COUNTERS
from roost.events.consumer import Consumer
from roost.media.consumer import MEDIA
from roost.notifications.consumer import NOTIFICATIONS
from roost.search.consumer import SEARCH_INDEX
from roost.streaming.consumer import STREAMING_PUSH
from roost.timelines.fanout import HOME_TIMELINES
from roost.trends.inputs import TREND_INPUTS

CONSUMERS: tuple[Consumer, ...] = (
    COUNTERS,
    NOTIFICATIONS,
    HOME_TIMELINES,
    TREND_INPUTS,
    ANALYTICS,
    SEARCH_INDEX,
    STREAMING_PUSH,
    MEDIA,
)
