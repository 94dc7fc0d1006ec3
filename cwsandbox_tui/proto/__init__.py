"""gRPC/protobuf bindings for the CoreWeave Sandbox API.

The ``.proto`` sources live in ``<repo>/protos``; the generated Python modules
are committed in :mod:`cwsandbox_tui.proto.v1beta2`. Regenerate them with
``python protos/generate.py``.
"""
