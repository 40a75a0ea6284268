# SPDX-License-Identifier: MIT
"""Ephemeral mailboxes (issue 19): create(..., ephemeral=True), Info.flags and Info.owner_pid,
and the mailbox going when its creator's connection ends. Each test runs its own daemon
(own_daemon), which must leave nothing in /dev/shm."""
import os
import time

import pytest

import shmbox
from helpers import Child, scaled, shm_objects


def _gone(client, name, timeout=10):
    """Wait until the daemon no longer knows name (it destroys an ephemeral mailbox when it
    sees the hangup, a moment after the close). True if it went within timeout."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        try:
            client.info(name)
        except shmbox.NotFound:
            return True
        time.sleep(0.01)
    return False


def test_info_and_list_show_the_ephemeral_flag_and_the_creators_pid(own_daemon):
    with shmbox.connect(own_daemon.socket) as a, shmbox.connect(own_daemon.socket) as b:
        a.create("eph", slots=4, slot_size=64, ephemeral=True)
        a.create("plain", slots=4, slot_size=64)
        a.create("plain2", slots=4, slot_size=64, ephemeral=False)
        info = b.info("eph")  # seen from another client
        assert info.flags & shmbox.INFO_EPHEMERAL
        assert info.flags == shmbox.INFO_EPHEMERAL == 1
        assert info.owner_pid == os.getpid()
        for name in ("plain", "plain2"):
            assert (b.info(name).flags, b.info(name).owner_pid) == (0, 0)
        entries = {e.name: e.info for e in b.list()}
        assert (entries["eph"].flags, entries["eph"].owner_pid) == (shmbox.INFO_EPHEMERAL, os.getpid())
        assert (entries["plain"].flags, entries["plain"].owner_pid) == (0, 0)
        # the new fields come last: the earlier ones keep their positions
        assert len(info) == 21
        assert info[-2:] == (info.owner_pid, info.flags) and info[0] == info.slots == 4
        a.destroy("plain")
        a.destroy("plain2")


def test_an_ephemeral_mailbox_goes_when_its_client_closes_and_a_plain_one_stays(own_daemon):
    with shmbox.connect(own_daemon.socket) as b:
        a = shmbox.connect(own_daemon.socket)
        a.create("eph", slots=4, slot_size=64, ephemeral=True)
        a.create("kept", slots=4, slot_size=64)
        with b.attach("eph") as box:
            box.send(b"queued")
            assert any(".eph" in f for f in shm_objects(own_daemon.prefix))
            a.close()
            assert _gone(b, "eph"), "the ephemeral mailbox outlived its client's close()"
            assert "eph" not in {e.name for e in b.list()}
            # destroyed as destroy() would: the box attached elsewhere learns it
            with pytest.raises(shmbox.Destroyed):
                box.send(b"more")
        assert not any(".eph" in f for f in shm_objects(own_daemon.prefix))
        assert b.info("kept").flags == 0  # a plain mailbox outlives its creator's client
        b.destroy("kept")


def test_an_ephemeral_mailbox_goes_when_its_creator_is_killed(own_daemon):
    child = Child("""
import shmbox, sys, time
c = shmbox.connect(sys.argv[1])
c.create("eph-of-child", ephemeral=True)
print("made", flush=True)
time.sleep(60)
""", own_daemon.socket)
    try:
        assert child.line() == "made"
        with shmbox.connect(own_daemon.socket) as b:
            info = b.info("eph-of-child")
            assert info.flags == shmbox.INFO_EPHEMERAL and info.owner_pid == child.proc.pid
            child.proc.kill()
            child.proc.wait()
            assert _gone(b, "eph-of-child"), "the mailbox outlived its killed creator"
    finally:
        child.kill()


def test_the_creator_may_destroy_an_ephemeral_mailbox_earlier(own_daemon):
    with shmbox.connect(own_daemon.socket) as a:
        a.create("eph", ephemeral=True)
        a.destroy("eph")
        with pytest.raises(shmbox.NotFound):
            a.info("eph")
        a.create("eph", ephemeral=True)  # the name is free again
    with shmbox.connect(own_daemon.socket) as b:
        assert _gone(b, "eph")
