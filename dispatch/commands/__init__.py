"""The typer commands, one module per concern; each registers itself on `dispatch.cli.app`."""
