"""Generated protobuf/gRPC modules for ``coreweave.sandbox.v1beta2``.

Do not edit: regenerate with ``python protos/generate.py``.
"""
