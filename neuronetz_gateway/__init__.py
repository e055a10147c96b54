"""neuronetz-gateway: the secure, multi-tenant door in front of Ollama."""

__version__ = "0.1.0"
