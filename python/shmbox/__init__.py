# SPDX-License-Identifier: MIT
"""shmbox - named shared-memory mailboxes kept by shmboxd.

SYNOPSIS
    import shmbox

    with shmbox.connect() as client:              # $SHMBOX_SOCKET or /run/shmbox/shmboxd.sock
        client.create("orders", slots=64, slot_size=4096, mode=0o600)
        with client.attach("orders") as box:
            box.send(b"hello")                     # any bytes-like object
            msg = box.recv(timeout=1.0)            # bytes; TimeoutError after 1 s

DESCRIPTION
    A mailbox holds up to `slots` messages of at most `slot_size` bytes each; a message is a
    byte string, possibly empty. The daemon shmboxd(8) creates, destroys and checks access to
    mailboxes; an attached mailbox is mapped into this process, and send() and recv() go
    straight through shared memory: when nobody has to wait they make no system call, and
    the daemon is never on the message path. Any process may die at any instant: the daemon
    repairs the mailbox, a committed message is never lost, and a message whose receiver
    died while holding it is delivered again.

    This package is libshmbox (shmbox(3)) for Python: a C extension over the public
    <shmbox.h>, with the asyncio calls written in Python.

CLIENT  (connect(socket=None) -> Client; a context manager that closes it)
    create(name, slots=0, slot_size=0, mode=0o600, group=None, ephemeral=False,
           broadcast=False, overwrite=False)
    destroy(name)
    chmod(name, mode=None, group=None)
    list() -> list[Entry]                          Entry(name, info)
    info(name) -> Info                             queued, sent, received, recovered, ...
    reload()
    attach(name) -> Mailbox                        a context manager that detaches it
    reply(info, data)                              answer a request (RequestInfo)
    request_discarded                              replies discarded by request()

MAILBOX
    send(data, timeout=None)
    recv(timeout=None) -> bytes
    recv_into(buffer, timeout=None) -> int
    send_many(messages, timeout=None) -> int       batches: one lock round per batch
    recv_many(n, timeout=None) -> list[bytes]
    with box.reserve(n) as buf: ...                zero-copy send: commit at the end
    with box.peek() as view: ...                   zero-copy receive: consume at the end
    request(data, timeout=None) -> bytes           send a request, wait for its reply
    recv_request(timeout=None) -> (bytes, RequestInfo)
    await send_async(data)
    await recv_async(timeout=None) -> bytes
    await recv_request_async(timeout=None) -> (bytes, RequestInfo)
    async for msg in box: ...
    fileno(), set_spin(us), info(), detach(); name, slots, slot_size, closed
    subscribe(on=True), missed                     broadcast mailboxes

TIMEOUTS
    timeout=None waits as long as it takes; timeout=0 never waits (WouldBlock, which is a
    BlockingIOError); a number of seconds (float) waits at most that long (Timeout, which is
    a TimeoutError). A send or receive that need not wait, of at most 1024 bytes, runs with
    the GIL held (releasing it would cost more than the call); a call that must wait, or
    copies more, releases it and wakes up every 50 ms to run signal handlers: Ctrl-C raises
    KeyboardInterrupt, and a message that was not returned stays in the mailbox. (Not
    request(): see REQUEST/REPLY.)

EPHEMERAL MAILBOXES
    create(name, ephemeral=True) ties the mailbox to the client's connection, like a D-Bus
    unique name or a NATS inbox: the daemon destroys it when the connection ends (close(),
    the process exiting or killed). info() and list() show it with INFO_EPHEMERAL in
    Info.flags and the creator's pid in Info.owner_pid.

BROADCAST MAILBOXES
    create(name, broadcast=True) makes every box attached with r a subscriber that gets
    every message sent after it attached; subscribe(False) for a box that only sends. With
    overwrite=True senders never wait: a subscriber a ring behind gets Overrun (EOVERFLOW)
    once, box.missed says how many messages it lost. A subscriber's fileno() is its own.

REQUEST/REPLY
    A client:  reply = box.request(b"question", timeout=1.0)
    A server:  body, info = box.recv_request()
               client.reply(info, b"answer")
    request() sends the message with a correlation id and the name of the client's own
    reply mailbox (ephemeral, made on its first request) and waits for the reply with that
    id; late replies to earlier requests are discarded and counted (request_discarded).
    request() is one library call: a sent request cannot be taken back, so it is not cut
    into 50 ms slices, signal handlers (Ctrl-C) run only when it returns, and the client is
    busy until then. Give it a timeout, and serve with another client than the requester's.

ZERO-COPY
    `with box.reserve(n) as buf:` gives a writable memoryview of n bytes inside the slot;
    the message is committed when the block ends, aborted (never delivered) when it ends
    with an exception. `with box.peek() as view:` gives a read-only memoryview of the oldest
    message inside its slot; it is consumed when the block ends. Each view raises ValueError
    once its block ended; a slice of it that outlives the block makes the block end with
    BufferError (a reservation is then aborted). If the process dies inside a peek block,
    the message goes to another receiver.

ASYNCIO
    recv_async() and `async for` wait on fileno() with loop.add_reader(): no thread per
    mailbox. A full mailbox has no file descriptor to wait on, so send_async() retries with
    a backoff of 0.5 to 20 ms. Cancelling an await never loses a message. A waiting
    recv_async() notices within 0.5 s that its mailbox was destroyed (Destroyed; `async for`
    then ends).

ERRORS
    Every error of the library is a shmbox.Error (an OSError) with errno, the library's
    message as strerror and the mailbox's name as filename; where Python has a class for
    the errno, the exception is one of those too. When the daemon said why it refused a
    control call (create, destroy, chmod, reload, attach, info, list), strerror carries its
    words as shmboxctl prints them, e.g. "no space: 1099515826176 bytes, above
    max-mailbox-bytes 1073741824", and the exception's reason attribute holds them alone
    (shmbox_last_error(); "" when it gave none):

        Timeout            ETIMEDOUT     TimeoutError
        WouldBlock         EAGAIN        BlockingIOError
        PermissionDenied   EACCES/EPERM  PermissionError
        NotFound           ENOENT        FileNotFoundError
        Exists             EEXIST        FileExistsError
        ConnectionRefused  ECONNREFUSED  ConnectionRefusedError (no daemon)
        NotConnected       ENOTCONN      ConnectionError (the daemon went away)
        InvalidArgument    EINVAL        ValueError
        Destroyed          EIDRM         the mailbox was destroyed
        Stale              ESTALE        inherited through fork(), or repaired
        MessageTooLong     EMSGSIZE      longer than slot_size / than the buffer
        Overrun            EOVERFLOW     a broadcast subscriber lost messages (missed)

    Others (ENOSPC, EDQUOT, EMFILE, EPROTO, EBADMSG, EOPNOTSUPP, EDESTADDRREQ: a reply to a
    message that was no request) are shmbox.Error with that errno.
    A closed client or a detached mailbox raises ValueError, like a closed file.

THREADS AND FORK
    A client and its mailboxes may be shared by threads: calls take turns on a lock per
    client (libshmbox's rule), and a call that waits holds it inside the library for a
    slice (1 ms while another thread waits for it), so a thread blocked in recv() lets a
    sender on the same client in about once per millisecond: connect once per thread. After fork(), every inherited Client, Mailbox and view raises
    Stale: connect and attach again in the child.

SEE ALSO
    shmbox(3), shmboxd(8), shmboxctl(1); python/examples/ in the source tree.
"""

import asyncio as _asyncio
import errno as _errno
import grp as _grp
import os as _os

from . import _shmbox
from ._shmbox import (
    DEFAULT_MODE,
    DEFAULT_SLOT_SIZE,
    DEFAULT_SLOTS,
    DEFAULT_SOCKET,
    NAME_MAX,
    SLOT_SIZE_MAX,
    SLOTS_MAX,
    ConnectionRefused,
    Destroyed,
    INFO_BROADCAST,
    INFO_EPHEMERAL,
    INFO_OVERWRITE,
    Entry,
    Error,
    Exists,
    Info,
    InvalidArgument,
    MessageTooLong,
    NotConnected,
    NotFound,
    Overrun,
    Peek,
    PermissionDenied,
    RequestInfo,
    Reservation,
    Stale,
    Timeout,
    WouldBlock,
    library_version,
    strerror,
)

__version__ = _shmbox.__version__

__all__ = [
    "connect", "Client", "Mailbox", "Reservation", "Peek", "Info", "Entry", "RequestInfo",
    "Error", "Timeout", "WouldBlock", "PermissionDenied", "NotFound", "Exists",
    "ConnectionRefused", "NotConnected", "InvalidArgument", "Destroyed", "Stale",
    "MessageTooLong", "Overrun", "library_version", "strerror",
    "DEFAULT_SOCKET", "DEFAULT_SLOTS", "DEFAULT_SLOT_SIZE", "DEFAULT_MODE",
    "NAME_MAX", "SLOTS_MAX", "SLOT_SIZE_MAX", "INFO_EPHEMERAL", "INFO_BROADCAST", "INFO_OVERWRITE",
]

# A full mailbox has no file descriptor: send_async() polls, backing off between these.
_SEND_BACKOFF_MIN = 0.0005
_SEND_BACKOFF_MAX = 0.02
# recv_async() looks this often (seconds) whether its mailbox was destroyed.
_DESTROY_CHECK = 0.5


def _gid(group):
    """A gid from an int, a group name, or None."""
    if group is None or isinstance(group, int):
        return group
    return _grp.getgrnam(group).gr_gid


class Client(_shmbox.Client):
    __doc__ = _shmbox.Client.__doc__

    def create(self, name, slots=0, slot_size=0, mode=0o600, group=None, ephemeral=False, broadcast=False,
               overwrite=False):
        # the C docstring, with group as a name or a gid
        return super().create(name, slots, slot_size, mode, _gid(group), ephemeral, broadcast, overwrite)

    create.__doc__ = _shmbox.Client.create.__doc__

    def chmod(self, name, mode=None, group=None):
        return super().chmod(name, mode, _gid(group))

    chmod.__doc__ = _shmbox.Client.chmod.__doc__

    def attach(self, name):
        """attach(name) -> Mailbox

        Attach the mailbox name and map it into this process. The caller needs r or w on
        it; the mailbox remembers which (send() without w, recv() without r:
        PermissionError). A context manager: `with client.attach(name) as box:` detaches
        at the end.
        Raises FileNotFoundError (NotFound), PermissionError (neither r nor w),
        shmbox.Error with EMFILE (too many attachments).
        """
        return Mailbox(self, name)


def connect(socket=None):
    """connect(socket=None) -> Client

    Connect to shmboxd at the socket path socket; None means $SHMBOX_SOCKET if it is set,
    else /run/shmbox/shmboxd.sock. A context manager: `with shmbox.connect() as client:`
    closes it at the end (detaching its mailboxes).
    Raises ConnectionRefusedError (ConnectionRefused) when no daemon listens there.
    """
    return Client(socket)


class Mailbox(_shmbox.Mailbox):
    __doc__ = _shmbox.Mailbox.__doc__

    def info(self):
        """info() -> Info

        What the daemon knows of this mailbox: client.info(box.name)."""
        return self.client.info(self.name)

    # --- asyncio -------------------------------------------------------------------------

    async def recv_async(self, timeout=None):
        """recv_async(timeout=None) -> bytes

        Receive the oldest message without blocking the event loop: waits on fileno() with
        loop.add_reader(), no thread. timeout in seconds (None: as long as it takes) raises
        TimeoutError. Cancelling the await takes no message.
        """
        return await self._recv_async(self.recv, timeout)

    async def recv_request_async(self, timeout=None):
        """recv_request_async(timeout=None) -> tuple[bytes, RequestInfo]

        recv_request() without blocking the event loop, as recv_async() waits. Reply with
        client.reply(info, data), which never waits.
        """
        return await self._recv_async(self.recv_request, timeout)

    async def _recv_async(self, take, timeout):
        try:
            return take(timeout=0)
        except WouldBlock:
            pass
        if timeout is not None:
            return await _asyncio.wait_for(self._recv_wait(take), timeout)
        return await self._recv_wait(take)

    async def _recv_wait(self, take):
        loop = _asyncio.get_running_loop()
        state = self.__dict__
        waiters = state.setdefault("_waiters", [])
        fut = loop.create_future()
        waiter = (fut, take)
        waiters.append(waiter)
        if len(waiters) == 1:
            loop.add_reader(self.fileno(), self._readable)
            # a message may have come between the first try and add_reader()
            loop.call_soon(self._readable)
            # the fd does not wake anyone when the mailbox is destroyed: look now and then
            state["_tick_handle"] = loop.call_later(_DESTROY_CHECK, self._tick, loop)
        try:
            return await fut
        finally:
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:  # the last one out (the first of several finishing together)
                tick = state.pop("_tick_handle", None)
                if tick is not None:
                    tick.cancel()
                    if not self.closed:
                        loop.remove_reader(self.fileno())

    def _tick(self, loop):
        self._readable()
        if self.__dict__.get("_waiters"):
            self.__dict__["_tick_handle"] = loop.call_later(_DESTROY_CHECK, self._tick, loop)

    def _readable(self):
        """The event loop's callback: hand queued messages to the waiters, oldest first."""
        waiters = self.__dict__.get("_waiters", [])
        while waiters:
            fut, take = waiters[0]
            if fut.done():  # cancelled: it takes nothing
                waiters.pop(0)
                continue
            try:
                msg = take(timeout=0)
            except WouldBlock:
                return
            except BaseException as e:  # noqa: B036 - handed to the awaiting task
                waiters.pop(0)
                fut.set_exception(e)
                continue
            waiters.pop(0)
            fut.set_result(msg)

    async def send_async(self, data, timeout=None):
        """send_async(data, timeout=None)

        Send data without blocking the event loop. A full mailbox has no file descriptor to
        wait on: the send is retried with a backoff of 0.5 to 20 ms. timeout in seconds
        (None: as long as it takes) raises TimeoutError. A cancelled await sent nothing.
        """
        loop = _asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = _SEND_BACKOFF_MIN
        while True:
            try:
                return self.send(data, timeout=0)
            except WouldBlock:
                pass
            if deadline is not None:
                left = deadline - loop.time()
                if left <= 0:
                    raise Timeout(_errno.ETIMEDOUT, strerror(_errno.ETIMEDOUT), self.name)
                delay = min(delay, left)
            await _asyncio.sleep(delay)
            delay = min(delay * 2, _SEND_BACKOFF_MAX)

    def __aiter__(self):
        return self

    async def __anext__(self):
        """The next message; the iteration ends when the mailbox is destroyed or detached."""
        try:
            return await self.recv_async()
        except Destroyed:
            raise StopAsyncIteration from None
        except ValueError:
            if self.closed:
                raise StopAsyncIteration from None
            raise


# A child of fork() has none of its parent's mappings: end the views of open zero-copy blocks
# there, so they raise instead of reading memory that is not there.
_os.register_at_fork(after_in_child=_shmbox._after_fork)
