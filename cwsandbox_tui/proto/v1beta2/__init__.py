"""Generated protobuf/gRPC modules for ``coreweave.sandbox.v1beta2``.

Do not edit: regenerate with ``python -m cwsandbox_tui.proto._generate``.
"""
