#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sender.py — create a mailbox if needed, attach to it and send COUNT messages.

Usage: sender.py [--socket PATH] NAME [COUNT]

Against the demo's daemon: examples/demo.sh prints its socket; or start one with
  shmboxd --socket /tmp/s/sock --prefix demo --state-dir /tmp/s/state &
and run: python3 sender.py --socket /tmp/s/sock orders 5
"""
import argparse
import sys

import shmbox


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", help="the daemon's socket (default: $SHMBOX_SOCKET, else the system's)")
    ap.add_argument("name")
    ap.add_argument("count", type=int, nargs="?", default=1)
    args = ap.parse_args()

    try:
        with shmbox.connect(args.socket) as client:
            try:
                client.create(args.name, slots=64, slot_size=4096)
            except FileExistsError:
                pass  # someone created it first: use theirs
            with client.attach(args.name) as box:
                for i in range(args.count):
                    box.send(b"message %d" % i)  # waits while the mailbox is full
    except shmbox.Error as e:
        sys.exit("sender: %s" % e)
    print("sent %d message(s) to %s" % (args.count, args.name))


if __name__ == "__main__":
    main()
