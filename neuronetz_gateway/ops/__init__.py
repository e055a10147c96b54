"""The gateway's own endpoints: /healthz, /readyz, /metrics, /v1/usage."""
