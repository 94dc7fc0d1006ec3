"""The embedded local backend: a real gRPC server for `coreweave.sandbox.v1beta2`.

It shares the generated protocol modules with the client but nothing else: sandboxes are
real local processes, snapshots are real tar archives, and state lives in SQLite.
"""
