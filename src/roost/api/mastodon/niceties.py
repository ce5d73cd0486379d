"""What clients ask for at start-up: peers, activity, rules, custom emojis, preferences,
filters, lists, suggestions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
