"""Shared counters in `gateway_state`, e.g. the auth epoch (SPEC §5: changes visible within 2 s)."""

from __future__ import annotations

from neuronetz_gateway.db.tables import GatewayState

AUTH_EPOCH = "auth_epoch"


async def bump(name: str) -> None:
    """Add one to the named counter, creating it when missing (atomic on both engines)."""
    await GatewayState.raw(
        "INSERT INTO gateway_state (name, value) VALUES ({}, 0) ON CONFLICT (name) DO NOTHING", name
    ).run()
    await (
        GatewayState.update({GatewayState.value: GatewayState.value + 1})
        .where(GatewayState.name == name)
        .run()
    )


async def read(name: str) -> int:
    """The named counter's value (0 when it was never bumped)."""
    row = (
        await GatewayState.select(GatewayState.value).where(GatewayState.name == name).first().run()
    )
    return int(row["value"]) if row else 0
