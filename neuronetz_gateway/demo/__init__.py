"""The demo: a faithful mock Ollama, the playground page, and the one-command demo runner."""
