"""Generated protobuf/gRPC modules for ``coreweave.sandbox.v1``.

Do not edit: regenerate with ``python -m cwsandbox_tui.proto._generate``.
"""
