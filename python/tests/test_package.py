# SPDX-License-Identifier: MIT
"""The package itself: its manual, its stubs, its version and its examples."""
import ast
import os
import pydoc
import subprocess
import sys
import time

import shmbox
from helpers import EXAMPLES, Child, scaled

STUBS = os.path.join(os.path.dirname(shmbox.__file__), "__init__.pyi")


def test_help_reads_like_the_man_page():
    text = pydoc.render_doc(shmbox, renderer=pydoc.plaintext)
    for section in ("SYNOPSIS", "DESCRIPTION", "TIMEOUTS", "EPHEMERAL MAILBOXES", "REQUEST/REPLY", "ZERO-COPY",
                    "ASYNCIO", "ERRORS", "THREADS AND FORK"):
        assert section in text
    for name in ("send", "recv", "recv_into", "send_many", "recv_many", "reserve", "peek", "recv_async",
                 "send_async", "fileno", "create", "destroy", "chmod", "list", "info", "attach", "ephemeral",
                 "request", "recv_request", "recv_request_async", "reply", "request_discarded"):
        assert name in text


def test_every_public_call_has_a_docstring():
    for obj in (shmbox.connect, shmbox.Client, shmbox.Mailbox, shmbox.Reservation, shmbox.Peek,
                shmbox.Info, shmbox.Entry, shmbox.RequestInfo, shmbox.Error, shmbox.Timeout):
        assert obj.__doc__
    for cls in (shmbox.Client, shmbox.Mailbox):
        for name in dir(cls):
            if not name.startswith("_"):
                assert getattr(cls, name).__doc__, "%s.%s" % (cls.__name__, name)


def test_the_stubs_name_what_the_package_has():
    with open(STUBS) as f:
        tree = ast.parse(f.read())
    names = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    constants = {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and n.target.id != "__version__"}
    assert set(shmbox.__all__) <= names | constants, set(shmbox.__all__) - names - constants
    assert constants <= set(shmbox.__all__), constants - set(shmbox.__all__)
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name in ("Client", "Mailbox", "Reservation", "Peek"):
            for f in cls.body:
                if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    assert hasattr(getattr(shmbox, cls.name), f.name), "%s.%s" % (cls.name, f.name)


def test_the_exceptions_are_the_usual_python_classes_too():
    assert issubclass(shmbox.Error, OSError)
    pairs = {shmbox.Timeout: TimeoutError, shmbox.WouldBlock: BlockingIOError,
             shmbox.PermissionDenied: PermissionError, shmbox.NotFound: FileNotFoundError,
             shmbox.Exists: FileExistsError, shmbox.ConnectionRefused: ConnectionRefusedError,
             shmbox.NotConnected: ConnectionError, shmbox.InvalidArgument: ValueError}
    for ours, theirs in pairs.items():
        assert issubclass(ours, shmbox.Error) and issubclass(ours, theirs)
    for cls in (shmbox.Destroyed, shmbox.Stale, shmbox.MessageTooLong):
        assert issubclass(cls, shmbox.Error)


def test_versions():
    assert shmbox.library_version().count(".") == 2
    assert shmbox.__version__ == shmbox.library_version()


def _example(*args, timeout=20):
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, args[0]), *args[1:]],
                       capture_output=True, text=True, timeout=scaled(timeout))
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_the_sender_and_receiver_examples(daemon, client, unique_name):
    name = unique_name()
    recv = Child("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                 os.path.join(EXAMPLES, "receiver.py"), "--timeout", "20", name, "3")
    try:
        # the receiver may start before the mailbox exists: create it first, as the sender would
        try:
            client.create(name, slots=64, slot_size=4096)
        except FileExistsError:
            pass
        assert "sent 3 message(s)" in _example("sender.py", name, "3")
        assert [recv.line(), recv.line(), recv.line()] == ["message 0", "message 1", "message 2"]
        assert recv.wait()[0] == 0
    finally:
        recv.kill()
        client.destroy(name)


def test_the_async_service_example(daemon, client, unique_name):
    req, rep = unique_name(), unique_name()
    svc = Child("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                os.path.join(EXAMPLES, "async_service.py"), "--count", "2", req, rep)
    try:
        assert svc.line() == "service: ready"
        _example("sender.py", req, "2")
        out = _example("receiver.py", "--timeout", "20", rep, "2")
        assert out.split("\n")[:2] == ["MESSAGE 0", "MESSAGE 1"]
        assert svc.line() == "service: answered 2 request(s)"
    finally:
        svc.kill()
        client.destroy(req)
        client.destroy(rep)


def test_the_rpc_example(daemon, client, unique_name):
    """Two calls answered by the server, which made the mailbox ephemeral: it goes with it."""
    name = unique_name()
    svc = Child("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                os.path.join(EXAMPLES, "rpc.py"), "serve", name, "2")
    try:
        assert svc.line() == "rpc: serving %s" % name
        assert client.info(name).flags == shmbox.INFO_EPHEMERAL
        assert _example("rpc.py", "--timeout", "20", "call", name, "hello") == "olleh\n"
        assert _example("rpc.py", "--timeout", "20", "call", name, "") == "\n"
        assert svc.line() == "rpc: answered 2 request(s)"
        assert svc.wait()[0] == 0
    finally:
        svc.kill()
    deadline = time.monotonic() + scaled(10)
    while name in {e.name for e in client.list()} and time.monotonic() < deadline:
        time.sleep(0.01)
    assert name not in {e.name for e in client.list()}
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, "rpc.py"), "--timeout", "0.1", "call", name, "x"],
                       capture_output=True, text=True, timeout=scaled(20))
    assert p.returncode == 1 and "no such mailbox" in p.stderr, p.stderr


def test_the_zerocopy_producer_example(daemon, client, unique_name):
    name = unique_name()
    try:
        assert "produced 200 record(s)" in _example("zerocopy_producer.py", name, "200")
        assert "consumed 200 record(s), 200000 payload bytes, all checked" in \
            _example("zerocopy_producer.py", "--consume", name, "200")
    finally:
        client.destroy(name)
