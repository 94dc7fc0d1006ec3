"""Argument parsing and the scriptable commands, thin over the client."""
