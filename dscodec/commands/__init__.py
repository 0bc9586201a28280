"""Subcommands of the `dscodec` CLI (see dscodec/cli.py)."""
