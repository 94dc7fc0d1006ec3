"""The v1 services the local backend does not offer, answered like the refused calls of the
others (UNIMPLEMENTED with ErrorInfo `CWSANDBOX_NOT_IMPLEMENTED`, not gRPC's bare "Method not
found"): the direct data plane, which is reached only after a `ConnectSandbox` that is itself
refused (so the SDK keeps to the gateway path), and sandbox templates."""

from __future__ import annotations

import grpc

from ...proto.v1 import sandbox_data_plane_pb2_grpc, sandbox_template_pb2_grpc
from .common import refuse, refuse_streams


class SandboxDataPlaneService(sandbox_data_plane_pb2_grpc.SandboxDataPlaneServiceServicer):
    pass


class SandboxTemplateService(sandbox_template_pb2_grpc.SandboxTemplateServiceServicer):
    pass


refuse(SandboxDataPlaneService, "Exec", "WriteFile", "ReadFile")
refuse_streams(SandboxDataPlaneService, "StreamExec", "StreamLogs")
refuse(SandboxTemplateService, "CreateSandboxTemplate", "GetSandboxTemplate",
       "ListSandboxTemplates", "UpdateSandboxTemplate", "DeleteSandboxTemplate")


def register(server: grpc.aio.Server) -> None:
    sandbox_data_plane_pb2_grpc.add_SandboxDataPlaneServiceServicer_to_server(
        SandboxDataPlaneService(), server)
    sandbox_template_pb2_grpc.add_SandboxTemplateServiceServicer_to_server(
        SandboxTemplateService(), server)
