"""The one exception operator actions raise for expected failures."""


class AdminError(Exception):
    """An expected failure (unknown tenant, duplicate name, bad value): one readable line."""
