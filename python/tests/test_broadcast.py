# SPDX-License-Identifier: MIT
"""Broadcast mailboxes: create(..., broadcast=True, overwrite=True), Mailbox.subscribe(),
Mailbox.missed, Overrun. Each test runs its own daemon (own_daemon)."""
import errno
import select

import pytest

import shmbox


def test_every_subscriber_gets_every_message(own_daemon):
    with shmbox.connect(own_daemon.socket) as c:
        c.create("news", slots=8, slot_size=64, broadcast=True)
        try:
            info = c.info("news")
            assert info.flags & shmbox.INFO_BROADCAST and not info.flags & shmbox.INFO_OVERWRITE
            with c.attach("news") as tx, c.attach("news") as a, c.attach("news") as b:
                tx.subscribe(False)  # only sends: holds nobody back
                tx.send_many([b"one", b"two", b"three"])
                assert [a.recv(timeout=0) for _ in range(3)] == [b"one", b"two", b"three"]
                assert b.recv_many(3, timeout=0) == [b"one", b"two", b"three"]
                with pytest.raises(BlockingIOError):
                    a.recv(timeout=0)
                with pytest.raises(PermissionError) as ei:  # not subscribed
                    tx.recv(timeout=0)
                assert ei.value.errno == errno.EPERM
                b.subscribe(False)
                tx.send(b"four")
                b.subscribe()  # starts at the next message
                tx.send(b"five")
                assert [a.recv(timeout=0), a.recv(timeout=0)] == [b"four", b"five"]
                assert b.recv(timeout=0) == b"five"
                # each subscriber's fileno() is its own: readable while it has news
                fa, fb = a.fileno(), b.fileno()
                assert fa != fb
                tx.send(b"six")
                assert a.recv(timeout=0) == b"six"
                assert select.select([fa, fb], [], [], 1)[0] == [fb]
                assert b.recv(timeout=0) == b"six"
                assert a.missed == 0
        finally:
            c.destroy("news")


def test_overwrite_a_slow_subscriber_gets_overrun_once_and_missed_says_how_many(own_daemon):
    with shmbox.connect(own_daemon.socket) as c:
        c.create("ticks", slots=4, slot_size=64, broadcast=True, overwrite=True)
        try:
            assert c.info("ticks").flags & (shmbox.INFO_BROADCAST | shmbox.INFO_OVERWRITE) == \
                shmbox.INFO_BROADCAST | shmbox.INFO_OVERWRITE
            with c.attach("ticks") as tx, c.attach("ticks") as slow:
                tx.subscribe(False)
                for i in range(10):
                    tx.send(b"%d" % i, timeout=0)  # never waits for the slow one
                with pytest.raises(shmbox.Overrun) as ei:
                    slow.recv(timeout=0)
                assert ei.value.errno == errno.EOVERFLOW
                assert slow.missed == 6
                # then on from the oldest message still there
                assert slow.recv_many(4, timeout=0) == [b"6", b"7", b"8", b"9"]
        finally:
            c.destroy("ticks")


def test_subscribe_on_a_plain_mailbox_raises_eopnotsupp(own_daemon):
    with shmbox.connect(own_daemon.socket) as c:
        c.create("plain", slots=4, slot_size=64)
        try:
            with c.attach("plain") as box:
                with pytest.raises(shmbox.Error) as ei:
                    box.subscribe(False)
                assert ei.value.errno == errno.EOPNOTSUPP
                assert box.missed == 0
                assert c.info("plain").flags == 0
            with pytest.raises(ValueError):
                box.subscribe()  # detached
        finally:
            c.destroy("plain")
