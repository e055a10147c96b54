"""Forward-only, additive schema migrations, applied in ID order by `neuronetz-gateway migrate`.

Each module defines `ID` (unique, sortable) and `async def forwards(engine)`. A migration freezes
the table shapes it creates instead of importing `neuronetz_gateway.db.tables`, so later changes to
those classes never change what an old migration does. Keep changes additive: SQLite cannot change
a column's type or nullability.
"""
