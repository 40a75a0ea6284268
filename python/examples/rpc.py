#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""rpc.py — a tiny request/reply service over a mailbox, and its caller.

Usage: rpc.py [--socket PATH] serve NAME [COUNT]                 answer COUNT requests (default: forever)
       rpc.py [--socket PATH] [--timeout SECONDS] call NAME TEXT  send TEXT as a request, print the reply

The service answers each request with its text reversed (examples/rpc.c in Python). If NAME
does not exist, the server creates it ephemeral (mode 0o666: anyone may call): the daemon
destroys it when the server's connection ends, however the server ends. The caller's replies
come to a reply mailbox of its own, also ephemeral, made on its first request: a caller that
dies leaves nothing behind either. Run several servers on one mailbox to share the work.
"""
import argparse
import errno
import sys

import shmbox


def serve(client, name, count):
    try:
        client.create(name, mode=0o666, ephemeral=True)
    except FileExistsError:
        pass  # another server's: share it
    with client.attach(name) as box:
        print("rpc: serving %s" % name, flush=True)
        served = 0
        while count == 0 or served < count:
            try:
                body, info = box.recv_request()
            except shmbox.Error as e:
                if e.errno != errno.EBADMSG:
                    raise
                print("rpc: a malformed request, dropped", file=sys.stderr)
                continue
            if not info.reply_to:
                print("rpc: a message without reply-to, ignored", file=sys.stderr)
                continue
            try:
                client.reply(info, body[::-1])
            except (shmbox.NotFound, shmbox.Destroyed, BlockingIOError) as e:
                print("rpc: the caller is gone or not reading: %s" % e, file=sys.stderr)
            served += 1
        print("rpc: answered %d request(s)" % served, flush=True)


def call(client, name, text, timeout):
    with client.attach(name) as box:
        reply = box.request(text.encode(), timeout=timeout)
        print(reply.decode(errors="replace"), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", help="the daemon's socket (default: $SHMBOX_SOCKET, else the system's)")
    ap.add_argument("--timeout", type=float, default=5.0, help="call: seconds to wait for the reply (default 5)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("name")
    s.add_argument("count", type=int, nargs="?", default=0)
    c = sub.add_parser("call")
    c.add_argument("name")
    c.add_argument("text")
    args = ap.parse_args()

    try:
        with shmbox.connect(args.socket) as client:
            if args.cmd == "serve":
                serve(client, args.name, args.count)
            else:
                call(client, args.name, args.text, args.timeout)
    except TimeoutError:
        sys.exit("rpc: no reply within %s s" % args.timeout)
    except KeyboardInterrupt:
        sys.exit("rpc: interrupted")
    except shmbox.Error as e:
        sys.exit("rpc: %s" % e)


if __name__ == "__main__":
    main()
