"""`python -m neuronetz_gateway` runs the CLI."""

from neuronetz_gateway.cli.main import main

main()
