"""A warm `python -m cwsandbox_tui`: the CLI tests' commands are forked from here.

Started once per test process (`tests/cli/helpers.py`) with the package imported, so each
command costs a fork instead of an interpreter start and ~0.3 s of imports: the CLI tests ran
some 200 commands, a sixth of the suite's CPU. A command is still its own process, with its own
environment, working directory, argv, stdin, stdout and stderr (the test's pipes, passed over
a unix socket), exit code and signals; it ends through the interpreter's usual exit (atexit,
non-daemon threads, flushed streams), as `python -m cwsandbox_tui` does.

Protocol, one connection per command: the test sends a JSON line {argv, env, cwd} with its
stdin, stdout and stderr descriptors; the server answers `pid N`, then `exit CODE` once the
command has ended (CODE negative: killed by that signal, as asyncio reports it).

    python -m tests.cli.forkserver SOCKET_PATH
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import sys

import cwsandbox_tui.__main__ as entry


def serve(path: str) -> dict[str, object] | None:
    """Serve until killed; in a forked command, return its request."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wake-up fd is written
    waiting: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.data == "child":
                os.read(wake_r, 4096)
                _reap(waiting)
                continue
            conn, _ = listener.accept()
            line = b""
            fds: list[int] = []
            while not line.endswith(b"\n"):
                data, got, _flags, _addr = socket.recv_fds(conn, 65536, 3)
                if not data:
                    break
                line += data
                fds += got
            if len(fds) != 3 or not line.endswith(b"\n"):
                for fd in fds:
                    os.close(fd)
                conn.close()
                continue
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                selector.close()
                listener.close()
                for other in waiting.values():
                    other.close()
                conn.close()
                os.close(wake_r)
                os.close(wake_w)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
                    os.close(fd)
                return dict(request)
            for fd in fds:
                os.close(fd)
            conn.sendall(f"pid {pid}\n".encode())
            waiting[pid] = conn
            _reap(waiting)  # it may have ended already (the signal came before `waiting`)


def _reap(waiting: dict[int, socket.socket]) -> None:
    for pid in list(waiting):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            conn = waiting.pop(pid)
            try:
                conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            except OSError:
                pass  # the test went away
            conn.close()


def run(request: dict[str, object]) -> int:
    """In the forked command: become `python -m cwsandbox_tui ARGS` and run."""
    os.chdir(str(request["cwd"]))
    env = request["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in env.items()})
    argv = request["argv"]
    assert isinstance(argv, list)
    sys.argv = [entry.__file__, *map(str, argv)]
    return entry.main()


if __name__ == "__main__":
    forked = serve(sys.argv[1])
    if forked is not None:
        sys.exit(run(forked))
