"""Servicers of the `coreweave.sandbox.v1` API generation, over the generation-neutral engine."""
