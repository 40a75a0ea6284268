# SPDX-License-Identifier: MIT
"""conftest.py — one private shmboxd for the session (tests/harness.c's way: its own socket,
prefix and state), a client and fresh mailboxes per test; nothing may be left in /dev/shm."""
import itertools
import os
import re

import pytest

import shmbox
from helpers import Daemon

_names = itertools.count()


@pytest.fixture(scope="session")
def daemon():
    d = Daemon().start()
    old = os.environ.get("SHMBOX_SOCKET")
    os.environ["SHMBOX_SOCKET"] = d.socket  # connect() without a socket, children, examples
    yield d
    if old is None:
        del os.environ["SHMBOX_SOCKET"]
    else:
        os.environ["SHMBOX_SOCKET"] = old
    left = d.done()
    assert not left, "left in /dev/shm: %s" % left


@pytest.fixture
def own_daemon():
    """A private shmboxd for this test alone (its own socket, prefix and state), stopped after
    it; the test fails if anything of its prefix is left in /dev/shm."""
    d = Daemon("ow").start()  # a short tag: the prefix keeps its counter within 32 characters
    yield d
    left = d.done()
    assert not left, "left in /dev/shm: %s" % left


@pytest.fixture
def client(daemon):
    with shmbox.connect(daemon.socket) as c:
        yield c


@pytest.fixture
def unique_name(request):
    """A mailbox name of its own for each call: the test's name and a counter."""
    base = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:48]
    return lambda: "%s-%d" % (base, next(_names))


@pytest.fixture
def make_box(client, unique_name):
    """make_box(slots=8, slot_size=256, mode=0o600) -> an attached Mailbox, destroyed after."""
    made = []

    def make(slots=8, slot_size=256, mode=0o600):
        name = unique_name()
        client.create(name, slots=slots, slot_size=slot_size, mode=mode)
        made.append(name)
        return client.attach(name)

    yield make
    for name in made:
        try:
            client.destroy(name)
        except shmbox.NotFound:
            pass


@pytest.fixture
def box(make_box):
    b = make_box()
    yield b
    try:
        b.detach()
    except BufferError:
        pass
