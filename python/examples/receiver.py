#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""receiver.py — attach to a mailbox and print COUNT messages, one a line.

Usage: receiver.py [--socket PATH] [--timeout SECONDS] NAME [COUNT]

Waits for each message at most --timeout seconds (default: as long as it takes); Ctrl-C
stops it, and a message it did not print stays in the mailbox.
"""
import argparse
import sys

import shmbox


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", help="the daemon's socket (default: $SHMBOX_SOCKET, else the system's)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds to wait for each message")
    ap.add_argument("name")
    ap.add_argument("count", type=int, nargs="?", default=1)
    args = ap.parse_args()

    try:
        with shmbox.connect(args.socket) as client, client.attach(args.name) as box:
            for _ in range(args.count):
                msg = box.recv(timeout=args.timeout)
                print(msg.decode(errors="replace"), flush=True)
    except TimeoutError:
        sys.exit("receiver: no message within %s s" % args.timeout)
    except KeyboardInterrupt:
        sys.exit("receiver: interrupted")
    except shmbox.Error as e:
        sys.exit("receiver: %s" % e)


if __name__ == "__main__":
    main()
