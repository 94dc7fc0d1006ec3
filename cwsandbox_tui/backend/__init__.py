"""The embedded local backend: one real gRPC server for both API generations,
`coreweave.sandbox.v1` and `coreweave.sandbox.v1beta2` (either or both, `--api`).

Sandboxes are real local processes, snapshots are real tar archives, and state lives in
SQLite. The engine (`engine.py` and the modules it uses) speaks its own words (`states.py`,
`errors.py`) and knows no wire; each generation's servicers (`v1/`, `v1beta2/`) map its
messages, enums and statuses to and from the engine, over the gRPC plumbing they share
(`wire/`). It shares the generated protocol modules with the client but nothing else.
"""
