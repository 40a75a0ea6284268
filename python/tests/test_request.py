# SPDX-License-Identifier: MIT
"""Request/reply (issue 19): Mailbox.request(), recv_request(), recv_request_async(),
Client.reply(), Client.request_discarded. Each test runs its own daemon (own_daemon), which
must leave nothing in /dev/shm: the reply mailboxes are ephemeral and go with their client."""
import asyncio
import errno
import os
import threading
import time

import pytest

import shmbox
from helpers import Child, scaled


class Server:
    """A server thread with a client of its own: answers each request with handler(body) (or
    does what handler does with (client, body, info) when it takes three arguments)."""

    def __init__(self, socket, name, handler, count=None):
        self.client = shmbox.connect(socket)
        self.box = self.client.attach(name)
        self.handler, self.count = handler, count
        self.infos, self.errors = [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        served = 0
        try:
            while not self.stop.is_set() and (self.count is None or served < self.count):
                try:
                    body, info = self.box.recv_request(timeout=0.05)
                except shmbox.Timeout:
                    continue
                self.infos.append(info)
                if self.handler.__code__.co_argcount == 3:
                    self.handler(self.client, body, info)
                else:
                    self.client.reply(info, self.handler(body))
                served += 1
        except BaseException as e:  # noqa: B036 - reported by close()
            self.errors.append(e)

    def close(self):
        self.stop.set()
        self.thread.join(scaled(10))
        assert not self.thread.is_alive()
        self.client.close()
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def pair(own_daemon):
    """A requester's client (its own daemon) and a service mailbox "svc" it created."""
    with shmbox.connect(own_daemon.socket) as c:
        c.create("svc", slots=8, slot_size=256, mode=0o600)
        yield c
        c.destroy("svc")


def test_a_request_gets_the_reply_of_a_server_thread_without_holding_the_gil(own_daemon, pair):
    """The server is Python code in a thread of this process: had request() kept the GIL while
    it waits, the server could not run and the request would time out."""
    server = Server(own_daemon.socket, "svc", lambda body: body.upper() + b"!")
    try:
        with pair.attach("svc") as box:
            for word in (b"hello", b"", b"x" * 200):
                assert box.request(word, timeout=scaled(10)) == word.upper() + b"!"
            assert box.request(bytearray(b"any bytes-like"), timeout=scaled(10)) == b"ANY BYTES-LIKE!"
    finally:
        server.close()
    assert pair.request_discarded == 0
    # what the server saw: a correlation id per request, all different, and this client's reply
    # mailbox, ephemeral and created by this process
    ids = [i.id for i in server.infos]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert all(isinstance(i, shmbox.RequestInfo) for i in server.infos)
    reply_to = {i.reply_to for i in server.infos}
    assert len(reply_to) == 1
    (name,) = reply_to
    assert name.startswith("reply.%d." % os.getpid())
    info = pair.info(name)
    assert info.flags == shmbox.INFO_EPHEMERAL and info.owner_pid == os.getpid()
    assert (info.slots, info.slot_size, info.mode) == (16, 4096, 0o622)


def test_the_reply_mailbox_goes_when_the_requesting_client_closes(own_daemon, pair):
    server = Server(own_daemon.socket, "svc", lambda body: body)
    try:
        with shmbox.connect(own_daemon.socket) as c2, c2.attach("svc") as box:
            assert box.request(b"ping", timeout=scaled(10)) == b"ping"
            name = server.infos[0].reply_to
            assert name in {e.name for e in pair.list()}
        deadline = time.monotonic() + scaled(10)
        while name in {e.name for e in pair.list()} and time.monotonic() < deadline:
            time.sleep(0.01)
        assert name not in {e.name for e in pair.list()}
    finally:
        server.close()


def test_requests_and_replies_between_processes(own_daemon, pair):
    """A server in another process answers 200 requests; each reply is the one to its request."""
    child = Child("""
import shmbox, sys
c = shmbox.connect(sys.argv[1])
box = c.attach("svc")
print("ready", flush=True)
for _ in range(200):
    body, info = box.recv_request(timeout=30)
    c.reply(info, b"re:" + body + b":%d" % len(info.reply_to))
print("served", flush=True)
""", own_daemon.socket)
    try:
        assert child.line() == "ready"
        with pair.attach("svc") as box:
            for i in range(200):
                reply = box.request(b"q%d" % i, timeout=scaled(10))
                assert reply.startswith(b"re:q%d:" % i), reply
        assert child.line() == "served"
        assert child.wait()[0] == 0
    finally:
        child.kill()


def test_many_requester_threads_each_get_their_own_replies(own_daemon, pair):
    server = Server(own_daemon.socket, "svc", lambda body: b"re:" + body)
    results, errors = {}, []

    def requester(k):
        try:
            with shmbox.connect(own_daemon.socket) as c, c.attach("svc") as box:
                results[k] = [box.request(b"%d.%d" % (k, i), timeout=scaled(10)) for i in range(50)]
        except BaseException as e:  # noqa: B036 - checked below
            errors.append(e)

    threads = [threading.Thread(target=requester, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(60))
    server.close()
    assert not errors, errors
    for k in range(4):
        assert results[k] == [b"re:%d.%d" % (k, i) for i in range(50)]


def test_a_request_without_a_server_times_out_and_its_late_reply_is_discarded(own_daemon, pair):
    with pair.attach("svc") as box:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as ei:
            box.request(b"first", timeout=0.2)
        assert time.monotonic() - t0 >= 0.2
        assert isinstance(ei.value, shmbox.Timeout) and ei.value.errno == errno.ETIMEDOUT
        assert ei.value.filename == "svc"
        assert pair.info("svc").queued == 1  # the request was sent: it waits for a server

        # a server comes late: answers the first request, then the second one
        with shmbox.connect(own_daemon.socket) as sc, sc.attach("svc") as sbox:
            body, first = sbox.recv_request(timeout=scaled(10))
            assert body == b"first"
            sc.reply(first, b"late answer")

            def serve_second():
                body, info = sbox.recv_request(timeout=scaled(10))
                sc.reply(info, b"answer to " + body)

            t = threading.Thread(target=serve_second)
            t.start()
            try:
                assert box.request(b"second", timeout=scaled(10)) == b"answer to second"
            finally:
                t.join()
        assert pair.request_discarded == 1  # the late reply to "first"


def _wrong_id(client, body, info):
    client.reply(shmbox.RequestInfo((info.id + 1, info.reply_to)), b"not yours")


def _plain_message(client, body, info):
    with client.attach(info.reply_to) as rb:
        rb.send(b"no header at all")


def _a_request(client, body, info):
    with client.attach(info.reply_to) as rb, pytest.raises(shmbox.WouldBlock):
        rb.request(b"a request, not a reply", timeout=0)


@pytest.mark.parametrize("wrong", [_wrong_id, _plain_message, _a_request])
def test_a_reply_of_the_wrong_shape_is_discarded_and_the_request_times_out(own_daemon, pair, wrong):
    """A reply with another id, a plain message or a request (which carries a reply-to) in the
    reply mailbox: none is the reply awaited."""
    server = Server(own_daemon.socket, "svc", wrong, count=2)
    try:
        with pair.attach("svc") as box:
            for n in (1, 2):
                with pytest.raises(shmbox.Timeout):
                    box.request(b"q", timeout=0.3)
                # the wrong reply may come while the request still waits, or after it timed
                # out (then the next request discards it): wait for the server to have sent
                deadline = time.monotonic() + scaled(10)
                while len(server.infos) < n and time.monotonic() < deadline:
                    time.sleep(0.01)
    finally:
        server.close()
    # each wrong reply was discarded: both by the time the second request ended, or the second
    # one's by the next request
    with pair.attach("svc") as box, pytest.raises(shmbox.WouldBlock):
        box.request(b"no server", timeout=0)
    assert pair.request_discarded == 2, wrong.__name__
    with pair.attach("svc") as box:
        assert box.recv(timeout=0) == b"no server"  # a plain receive shows the body only


def test_reply_refuses_what_is_not_a_request(own_daemon, pair):
    with pair.attach("svc") as box:
        box.send(b"plain")
        body, info = box.recv_request(timeout=0)
        assert body == b"plain" and info == shmbox.RequestInfo((0, "")) and info.reply_to == ""
        with pytest.raises(shmbox.Error) as ei:
            pair.reply(info, b"to nobody")
        assert ei.value.errno == errno.EDESTADDRREQ
        with pytest.raises(TypeError):
            pair.reply((1, "svc"), b"a tuple is not a RequestInfo")
        with pytest.raises(TypeError):
            pair.reply(info)
        with pytest.raises(shmbox.InvalidArgument):
            pair.reply(shmbox.RequestInfo((1, ".hidden")), b"x")
        with pytest.raises(shmbox.InvalidArgument):
            pair.reply(shmbox.RequestInfo((1, "x" * 65)), b"x")
        with pytest.raises(FileNotFoundError) as ei:
            pair.reply(shmbox.RequestInfo((1, "reply.nobody")), b"x")
        assert isinstance(ei.value, shmbox.NotFound) and ei.value.filename == "reply.nobody"
        with pytest.raises(OverflowError):
            pair.reply(shmbox.RequestInfo((-1, "svc")), b"x")


def test_a_server_reply_to_a_requester_that_is_gone_raises_not_found(own_daemon, pair):
    child = Child("""
import shmbox, sys
c = shmbox.connect(sys.argv[1])
box = c.attach("svc")
print("asking", flush=True)
box.request(b"from a child", timeout=60)
""", own_daemon.socket)
    try:
        assert child.line() == "asking"
        with pair.attach("svc") as box:
            body, info = box.recv_request(timeout=scaled(10))
            assert body == b"from a child" and info.reply_to.startswith("reply.%d." % child.proc.pid)
            child.proc.kill()
            child.proc.wait()
            deadline = time.monotonic() + scaled(10)
            while info.reply_to in {e.name for e in pair.list()} and time.monotonic() < deadline:
                time.sleep(0.01)
            with pytest.raises(shmbox.NotFound):
                pair.reply(info, b"too late")
    finally:
        child.kill()


def test_sizes_the_header_and_large_replies(own_daemon):
    with shmbox.connect(own_daemon.socket) as c:
        c.create("big", slots=4, slot_size=65536)
        c.create("small", slots=4, slot_size=64)
        try:
            server = Server(own_daemon.socket, "big", lambda body: body * 2)
            try:
                with c.attach("big") as box:
                    # the reply mailbox takes the slot size of the box of the first request
                    assert box.request(b"z" * 30000, timeout=scaled(10)) == b"z" * 60000
                    with c.attach("small") as small:
                        # the request header (its id and reply-to) takes room in the slot
                        with pytest.raises(shmbox.MessageTooLong):
                            small.request(b"y" * 64, timeout=scaled(10))
                        assert c.info("small").queued == 0
            finally:
                server.close()
            # a reply longer than the reply mailbox's slots: the server learns it
            with shmbox.connect(own_daemon.socket) as c2, c2.attach("big") as box:
                with shmbox.connect(own_daemon.socket) as sc, sc.attach("big") as sbox:
                    with pytest.raises(shmbox.Timeout):
                        box.request(b"q", timeout=0.05)  # makes c2's reply mailbox, 65536 B slots
                    _, info = sbox.recv_request(timeout=0)
                    with pytest.raises(shmbox.MessageTooLong):
                        sc.reply(info, b"r" * 65536)
                    sc.reply(info, b"r" * 60000)
        finally:
            c.destroy("big")
            c.destroy("small")


def test_recv_request_waits_as_recv_does(own_daemon, pair):
    with pair.attach("svc") as box:
        with pytest.raises(BlockingIOError):
            box.recv_request(timeout=0)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            box.recv_request(timeout=0.1)
        assert time.monotonic() - t0 >= 0.1
        timer = threading.Timer(0.1, lambda: box.send(b"later"))
        timer.start()
        try:
            assert box.recv_request(timeout=scaled(10)) == (b"later", shmbox.RequestInfo((0, "")))
        finally:
            timer.join()
        with pytest.raises(TypeError):
            box.recv_request(wait=1)
        with pytest.raises(ValueError):
            box.recv_request(timeout=-1)
    with pytest.raises(ValueError):
        box.recv_request(timeout=0)  # detached
    with pytest.raises(ValueError):
        box.request(b"x", timeout=0)


def test_recv_request_async_serves_without_a_thread(own_daemon, pair):
    async def serve(box, n):
        for _ in range(n):
            body, info = await box.recv_request_async()
            pair.reply(info, b"async:" + body)

    async def main():
        with pair.attach("svc") as box:
            await serve(box, 3)

    async def nothing():
        with pair.attach("svc") as box, pytest.raises(TimeoutError):
            await box.recv_request_async(timeout=0.05)

    asyncio.run(asyncio.wait_for(nothing(), scaled(20)))  # before any requester
    done = []

    def requests():
        with shmbox.connect(own_daemon.socket) as c, c.attach("svc") as box:
            done.extend(box.request(b"%d" % i, timeout=scaled(10)) for i in range(3))

    t = threading.Thread(target=requests)
    t.start()
    try:
        asyncio.run(asyncio.wait_for(main(), scaled(20)))
    finally:
        t.join(scaled(20))
    assert done == [b"async:0", b"async:1", b"async:2"]


def test_recv_async_and_recv_request_async_wait_together(own_daemon, pair):
    """Both wait on the same fd, each waiter with its own kind of receive, oldest first."""
    async def main():
        with pair.attach("svc") as box:
            a = asyncio.ensure_future(box.recv_async())
            b = asyncio.ensure_future(box.recv_request_async())
            await asyncio.sleep(0.05)
            box.send_many([b"one", b"two"])
            return await asyncio.gather(a, b)

    assert asyncio.run(asyncio.wait_for(main(), scaled(20))) == [b"one", (b"two", shmbox.RequestInfo((0, "")))]


def test_after_fork_request_and_reply_raise_stale(own_daemon, pair):
    with pair.attach("svc") as box:
        box.send(b"plain")
        _, info = box.recv_request(timeout=0)
        pid = os.fork()
        if pid == 0:
            code = 0
            for call in (lambda: box.request(b"x", timeout=0), lambda: box.recv_request(timeout=0),
                         lambda: pair.reply(info, b"x"), lambda: pair.request_discarded):
                try:
                    call()
                    code = code or 1
                except shmbox.Stale:
                    pass
                except BaseException:
                    code = code or 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_first_request_without_a_daemon_raises_not_connected(own_daemon):
    """The first request makes the reply mailbox: a control call, which needs the daemon."""
    with shmbox.connect(own_daemon.socket) as c:
        c.create("svc", slots=4, slot_size=64)
        with c.attach("svc") as box:
            c.destroy("svc")  # its names go; the box stays mapped
            own_daemon.stop()
            with pytest.raises(ConnectionError) as ei:
                box.request(b"x", timeout=scaled(10))
            assert isinstance(ei.value, shmbox.NotConnected) and ei.value.errno == errno.ENOTCONN
