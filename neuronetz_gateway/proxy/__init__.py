"""Steps 11-12: the upstream call, streamed relay and usage extraction, shared by both surfaces."""
