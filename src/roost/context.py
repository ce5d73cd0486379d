"""What every operation and router needs from the running process, in one object."""

from __future__ import annotations

from dataclasses import dataclass

from roost.config import Settings
from roost.db.engine import Database
from roost.ids import IdGenerator


@dataclass
class Roost:
    settings: Settings
    db: Database
    ids: IdGenerator
