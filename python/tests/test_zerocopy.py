# SPDX-License-Identifier: MIT
"""Zero-copy: reserve() and peek() blocks, their views' lifetimes, and what ends them."""
import struct

import pytest

import shmbox


def test_reserve_commits_at_the_end_of_the_block(box):
    with box.reserve(5) as buf:
        assert isinstance(buf, memoryview) and not buf.readonly
        assert len(buf) == 5 and buf.format == "B"
        buf[:] = b"hello"
    assert box.recv(timeout=1) == b"hello"


def test_reserve_aborts_when_the_block_raises(box):
    with pytest.raises(RuntimeError):
        with box.reserve(5) as buf:
            buf[:] = b"never"
            raise RuntimeError("changed my mind")
    with pytest.raises(BlockingIOError):
        box.recv(timeout=0)
    assert box.info().sent == 0


def test_a_view_used_after_its_block_raises(box):
    with box.reserve(3) as buf:
        buf[:] = b"abc"
    with pytest.raises(ValueError):
        buf[0] = 1
    with pytest.raises(ValueError):
        bytes(buf)
    with box.peek(timeout=1) as view:
        assert view == b"abc"
    with pytest.raises(ValueError):
        view[0]
    with pytest.raises(ValueError):
        view.tobytes()


def test_peek_gives_a_read_only_view_and_consumes_at_the_end(box):
    box.send(b"payload")
    with box.peek(timeout=1) as view:
        assert view.readonly and bytes(view) == b"payload"
        with pytest.raises(TypeError):
            view[0] = 0
        assert box.info().taken == 1
    assert box.info().queued == 0 and box.info().taken == 0
    with pytest.raises(BlockingIOError):
        box.recv(timeout=0)


def test_peek_consumes_also_when_the_block_raises(box):
    box.send(b"x")
    with pytest.raises(KeyError):
        with box.peek(timeout=1):
            raise KeyError("bad")
    assert box.info().queued == 0


def test_peek_and_reserve_wait_as_told(make_box):
    box = make_box(slots=1, slot_size=64)
    with pytest.raises(BlockingIOError):
        with box.peek(timeout=0):
            pass
    with pytest.raises(TimeoutError):
        with box.peek(timeout=0.05):
            pass
    box.send(b"full")
    with pytest.raises(TimeoutError):
        with box.reserve(4, timeout=0.05):
            pass


def test_reserve_longer_than_slot_size_raises_message_too_long(box):
    with pytest.raises(shmbox.MessageTooLong):
        box.reserve(box.slot_size + 1)
    with pytest.raises(ValueError):
        box.reserve(-1)


def test_commit_with_a_shorter_length_and_abort(box):
    res = box.reserve(100)
    assert not res.active and res.length == 100
    with res as buf:
        assert res.active
        buf[:4] = b"four"
        res.commit(4)
        assert not res.active
    assert box.recv(timeout=1) == b"four"
    with box.reserve(10) as buf:
        pass
    assert box.recv(timeout=1) == bytes(10)
    res = box.reserve(10)
    with res:
        res.abort()
    with pytest.raises(BlockingIOError):
        box.recv(timeout=0)
    with pytest.raises(ValueError):
        res.commit()


def test_a_block_is_entered_once(box):
    res = box.reserve(1)
    with res:
        pass
    with pytest.raises(RuntimeError):
        with res:
            pass


def test_a_slice_that_outlives_the_block_raises_buffer_error_and_aborts(box):
    with pytest.raises(BufferError, match="outlived"):
        with box.reserve(8) as buf:
            kept = buf[2:4]
            buf[:] = b"12345678"
    with pytest.raises(BlockingIOError):
        box.recv(timeout=0)  # aborted
    # the mailbox cannot be detached from under the slice
    with pytest.raises(BufferError):
        box.detach()
    del kept
    box.detach()


def test_a_slice_of_a_peek_that_outlives_the_block_raises_buffer_error(box):
    box.send(b"abcdef")
    with pytest.raises(BufferError, match="consumed"):
        with box.peek(timeout=1) as view:
            kept = view[1:3]
    assert box.info().queued == 0
    del kept


def test_memoryview_of_the_slot_object_is_refused_outside_a_block(box):
    res = box.reserve(4)
    with pytest.raises(BufferError):
        memoryview(res)
    with res as buf:
        assert memoryview(res).nbytes == 4
        buf[:] = b"abcd"
    with pytest.raises(BufferError):
        memoryview(res)


def test_struct_pack_into_a_reservation_and_unpack_from_a_peek(box):
    rec = struct.Struct("<QId")
    with box.reserve(rec.size) as buf:
        rec.pack_into(buf, 0, 7, 8, 9.5)
    with box.peek(timeout=1) as view:
        assert rec.unpack_from(view) == (7, 8, 9.5)


def test_detach_inside_a_block_ends_it_and_puts_the_message_back(client, make_box):
    box = make_box(slots=4, slot_size=64)
    box.send(b"back")
    with box.peek(timeout=1) as view:
        box.detach()
        with pytest.raises(ValueError):
            view[0]
    again = client.attach(box.name)
    assert again.recv(timeout=5) == b"back"
    with again.reserve(3) as buf:
        again.detach()
    assert client.info(box.name).queued == 0


def test_many_blocks_at_once(make_box):
    box = make_box(slots=8, slot_size=64)
    blocks = [box.reserve(2) for _ in range(4)]
    views = [b.__enter__() for b in blocks]
    for i, v in enumerate(views):
        v[:] = b"%02d" % i
    for b in reversed(blocks):
        b.__exit__(None, None, None)
    assert sorted(box.recv_many(8, timeout=1)) == [b"00", b"01", b"02", b"03"]


def test_an_abandoned_block_is_aborted_when_collected(box):
    import gc
    res = box.reserve(4)
    buf = res.__enter__()
    buf[:] = b"lost"
    del res, buf
    gc.collect()
    with pytest.raises(BlockingIOError):
        box.recv(timeout=0)
    box.send(b"fine")
    assert box.recv(timeout=1) == b"fine"
