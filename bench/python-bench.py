#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""python-bench.py — the Python binding of shmbox against what a Python developer would pick
otherwise, between two Python processes, in one run (issue 15).

What it measures, each side in its own process (forked by multiprocessing):
- one-way throughput at 64 B and 64 KiB: a sender sends for --duration seconds, then an end
  marker; the rate is the receiver's count over the time from "go" (a barrier) to the marker.
  Every sender makes each message the same way (an 8-byte sequence number, then the payload,
  as a new bytes object) and every receiver checks each sequence number, so no transport
  skips work; a wrong or missing message fails the run (exit 1). Transports:
    shmbox     box.send(msg) / box.recv()
    zerocopy   `with box.reserve(n) as buf:` the sender writes the header and the payload into
               the slot (no bytes object); `with box.peek() as view:` the receiver reads the
               header and the last byte in place (as pyzmq's copy=False receiver does)
    batch      send_many() of 32 messages / recv_many(64)
    mp.Queue   multiprocessing.Queue put/get (pickled, a feeder thread)
    mp.Pipe    multiprocessing.Pipe send_bytes/recv_bytes
    pyzmq      PUSH/PULL over ipc:// (python3-zmq; 64 KiB with copy=False on both sides)
- the same exchange in C: bench/shmbox-bench --only shmbox,zerocopy,throughput (its own run,
  right after), for the Python overhead per message: 1/rate(Python) - 1/rate(C).
- round trip at 64 B (p50, p99): a pinger and a ponger, shmbox (two mailboxes) against a
  multiprocessing.Pipe (duplex).
- threads at 64 B, in one process: the main thread sends, a second thread receives, on two
  attachments of one mailbox, through one shared Client, then through a Client per thread
  (a waiting call holds the client's lock in the library for its slice: see the README).
Each figure is the median of --reps repetitions, the transports interleaved (rep 1 of every
transport, then rep 2, ...): compare the ratios of one run, not figures of different runs.

It starts its own shmboxd (--shmboxd) on a temporary socket and prefix and stops it at the
end; nothing is left in /dev/shm. Run it with PYTHONPATH pointing at the shmbox package, or
through `make bench-python` in the build tree.
"""
import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import shmbox

HDR = struct.Struct("<Q")
END = 0xFFFFFFFFFFFFFFFF
SIZES = (64, 65536)


# --- transports: each gives a sender and a receiver, run in forked processes ----------------

class Transport:
    name = "?"
    zero_copy = False

    def setup(self, size, tmp):
        pass

    def teardown(self):
        pass


class Shmbox(Transport):
    name = "shmbox"

    def __init__(self, socket, prefix):
        self.socket = socket
        self.prefix = prefix
        self.n = 0

    def setup(self, size, tmp):
        self.n += 1
        self.box = "%s-%d" % (self.name, self.n)
        with shmbox.connect(self.socket) as c:
            c.create(self.box, slots=64, slot_size=max(size, 64))

    def teardown(self):
        with shmbox.connect(self.socket) as c:
            c.destroy(self.box)

    def open(self):
        self.client = shmbox.connect(self.socket)
        return self.client.attach(self.box)

    def sender(self, go, size, duration):
        box = self.open()
        payload = bytes(size - HDR.size)
        send, pack = box.send, HDR.pack
        go.wait()
        end = time.perf_counter() + duration
        seq = 0
        while True:
            for _ in range(64):
                send(pack(seq) + payload)
                seq += 1
            if time.perf_counter() > end:
                break
        send(pack(END))
        return seq

    def receiver(self, go, size):
        box = self.open()
        recv, unpack = box.recv, HDR.unpack_from
        go.wait()
        t0 = time.perf_counter()
        expect = 0
        while True:
            m = recv()
            seq = unpack(m)[0]
            if seq != expect:
                if seq == END:
                    return expect, time.perf_counter() - t0
                raise RuntimeError("%s: got %d, expected %d" % (self.name, seq, expect))
            if len(m) != size:
                raise RuntimeError("%s: length %d" % (self.name, len(m)))
            expect += 1


class ZeroCopy(Shmbox):
    name = "zerocopy"
    zero_copy = True

    def sender(self, go, size, duration):
        box = self.open()
        payload = bytes(size - HDR.size)
        reserve, pack_into = box.reserve, HDR.pack_into
        go.wait()
        end = time.perf_counter() + duration
        seq = 0
        while True:
            for _ in range(64):
                with reserve(size) as buf:
                    pack_into(buf, 0, seq)
                    buf[8:] = payload
                seq += 1
            if time.perf_counter() > end:
                break
        box.send(HDR.pack(END))
        return seq

    def receiver(self, go, size):
        box = self.open()
        peek, unpack = box.peek, HDR.unpack_from
        go.wait()
        t0 = time.perf_counter()
        expect = 0
        while True:
            with peek() as view:
                seq = unpack(view)[0]
                last = view[-1]
                n = len(view)
            if seq != expect:
                if seq == END:
                    return expect, time.perf_counter() - t0
                raise RuntimeError("%s: got %d, expected %d" % (self.name, seq, expect))
            if n != size or last != 0:
                raise RuntimeError("%s: length %d" % (self.name, n))
            expect += 1


class Batch(Shmbox):
    name = "batch"

    def sender(self, go, size, duration):
        box = self.open()
        payload = bytes(size - HDR.size)
        send_many, pack = box.send_many, HDR.pack
        go.wait()
        end = time.perf_counter() + duration
        seq = 0
        while True:
            for _ in range(4):
                send_many([pack(s) + payload for s in range(seq, seq + 32)])
                seq += 32
            if time.perf_counter() > end:
                break
        box.send(pack(END))
        return seq

    def receiver(self, go, size):
        box = self.open()
        recv_many, unpack = box.recv_many, HDR.unpack_from
        go.wait()
        t0 = time.perf_counter()
        expect = 0
        while True:
            for m in recv_many(64):
                seq = unpack(m)[0]
                if seq != expect:
                    if seq == END:
                        return expect, time.perf_counter() - t0
                    raise RuntimeError("%s: got %d, expected %d" % (self.name, seq, expect))
                if len(m) != size:
                    raise RuntimeError("%s: length %d" % (self.name, len(m)))
                expect += 1


class MpQueue(Transport):
    name = "mp.Queue"

    def setup(self, size, tmp):
        self.q = mp.get_context("fork").Queue()

    def sender(self, go, size, duration):
        payload = bytes(size - HDR.size)
        put, pack = self.q.put, HDR.pack
        go.wait()
        end = time.perf_counter() + duration
        seq = 0
        while True:
            for _ in range(64):
                put(pack(seq) + payload)
                seq += 1
            if time.perf_counter() > end:
                break
        put(pack(END))
        self.q.close()
        self.q.join_thread()
        return seq

    def receiver(self, go, size):
        get, unpack = self.q.get, HDR.unpack_from
        go.wait()
        t0 = time.perf_counter()
        expect = 0
        while True:
            m = get()
            seq = unpack(m)[0]
            if seq != expect:
                if seq == END:
                    return expect, time.perf_counter() - t0
                raise RuntimeError("%s: got %d, expected %d" % (self.name, seq, expect))
            if len(m) != size:
                raise RuntimeError("%s: length %d" % (self.name, len(m)))
            expect += 1


class MpPipe(Transport):
    name = "mp.Pipe"

    def setup(self, size, tmp):
        self.rx, self.tx = mp.get_context("fork").Pipe(duplex=False)

    def teardown(self):
        self.rx.close()
        self.tx.close()

    def sender(self, go, size, duration):
        payload = bytes(size - HDR.size)
        send, pack = self.tx.send_bytes, HDR.pack
        go.wait()
        end = time.perf_counter() + duration
        seq = 0
        while True:
            for _ in range(64):
                send(pack(seq) + payload)
                seq += 1
            if time.perf_counter() > end:
                break
        send(pack(END))
        return seq

    def receiver(self, go, size):
        recv, unpack = self.rx.recv_bytes, HDR.unpack_from
        go.wait()
        t0 = time.perf_counter()
        expect = 0
        while True:
            m = recv()
            seq = unpack(m)[0]
            if seq != expect:
                if seq == END:
                    return expect, time.perf_counter() - t0
                raise RuntimeError("%s: got %d, expected %d" % (self.name, seq, expect))
            if len(m) != size:
                raise RuntimeError("%s: length %d" % (self.name, len(m)))
            expect += 1


class Zmq(Transport):
    name = "pyzmq"

    def setup(self, size, tmp):
        self.endpoint = "ipc://%s/zmq-%d" % (tmp, size)

    def socket(self, kind):
        import zmq
        self.ctx = zmq.Context()
        s = self.ctx.socket(getattr(zmq, kind))
        s.setsockopt(zmq.LINGER, 5000)
        return s

    def sender(self, go, size, duration):
        s = self.socket("PUSH")
        s.connect(self.endpoint)
        payload = bytes(size - HDR.size)
        copy = size < 65536
        send, pack = s.send, HDR.pack
        go.wait()
        end = time.perf_counter() + duration
        seq = 0
        while True:
            for _ in range(64):
                send(pack(seq) + payload, copy=copy)
                seq += 1
            if time.perf_counter() > end:
                break
        send(pack(END))
        s.close()
        self.ctx.term()
        return seq

    def receiver(self, go, size):
        s = self.socket("PULL")
        s.bind(self.endpoint)
        copy = size < 65536
        recv, unpack = s.recv, HDR.unpack_from
        go.wait()
        t0 = time.perf_counter()
        expect = 0
        try:
            while True:
                m = recv(copy=copy)
                if not copy:
                    m = m.buffer
                seq = unpack(m)[0]
                if seq != expect:
                    if seq == END:
                        return expect, time.perf_counter() - t0
                    raise RuntimeError("%s: got %d, expected %d" % (self.name, seq, expect))
                if len(m) != size:
                    raise RuntimeError("%s: length %d" % (self.name, len(m)))
                expect += 1
        finally:
            s.close()
            self.ctx.term()


# --- running one measurement ------------------------------------------------------------------

def _worker(fn, args, results, key):
    try:
        results.put((key, fn(*args)))
    except BaseException as e:  # reported to the driver, which fails the run
        results.put((key, "error: %r" % e))


def one_way(t, size, duration, tmp):
    """Messages per second from one sender process to one receiver process, checked."""
    ctx = mp.get_context("fork")
    t.setup(size, tmp)
    try:
        go = ctx.Barrier(2)
        results = ctx.Queue()
        rx = ctx.Process(target=_worker, args=(t.receiver, (go, size), results, "rx"))
        rx.start()
        time.sleep(0.05)  # a PULL socket binds before its PUSH connects
        tx = ctx.Process(target=_worker, args=(t.sender, (go, size, duration), results, "tx"))
        tx.start()
        got = dict(results.get(timeout=60 + 10 * duration) for _ in range(2))
        rx.join(30)
        tx.join(30)
    finally:
        t.teardown()
    for k in ("rx", "tx"):
        if isinstance(got[k], str):
            raise RuntimeError("%s %d B %s: %s" % (t.name, size, k, got[k]))
    count, elapsed = got["rx"]
    if count != got["tx"]:
        raise RuntimeError("%s %d B: sent %d, received %d" % (t.name, size, got["tx"], count))
    return count / elapsed


def _pinger_shmbox(sock, ping, pong, n, go):
    with shmbox.connect(sock) as c, c.attach(ping) as a, c.attach(pong) as b:
        msg = bytes(64)
        go.wait()
        out = []
        for _ in range(n):
            t = time.perf_counter_ns()
            a.send(msg)
            b.recv()
            out.append(time.perf_counter_ns() - t)
        a.send(b"")
        return out


def _ponger_shmbox(sock, ping, pong, go):
    with shmbox.connect(sock) as c, c.attach(ping) as a, c.attach(pong) as b:
        go.wait()
        while True:
            m = a.recv()
            if not m:
                return 0
            b.send(m)


def _pinger_pipe(conn, n, go):
    msg = bytes(64)
    go.wait()
    out = []
    for _ in range(n):
        t = time.perf_counter_ns()
        conn.send_bytes(msg)
        conn.recv_bytes()
        out.append(time.perf_counter_ns() - t)
    conn.send_bytes(b"")
    return out


def _ponger_pipe(conn, go):
    go.wait()
    while True:
        m = conn.recv_bytes()
        if not m:
            return 0
        conn.send_bytes(m)


def round_trip(kind, sock, n):
    """p50 and p99 of n round trips of 64 B, in microseconds."""
    ctx = mp.get_context("fork")
    go = ctx.Barrier(2)
    results = ctx.Queue()
    if kind == "shmbox":
        with shmbox.connect(sock) as c:
            c.create("ping", slots=64, slot_size=64)
            c.create("pong", slots=64, slot_size=64)
        ping = (_pinger_shmbox, (sock, "ping", "pong", n, go))
        pong = (_ponger_shmbox, (sock, "ping", "pong", go))
    else:
        a, b = ctx.Pipe()
        ping = (_pinger_pipe, (a, n, go))
        pong = (_ponger_pipe, (b, go))
    procs = [ctx.Process(target=_worker, args=(fn, args, results, key))
             for key, (fn, args) in (("ping", ping), ("pong", pong))]
    for p in procs:
        p.start()
    got = dict(results.get(timeout=120) for _ in range(2))
    for p in procs:
        p.join(30)
    if kind == "shmbox":
        with shmbox.connect(sock) as c:
            c.destroy("ping")
            c.destroy("pong")
    if isinstance(got["ping"], str) or isinstance(got["pong"], str):
        raise RuntimeError("round trip %s: %s %s" % (kind, got["ping"], got["pong"]))
    lat = sorted(got["ping"])
    return lat[len(lat) // 2] / 1000, lat[len(lat) * 99 // 100] / 1000


# --- the C figures -------------------------------------------------------------------------------

def threads(sock, duration):
    """64 B msgs/s from the main thread to a receiving thread of this process, through one
    shared Client and through a Client per thread."""
    import threading
    out = {}
    with shmbox.connect(sock) as c:
        c.create("threads", slots=64, slot_size=64)
        try:
            for kind in ("shared client", "client per thread"):
                c2 = c if kind == "shared client" else shmbox.connect(sock)
                tx, rx = c.attach("threads"), c2.attach("threads")
                got = []

                def receive():
                    expect = 0
                    while True:
                        seq = HDR.unpack_from(rx.recv())[0]
                        if seq != expect:
                            got.append(expect if seq == END else -1)
                            return
                        expect += 1

                th = threading.Thread(target=receive)
                th.start()
                t0 = time.perf_counter()
                end, seq, payload = t0 + duration, 0, bytes(64 - HDR.size)
                while time.perf_counter() < end:
                    for _ in range(16):
                        tx.send(HDR.pack(seq) + payload)
                        seq += 1
                tx.send(HDR.pack(END))
                th.join()
                out[kind] = seq / (time.perf_counter() - t0)
                tx.detach()
                rx.detach()
                if c2 is not c:
                    c2.close()
                if got != [seq]:
                    raise RuntimeError("threads, %s: sent %d, received %s" % (kind, seq, got))
        finally:
            c.destroy("threads")
    return out


def c_figures(c_bench, shmboxd, prefix, quick):
    """64 B and 64 KiB one-way msgs/s of shmbox and zerocopy in C (bench/shmbox-bench)."""
    if not c_bench or not os.access(c_bench, os.X_OK):
        return None, "bench/shmbox-bench not found (--c-bench)"
    args = [c_bench, "--json", "--only", "shmbox,zerocopy,throughput", "--sizes", "64,65536",
            "--prefix", prefix + "c"]
    if shmboxd:
        args += ["--shmboxd", shmboxd]
    if quick:
        args.append("--quick")
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        return None, "shmbox-bench failed: " + p.stderr.strip()[-300:]
    v = {f["id"]: f["values"] for f in json.loads(p.stdout)["figures"]}
    return {(size, t): v["throughput_%d_msgs_per_s" % size][t] for size in SIZES
            for t in ("shmbox", "zerocopy")}, None


# --- the daemon and the report -------------------------------------------------------------------

def start_daemon(shmboxd, tmp, prefix):
    sock = os.path.join(tmp, "sock")
    log = open(os.path.join(tmp, "shmboxd.log"), "wb")
    proc = subprocess.Popen([shmboxd, "--socket", sock, "--prefix", prefix, "--state-dir",
                             os.path.join(tmp, "state"), "--config", os.path.join(tmp, "none.conf")],
                            stdout=log, stderr=log)
    for _ in range(500):
        try:
            shmbox.connect(sock).close()
            return proc, sock
        except shmbox.ConnectionRefused:
            if proc.poll() is not None:
                break
            time.sleep(0.01)
    raise SystemExit("python-bench: shmboxd did not come up (see %s)" % log.name)


def fmt_rate(r):
    if r is None:
        return "-"
    if r >= 1e6:
        return "%.2f M" % (r / 1e6)
    if r >= 1e3:
        return "%.1f k" % (r / 1e3)
    return "%.0f" % r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shmboxd", default=shutil.which("shmboxd") or "/usr/sbin/shmboxd",
                    help="the daemon to run (default: from PATH)")
    ap.add_argument("--c-bench", help="bench/shmbox-bench, for the C figures (default: none)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions, the median is shown (default 3)")
    ap.add_argument("--duration", type=float, default=0.5, help="seconds per one-way measurement (default 0.5)")
    ap.add_argument("--round-trips", type=int, default=20000, help="round trips per latency measurement")
    ap.add_argument("--quick", action="store_true", help="1 repetition, 0.2 s, 2000 round trips")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.duration, args.round_trips = 1, 0.2, 2000

    try:
        import zmq  # noqa: F401
        have_zmq = True
    except ImportError:
        have_zmq = False
        print("python-bench: pyzmq is missing (Debian: python3-zmq): no pyzmq column", file=sys.stderr)

    tmp = tempfile.mkdtemp(prefix="shmboxpybench.")
    prefix = "shmboxpybench%d" % os.getpid()
    daemon, sock = start_daemon(args.shmboxd, tmp, prefix)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    transports = [Shmbox(sock, prefix), ZeroCopy(sock, prefix), Batch(sock, prefix), MpQueue(), MpPipe()]
    if have_zmq:
        transports.append(Zmq())
    rates = {}
    rtt = {}
    thr = {}
    try:
        for rep in range(args.reps):
            for size in SIZES:
                for t in transports:
                    if isinstance(t, Batch) and size != 64:
                        continue
                    r = one_way(t, size, args.duration, tmp)
                    rates.setdefault((size, t.name), []).append(r)
                    print("rep %d: %6d B %-9s %12.0f msgs/s" % (rep + 1, size, t.name, r), file=sys.stderr)
            for kind in ("shmbox", "mp.Pipe"):
                rtt.setdefault(kind, []).append(round_trip(kind, sock, args.round_trips))
            for kind, r in threads(sock, args.duration).items():
                thr.setdefault(kind, []).append(r)
        c, c_note = c_figures(args.c_bench, args.shmboxd, prefix, args.quick)
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    left = [f for f in os.listdir("/dev/shm") if prefix in f]
    if left:
        print("python-bench: left in /dev/shm: %s" % left, file=sys.stderr)

    med = {k: statistics.median(v) for k, v in rates.items()}
    names = [t.name for t in transports]
    others = [n for n in ("mp.Queue", "mp.Pipe", "pyzmq") if n in names]
    print("Python %s, shmbox %s; %d rep(s) of %.1f s, medians; each side in its own process" %
          (sys.version.split()[0], shmbox.library_version(), args.reps, args.duration))
    head = "%-22s" % "one-way, msgs/s" + "".join("%10s" % n for n in names) + "%10s%10s" % ("C shmbox", "C zcopy")
    head += "".join("%9s" % ("/" + n.split(".")[-1]) for n in others)
    print(head)
    for size in SIZES:
        label = "64 B" if size == 64 else "64 KiB"
        row = "%-22s" % label + "".join("%10s" % fmt_rate(med.get((size, n))) for n in names)
        row += "".join("%10s" % fmt_rate(c[(size, t)] if c else None) for t in ("shmbox", "zerocopy"))
        row += "".join("%8.2fx" % (med[(size, "shmbox")] / med[(size, o)]) for o in others)
        print(row)
        for variant in ("zerocopy", "batch"):
            if (size, variant) in med:
                print("%-22s" % ("  %s/X" % variant) + " " * (10 * len(names) + 20) +
                      "".join("%8.2fx" % (med[(size, variant)] / med[(size, o)]) for o in others))
    print()
    for size in SIZES:
        label = "64 B" if size == 64 else "64 KiB"
        for variant in ("shmbox", "zerocopy"):
            if c and c[(size, variant)]:
                py_ns = 1e9 / med[(size, variant)]
                c_ns = 1e9 / c[(size, variant)]
                print("%-6s %-8s per message: Python %7.0f ns, C %7.0f ns: Python overhead %7.0f ns" %
                      (label, variant, py_ns, c_ns, py_ns - c_ns))
    if not c:
        print("C figures: %s" % c_note)
    print()
    p50 = {k: statistics.median(x[0] for x in v) for k, v in rtt.items()}
    p99 = {k: statistics.median(x[1] for x in v) for k, v in rtt.items()}
    print("64 B round trip, us     p50      p99")
    for k in ("shmbox", "mp.Pipe"):
        print("%-18s %9.1f %8.1f" % (k, p50[k], p99[k]))
    print("  mp.Pipe/shmbox   %8.2fx %7.2fx" % (p50["mp.Pipe"] / p50["shmbox"], p99["mp.Pipe"] / p99["shmbox"]))
    print()
    print("64 B between two threads of one process: %s msgs/s through one shared client, %s msgs/s "
          "with a client per thread" % tuple(fmt_rate(statistics.median(thr[k]))
                                             for k in ("shared client", "client per thread")))
    print()
    goals = [("64 B shmbox >= 5x mp.Queue", med[(64, "shmbox")] / med[(64, "mp.Queue")], 5)]
    if have_zmq:
        goals += [("64 B shmbox >= 2x pyzmq", med[(64, "shmbox")] / med[(64, "pyzmq")], 2),
                  ("64 KiB zerocopy >= 3x pyzmq", med[(65536, "zerocopy")] / med[(65536, "pyzmq")], 3)]
    for what, ratio, goal in goals:
        print("goal %-30s %6.2fx  %s" % (what, ratio, "met" if ratio >= goal else "NOT MET"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
