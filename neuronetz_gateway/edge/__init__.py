"""Steps 1-4 of the request path: request id, client IP, path classification, body cap and JSON."""
