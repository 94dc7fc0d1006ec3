from cwsandbox_tui.proto.v1 import sandbox_pb2 as _sandbox_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
