"""Step 13: audit rows for every request, the bounded buffer and its writer, prompt logs, purge."""
