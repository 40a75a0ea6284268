# SPDX-License-Identifier: MIT
"""The data plane: send, recv, recv_into, send_many, recv_many, timeouts and their errors."""
import array
import errno
import threading
import time

import pytest

import shmbox
from helpers import as_another_user, scaled


def test_send_and_recv_any_bytes_like_object(box):
    box.send(b"bytes")
    box.send(bytearray(b"bytearray"))
    box.send(memoryview(b"xxmemoryviewxx")[2:-2])
    box.send(array.array("B", b"array"))
    box.send(b"")
    assert [box.recv(timeout=1) for _ in range(5)] == [b"bytes", b"bytearray", b"memoryview", b"array", b""]


def test_send_rejects_what_is_not_bytes_like(box):
    with pytest.raises(TypeError):
        box.send("str")
    with pytest.raises(BufferError):
        box.send(memoryview(bytearray(8))[::2])  # not contiguous


def test_messages_arrive_in_order_up_to_slot_size(make_box):
    box = make_box(slots=4, slot_size=1000)
    for n in (0, 1, 999, 1000):
        box.send(bytes([n % 251]) * n)
        assert box.recv(timeout=1) == bytes([n % 251]) * n


def test_a_message_above_slot_size_raises_message_too_long(box):
    with pytest.raises(shmbox.MessageTooLong) as ei:
        box.send(b"x" * (box.slot_size + 1))
    assert ei.value.errno == errno.EMSGSIZE and ei.value.filename == box.name


def test_recv_into_returns_the_length_and_a_short_buffer_leaves_the_message(box):
    box.send(b"0123456789")
    small = bytearray(4)
    with pytest.raises(shmbox.MessageTooLong):
        box.recv_into(small, timeout=1)
    buf = bytearray(box.slot_size)
    assert box.recv_into(buf, timeout=1) == 10
    assert buf[:10] == b"0123456789"
    with pytest.raises(TypeError):
        box.recv_into(b"read-only")


def test_recv_timeout_zero_raises_would_block_at_once(box):
    t = time.monotonic()
    with pytest.raises(BlockingIOError) as ei:
        box.recv(timeout=0)
    assert time.monotonic() - t < scaled(0.5)
    assert isinstance(ei.value, shmbox.WouldBlock) and ei.value.errno == errno.EAGAIN


def test_recv_timeout_raises_timeout_error_after_that_long(box):
    t = time.monotonic()
    with pytest.raises(TimeoutError) as ei:
        box.recv(timeout=0.2)
    took = time.monotonic() - t
    assert 0.2 <= took < scaled(1.5), took
    assert isinstance(ei.value, shmbox.Timeout) and ei.value.errno == errno.ETIMEDOUT
    assert ei.value.strerror == "timed out"


def test_a_tiny_timeout_still_waits_and_times_out(box):
    with pytest.raises(TimeoutError):
        box.recv(timeout=1e-6)
    with pytest.raises(TimeoutError):
        box.recv_into(bytearray(256), timeout=0.01)


def test_send_to_a_full_mailbox_waits_times_out_or_would_block(make_box):
    box = make_box(slots=2, slot_size=64)
    box.send(b"1")
    box.send(b"2")
    with pytest.raises(BlockingIOError):
        box.send(b"3", timeout=0)
    with pytest.raises(TimeoutError):
        box.send(b"3", timeout=0.05)
    assert box.recv() == b"1"
    box.send(b"3", timeout=0)
    assert box.recv_many(10, timeout=0) == [b"2", b"3"]


@pytest.mark.parametrize("bad", [-1, float("nan"), "1"])
def test_a_bad_timeout_raises(box, bad):
    with pytest.raises((ValueError, TypeError)):
        box.recv(timeout=bad)


def test_keyword_and_positional_timeouts(box):
    box.send(b"a", 1.0)
    box.send(b"b", timeout=None)
    assert box.recv(1.0) == b"a"
    assert box.recv(timeout=float("inf")) == b"b"
    with pytest.raises(TypeError):
        box.recv(timeout=1, bogus=2)
    with pytest.raises(TypeError):
        box.send()


def test_send_many_and_recv_many(make_box):
    box = make_box(slots=64, slot_size=128)
    msgs = [b"m%d" % i for i in range(50)]
    assert box.send_many(msgs) == 50
    assert box.send_many([]) == 0
    got = box.recv_many(20, timeout=1)
    assert got == msgs[:20]
    assert box.recv_many(100, timeout=1) == msgs[20:]
    with pytest.raises(BlockingIOError):
        box.recv_many(5, timeout=0)
    with pytest.raises(ValueError):
        box.recv_many(0)


def test_send_many_of_more_than_fits_waits_and_returns_what_was_sent_on_timeout(make_box):
    box = make_box(slots=4, slot_size=64)
    assert box.send_many((b"x%d" % i for i in range(6)), timeout=0.1) == 4
    with pytest.raises(TimeoutError):
        box.send_many([b"y"], timeout=0.05)
    with pytest.raises(BlockingIOError):
        box.send_many([b"y"], timeout=0)
    assert box.recv_many(10) == [b"x0", b"x1", b"x2", b"x3"]


def test_send_many_with_a_receiver_sends_everything(make_box):
    box = make_box(slots=4, slot_size=64)
    got = []

    def drain():
        while len(got) < 100:
            got.extend(box.recv_many(8, timeout=5))

    t = threading.Thread(target=drain)
    t.start()
    assert box.send_many([b"%d" % i for i in range(100)], timeout=10) == 100
    t.join()
    assert got == [b"%d" % i for i in range(100)]


def test_large_slots_receive_through_peek(make_box):
    box = make_box(slots=4, slot_size=1 << 20)
    payload = bytes(range(256)) * 4096
    box.send(payload)
    box.send(payload[:100])
    assert box.recv(timeout=1) == payload
    assert box.recv_many(4, timeout=1) == [payload[:100]]


def test_recv_many_of_large_slots(make_box):
    box = make_box(slots=8, slot_size=8192)
    box.send_many([b"a" * 8192, b"b", b"c" * 5000])
    assert box.recv_many(8, timeout=1) == [b"a" * 8192, b"b", b"c" * 5000]


def test_a_destroyed_mailbox_raises_destroyed(client, unique_name):
    name = unique_name()
    client.create(name, slots=4, slot_size=64)
    with client.attach(name) as box:
        client.destroy(name)
        with pytest.raises(shmbox.Destroyed) as ei:
            box.send(b"x")
        assert ei.value.errno == errno.EIDRM
        with pytest.raises(shmbox.Destroyed):
            box.recv(timeout=1)


def test_a_mailbox_without_r_may_not_receive_nor_poll(daemon, client, unique_name):
    name = unique_name()
    client.create(name, slots=4, slot_size=64, mode=0o202)  # w for the owner and for others

    def check():
        with shmbox.connect(daemon.socket) as c, c.attach(name) as box:
            box.send(b"only w")
            for call in (lambda: box.recv(timeout=0), box.fileno, lambda: box.peek(timeout=0).__enter__()):
                try:
                    call()
                    return 1
                except PermissionError as e:
                    if not isinstance(e, shmbox.PermissionDenied) or e.errno != errno.EACCES:
                        return 2
        return 0

    assert as_another_user(check) == 0
    assert client.info(name).queued == 1
    client.destroy(name)


def test_a_mailbox_without_w_may_not_send(daemon, client, unique_name):
    name = unique_name()
    client.create(name, slots=4, slot_size=64, mode=0o404)

    def check():
        with shmbox.connect(daemon.socket) as c, c.attach(name) as box:
            for call in (lambda: box.send(b"x"), lambda: box.reserve(1).__enter__(),
                         lambda: box.send_many([b"x"])):
                try:
                    call()
                    return 1
                except PermissionError:
                    pass
        return 0

    assert as_another_user(check) == 0
    client.destroy(name)


def test_a_detached_mailbox_raises_value_error(box):
    box.detach()
    box.detach()
    for call in (lambda: box.send(b"x"), lambda: box.recv(), box.fileno, lambda: box.peek()):
        with pytest.raises(ValueError):
            call()


def test_set_spin(box):
    box.set_spin(0)
    box.set_spin(1000000)
    with pytest.raises(ValueError):
        box.set_spin(1000001)
    with pytest.raises(OverflowError):
        box.set_spin(-1)


def test_fileno_is_readable_while_messages_are_queued(box):
    import select
    fd = box.fileno()
    assert fd == box.fileno()
    assert select.select([fd], [], [], 0)[0] == []
    box.send(b"x")
    assert select.select([fd], [], [], scaled(1))[0] == [fd]
    box.recv(timeout=0)
    assert select.select([fd], [], [], 0)[0] == []


def test_the_gil_is_released_while_a_call_waits(box):
    """A thread blocked in recv() lets the main thread run and send to it."""
    got = []
    t = threading.Thread(target=lambda: got.append(box.recv(timeout=scaled(10))))
    t.start()
    time.sleep(0.2)
    box.send(b"from main")  # same client, other thread: the lock is let go between slices
    t.join(scaled(10))
    assert got == [b"from main"]


def test_threads_take_turns_on_one_client(box):
    # slow by design (a handover per message); one client per thread is the fast way
    n = 200
    got = []

    def recv_all():
        for _ in range(n):
            got.append(box.recv(timeout=scaled(10)))

    t = threading.Thread(target=recv_all)
    t.start()
    for i in range(n):
        box.send(b"%d" % i, timeout=scaled(10))
    t.join(scaled(30))
    assert got == [b"%d" % i for i in range(n)]


def test_messages_cross_clients(daemon, box):
    with shmbox.connect(daemon.socket) as other, other.attach(box.name) as peer:
        peer.send(b"from the other client")
        assert box.recv(timeout=1) == b"from the other client"
