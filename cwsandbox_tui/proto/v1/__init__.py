"""Generated protobuf/gRPC modules for ``coreweave.sandbox.v1``.

Do not edit: regenerate with ``python protos/generate.py``.
"""
