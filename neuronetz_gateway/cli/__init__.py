"""The typer CLI: thin commands over `admin/`, `doctor/` and `server`."""
