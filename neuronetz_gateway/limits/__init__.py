"""Steps 7-8 and settlement: rate limits, concurrency, budgets, and the durable usage ledger."""
