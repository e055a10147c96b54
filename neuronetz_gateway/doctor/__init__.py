"""`neuronetz-gateway doctor`: prove a deployment safe, above all that Ollama is unreachable."""
