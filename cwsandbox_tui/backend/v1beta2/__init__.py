"""Servicers of the `coreweave.sandbox.v1beta2` API generation (gateway, streaming, discovery),
over the generation-neutral engine."""
