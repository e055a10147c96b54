"""Operator actions (tenants, keys, reports, env-file edits); the CLI is a thin shell over these."""
