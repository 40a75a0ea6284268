#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""zerocopy_producer.py — write records straight into a mailbox's slots, without a copy.

Usage: zerocopy_producer.py [--socket PATH] [--size BYTES] NAME [COUNT]

Each record is a header (sequence number, payload length; struct "<QI") and a payload,
written in place with `with box.reserve(n) as buf:`: the slot is the buffer, and the block's
end commits it. The consumer side is shown too (--consume): `with box.peek() as view:`
reads a record in place and checks it. A block left by an exception aborts the record.

Try it:  python3 zerocopy_producer.py --consume records 1000 &
         python3 zerocopy_producer.py records 1000; wait
"""
import argparse
import struct
import sys

import shmbox

HEADER = struct.Struct("<QI")


def produce(box, count, size):
    pattern = bytes(range(256)) * (size // 256 + 2)
    for seq in range(count):
        with box.reserve(HEADER.size + size) as buf:
            HEADER.pack_into(buf, 0, seq, size)
            buf[HEADER.size:] = pattern[seq % 256:seq % 256 + size]
    print("produced %d record(s) of %d bytes" % (count, size))


def consume(box, count):
    total = 0
    for expect in range(count):
        with box.peek() as view:
            seq, size = HEADER.unpack_from(view, 0)
            if seq != expect or len(view) != HEADER.size + size or (size and view[HEADER.size] != seq % 256):
                sys.exit("consumer: record %d is not what was written" % expect)
            total += size
    print("consumed %d record(s), %d payload bytes, all checked" % (count, total))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", help="the daemon's socket (default: $SHMBOX_SOCKET, else the system's)")
    ap.add_argument("--size", type=int, default=1000, help="payload bytes per record (default 1000)")
    ap.add_argument("--consume", action="store_true", help="read and check the records instead")
    ap.add_argument("name")
    ap.add_argument("count", type=int, nargs="?", default=100)
    args = ap.parse_args()

    try:
        with shmbox.connect(args.socket) as client:
            try:
                client.create(args.name, slots=256, slot_size=max(4096, HEADER.size + args.size))
            except FileExistsError:
                pass
            with client.attach(args.name) as box:
                if args.consume:
                    consume(box, args.count)
                else:
                    produce(box, args.count, args.size)
    except shmbox.Error as e:
        sys.exit("zerocopy_producer: %s" % e)


if __name__ == "__main__":
    main()
