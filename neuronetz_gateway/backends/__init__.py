"""Step 10: the configured Ollama backends, what models each has, and which one serves a request."""
