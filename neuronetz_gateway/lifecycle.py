"""Background loops that stop when asked, between rounds, instead of being cancelled mid-query.

Cancelling a task inside a database call can strand a connection (an aiosqlite worker thread that
never ends keeps the process from exiting; an asyncpg connection never returns to its pool), so
the runtime sets one stop event and every loop checks it while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True when the loop should end now."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
