# SPDX-License-Identifier: MIT
"""The control plane: connect, create, destroy, chmod, list, info, attach, and their errors."""
import errno
import os
import re

import pytest

import shmbox
from helpers import Daemon


def test_connect_uses_shmbox_socket_when_no_socket_is_given(daemon):
    with shmbox.connect() as c:
        assert c.socket is None
        assert not c.closed
        c.list()
    assert c.closed


def test_connect_to_a_socket_without_daemon_raises_connection_refused(tmp_path):
    with pytest.raises(ConnectionRefusedError) as ei:
        shmbox.connect(str(tmp_path / "nobody-here"))
    e = ei.value
    assert isinstance(e, shmbox.ConnectionRefused) and isinstance(e, shmbox.Error)
    assert e.errno == errno.ECONNREFUSED
    assert e.strerror == shmbox.strerror(errno.ECONNREFUSED) == "no daemon on the socket"


def test_create_info_list_destroy(client, unique_name):
    name = unique_name()
    client.create(name, slots=16, slot_size=512, mode=0o640)
    info = client.info(name)
    assert isinstance(info, shmbox.Info)
    assert (info.slots, info.slot_size, info.mode) == (16, 512, 0o640)
    assert (info.queued, info.attached, info.sent, info.received) == (0, 0, 0, 0)
    assert info.uid == os.geteuid() and info.gid == os.getegid()
    entries = {e.name: e for e in client.list()}
    assert isinstance(entries[name], shmbox.Entry)
    assert entries[name].info.slot_size == 512
    name_, info_ = entries[name]  # an Entry unpacks like a tuple
    assert name_ == name and info_ == entries[name].info
    client.destroy(name)
    assert name not in {e.name for e in client.list()}


def test_create_uses_the_defaults(client, unique_name):
    name = unique_name()
    client.create(name)
    info = client.info(name)
    assert (info.slots, info.slot_size, info.mode) == (shmbox.DEFAULT_SLOTS, shmbox.DEFAULT_SLOT_SIZE, 0o600)
    client.destroy(name)


def test_create_twice_raises_file_exists(client, unique_name):
    name = unique_name()
    client.create(name)
    with pytest.raises(FileExistsError) as ei:
        client.create(name)
    assert isinstance(ei.value, shmbox.Exists)
    assert ei.value.errno == errno.EEXIST and ei.value.filename == name
    assert name in str(ei.value)
    client.destroy(name)


@pytest.mark.parametrize("call", ["destroy", "info", "attach", "chmod"])
def test_a_missing_mailbox_raises_file_not_found(client, call):
    with pytest.raises(FileNotFoundError) as ei:
        getattr(client, call)("no-such-mailbox")
    assert isinstance(ei.value, shmbox.NotFound)
    assert ei.value.errno == errno.ENOENT and ei.value.filename == "no-such-mailbox"


@pytest.mark.parametrize("kwargs", [
    {"name": ".hidden"}, {"name": "a/b"}, {"name": "x" * 65}, {"name": ""},
    {"name": "ok", "mode": 0o700}, {"name": "ok", "slots": 65537},
    {"name": "ok", "slot_size": 16 * 1024 * 1024 + 1},
])
def test_invalid_arguments_raise_value_error(client, kwargs):
    with pytest.raises(ValueError) as ei:
        client.create(**kwargs)
    assert isinstance(ei.value, shmbox.InvalidArgument) and ei.value.errno == errno.EINVAL


def test_arguments_of_the_wrong_type_raise_type_error(client):
    with pytest.raises(TypeError):
        client.create(b"bytes-name")
    with pytest.raises(TypeError):
        client.info(42)
    with pytest.raises(ValueError):
        client.create("negative", slots=-1)


def test_a_mailbox_above_the_size_cap_raises_error_with_enospc(client):
    with pytest.raises(shmbox.Error) as ei:
        client.create("too-big", slots=65536, slot_size=16 * 1024 * 1024)
    assert ei.value.errno == errno.ENOSPC
    assert type(ei.value) is shmbox.Error


def test_a_refusal_carries_the_daemons_reason(client, unique_name):
    """issue 15: shmbox.Error carries the library's message: shmbox_last_error() when the
    daemon said why, as shmboxctl prints it, else shmbox_strerror()."""
    with pytest.raises(shmbox.Error) as ei:
        client.create("huge", slots=65536, slot_size=16 * 1024 * 1024)
    e = ei.value
    # the segment's size: 65536 slots of 16 MiB and their heads, plus the header and the
    # counter area (whose size the layout may change)
    why = e.reason
    assert re.fullmatch(r"(\d+) bytes, above max-mailbox-bytes 1073741824", why), why
    assert int(why.split()[0]) > 65536 * (16 << 20)
    assert e.errno == errno.ENOSPC and e.filename == "huge"
    assert shmbox.strerror(errno.ENOSPC).startswith("no space (")  # the hint it replaces
    assert e.strerror == "no space: " + why
    assert str(e) == "[Errno %d] no space: %s: 'huge'" % (errno.ENOSPC, why)
    # the next refusal, with no reason given: the library's message whole, reason ""
    with pytest.raises(FileNotFoundError) as ei:
        client.info("huge")
    assert ei.value.reason == "" and ei.value.strerror == shmbox.strerror(errno.ENOENT)
    # refused in this process (an invalid name), or by the mailbox itself: no reason either
    with pytest.raises(ValueError) as ei:
        client.destroy(".bad")
    assert ei.value.reason == "" and ei.value.strerror == shmbox.strerror(errno.EINVAL)
    name = unique_name()
    client.create(name, slot_size=8)
    try:
        with client.attach(name) as box, pytest.raises(shmbox.MessageTooLong) as ei:
            box.send(b"123456789")
        assert ei.value.reason == "" and ei.value.strerror == shmbox.strerror(errno.EMSGSIZE)
    finally:
        client.destroy(name)


def test_chmod_changes_mode_and_keeps_what_is_none(client, unique_name):
    name = unique_name()
    client.create(name, mode=0o600)
    client.chmod(name, mode=0o660)
    assert client.info(name).mode == 0o660
    client.chmod(name, group=os.getegid())
    assert client.info(name).mode == 0o660 and client.info(name).gid == os.getegid()
    with pytest.raises(ValueError):
        client.chmod(name, mode=0o4600)
    client.destroy(name)


def test_create_takes_a_group_name(client, unique_name):
    import grp
    name = unique_name()
    group = grp.getgrgid(os.getegid()).gr_name
    client.create(name, group=group)
    assert client.info(name).gid == os.getegid()
    client.destroy(name)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_may_not_destroy_raises_permission_error(daemon, client, unique_name):
    name = unique_name()
    client.create(name, mode=0o600)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with shmbox.connect(daemon.socket) as c:
                try:
                    c.destroy(name)
                except PermissionError as e:
                    code = 0 if isinstance(e, shmbox.PermissionDenied) and e.errno == errno.EPERM else 2
                try:
                    c.attach(name)
                except PermissionError as e:
                    code = code or (0 if e.errno == errno.EACCES else 3)
                else:
                    code = 4
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    client.destroy(name)


def test_reload_as_root_works_or_raises_permission_error(client):
    if os.geteuid() == 0:
        client.reload()
    else:
        with pytest.raises(PermissionError):
            client.reload()


def test_attach_returns_a_mailbox_that_detaches_on_exit(client, unique_name):
    name = unique_name()
    client.create(name, slots=4, slot_size=128)
    with client.attach(name) as box:
        assert isinstance(box, shmbox.Mailbox)
        assert (box.name, box.slots, box.slot_size, box.client) == (name, 4, 128, client)
        assert box.info().attached == 1
        assert "slots=4" in repr(box)
    assert box.closed and "detached" in repr(box)
    assert client.info(name).attached == 0
    client.destroy(name)


def test_a_closed_client_raises_value_error_and_closing_twice_is_fine(daemon, unique_name):
    c = shmbox.connect(daemon.socket)
    name = unique_name()
    c.create(name)
    box = c.attach(name)
    c.close()
    c.close()
    assert box.closed  # close() detached it
    with pytest.raises(ValueError):
        c.info(name)
    with pytest.raises(ValueError):
        box.send(b"x")
    with shmbox.connect(daemon.socket) as c2:
        c2.destroy(name)


def test_the_daemon_going_away_raises_not_connected_while_boxes_keep_working():
    d = Daemon("nc").start()
    try:
        with shmbox.connect(d.socket) as c:
            c.create("kept", slots=4, slot_size=64)
            with c.attach("kept") as box:
                d.stop()
                with pytest.raises(ConnectionError) as ei:
                    c.info("kept")
                assert isinstance(ei.value, shmbox.NotConnected) and ei.value.errno == errno.ENOTCONN
                box.send(b"still here")  # the data plane needs no daemon
                assert box.recv(timeout=1) == b"still here"
    finally:
        left = d.done()
    # the stopped daemon keeps its mailboxes for a restart; done() removed them
    assert all(f.startswith(("sem." + d.prefix, d.prefix)) for f in left)


def test_a_private_daemon_leaves_nothing_in_dev_shm():
    d = Daemon("clean").start()
    try:
        with shmbox.connect(d.socket) as c:
            for i in range(3):
                c.create("m%d" % i, slots=4, slot_size=64)
                with c.attach("m%d" % i) as box:
                    box.send(b"x")
                    with box.peek():
                        pass
                c.destroy("m%d" % i)
    finally:
        left = d.done()
    assert left == [], left
