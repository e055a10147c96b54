"""Durable state: Piccolo tables, the engine (SQLite WAL or Postgres), migrations and named queries.

This package is the only importer of piccolo; everything it returns is a plain dataclass.
"""
