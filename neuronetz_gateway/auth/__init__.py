"""Step 5 of the request path: key format, Argon2id hashing, verified-key cache, authentication."""
