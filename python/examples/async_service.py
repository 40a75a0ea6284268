#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""async_service.py — an asyncio service: answer every request of one mailbox in another.

Usage: async_service.py [--socket PATH] [--count N] REQUESTS REPLIES

Creates both mailboxes if needed, then, for each message of REQUESTS, sends it upper-cased
to REPLIES; stops after N requests (default: never), or when REQUESTS is destroyed. One
event loop and no thread: `async for` waits on the mailbox's file descriptor, and a timer
task runs beside it to show that the loop is never blocked.

Try it:  python3 async_service.py --count 2 requests replies &
         python3 sender.py requests 2 && python3 receiver.py replies 2
"""
import argparse
import asyncio
import sys

import shmbox


async def serve(client, requests, replies, count):
    async def heartbeat():
        while True:
            await asyncio.sleep(1)
            print("service: still serving", file=sys.stderr)

    beat = asyncio.create_task(heartbeat())
    served = 0
    try:
        with client.attach(requests) as inbox, client.attach(replies) as outbox:
            async for request in inbox:
                await outbox.send_async(request.upper())
                served += 1
                if served == count:
                    break
    finally:
        beat.cancel()
    return served


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", help="the daemon's socket (default: $SHMBOX_SOCKET, else the system's)")
    ap.add_argument("--count", type=int, default=0, help="stop after this many requests (0: never)")
    ap.add_argument("requests")
    ap.add_argument("replies")
    args = ap.parse_args()

    try:
        with shmbox.connect(args.socket) as client:
            for name in (args.requests, args.replies):
                try:
                    client.create(name)
                except FileExistsError:
                    pass
            print("service: ready", flush=True)
            served = asyncio.run(serve(client, args.requests, args.replies, args.count))
    except KeyboardInterrupt:
        sys.exit("service: interrupted")
    except shmbox.Error as e:
        sys.exit("service: %s" % e)
    print("service: answered %d request(s)" % served)


if __name__ == "__main__":
    main()
