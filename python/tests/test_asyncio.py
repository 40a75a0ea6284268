# SPDX-License-Identifier: MIT
"""asyncio: recv_async, send_async and `async for`, on the mailbox's fd, with no thread."""
import asyncio
import threading

import pytest

import shmbox
from helpers import scaled


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, scaled(20)))


def test_recv_async_returns_a_queued_message_at_once(box):
    box.send(b"ready")
    assert run(box.recv_async()) == b"ready"


def test_recv_async_waits_on_the_fd_without_a_thread(box):
    threads = threading.active_count()

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, box.send, b"later")
        task = asyncio.ensure_future(box.recv_async())
        await asyncio.sleep(0.05)
        assert threading.active_count() == threads
        return await task

    assert run(main()) == b"later"


def test_recv_async_timeout_raises_timeout_error(box):
    with pytest.raises(TimeoutError):
        run(box.recv_async(timeout=0.1))


def test_a_cancelled_recv_async_takes_no_message(box):
    async def main():
        task = asyncio.ensure_future(box.recv_async())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        box.send(b"kept")
        await asyncio.sleep(0.05)

    run(main())
    assert box.recv(timeout=1) == b"kept"


def test_many_waiters_get_one_message_each_in_order(box):
    async def main():
        tasks = [asyncio.ensure_future(box.recv_async()) for _ in range(3)]
        await asyncio.sleep(0.05)
        box.send_many([b"1", b"2", b"3"])
        return await asyncio.gather(*tasks)

    assert run(main()) == [b"1", b"2", b"3"]


def test_async_for_reads_until_the_mailbox_is_destroyed(client, unique_name):
    name = unique_name()
    client.create(name, slots=8, slot_size=64)
    box = client.attach(name)

    async def main():
        loop = asyncio.get_running_loop()
        for i in range(5):
            loop.call_later(0.01 * i, box.send, b"%d" % i)
        got = []
        async for msg in box:
            got.append(msg)
            if len(got) == 5:
                loop.call_later(0.05, client.destroy, name)
        return got

    assert run(main()) == [b"0", b"1", b"2", b"3", b"4"]
    box.detach()


def test_send_async_waits_for_space(make_box):
    box = make_box(slots=2, slot_size=64)
    box.send_many([b"a", b"b"])

    async def main():
        task = asyncio.ensure_future(box.send_async(b"c"))
        await asyncio.sleep(0.05)
        assert not task.done()
        assert box.recv(timeout=0) == b"a"
        await task
        with pytest.raises(TimeoutError):
            await box.send_async(b"d", timeout=0.05)

    run(main())
    assert box.recv_many(4, timeout=0) == [b"b", b"c"]


def test_an_async_echo_between_two_mailboxes(make_box):
    req, rep = make_box(slots=4, slot_size=64), make_box(slots=4, slot_size=64)

    async def server():
        n = 0
        async for m in req:
            await rep.send_async(m.upper())
            n += 1
            if n == 20:
                return

    async def main():
        srv = asyncio.ensure_future(server())
        got = []
        for i in range(20):
            await req.send_async(b"ping %d" % i)
            got.append(await rep.recv_async())
        await srv
        return got

    assert run(main()) == [b"PING %d" % i for i in range(20)]


def test_errors_reach_the_awaiting_task(client, make_box):
    box = make_box()
    with pytest.raises(shmbox.MessageTooLong):
        run(box.send_async(b"x" * 1000))

    async def destroyed_while_waiting():
        asyncio.get_running_loop().call_later(0.1, client.destroy, box.name)
        await box.recv_async()

    with pytest.raises(shmbox.Destroyed):
        run(destroyed_while_waiting())
