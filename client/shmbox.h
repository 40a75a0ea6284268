/* SPDX-License-Identifier: MIT */
/* shmbox.h — client library for shmboxd: named shared-memory mailboxes.
 *
 * A shmbox_client is one connection (one session) to the daemon, which creates, destroys and
 * checks access to mailboxes. An attached mailbox (shmbox) is mapped into this process:
 * shmbox_send() and shmbox_recv() go straight through shared memory and make no system call
 * when nobody has to wait; the daemon is never on the message path.
 *
 * Conventions:
 * - Every function returns 0 (or a documented non-negative value) on success and a negative
 *   errno on failure; errno is not used. Output parameters come last and are written only on
 *   success. shmbox_disconnect() and shmbox_detach() accept NULL.
 * - Nothing here logs, prints, exits, starts a thread or changes signal handling; the socket
 *   is written with MSG_NOSIGNAL.
 * - Threads: a shmbox_client and its boxes are used by one thread at a time; use one client
 *   per thread. Different clients may be used concurrently.
 * - fork(): a child inherits no usable handle. Mappings are not inherited (MADV_DONTFORK), and
 *   every call on an inherited shmbox or shmbox_client returns -ESTALE, except
 *   shmbox_detach() and shmbox_disconnect(), which then only free memory. The child connects
 *   and attaches afresh.
 * - A signal does not cut a wait short: the library retries with the time that is left.
 * - timeout_ms: -1 waits forever, 0 never blocks (-EAGAIN), > 0 waits at most that long
 *   (-ETIMEDOUT); any other negative value is -EINVAL (a deadline computed as "deadline - now"
 *   that came out negative must not wait forever). A timeout-0 call may still wait up to 10 ms for the mailbox lock, which a
 *   peer holds for a few instructions (only a preempted or stopped peer makes that visible).
 * - If the daemon stops, attached boxes keep sending and receiving; control calls return
 *   -ENOTCONN until a daemon is back.
 *
 * Errors, by function (any call: -EINVAL for a bad argument, -ESTALE after fork):
 *   shmbox_connect    -ECONNREFUSED (no daemon there), -ENAMETOOLONG, -EPROTO, -ENOMEM, -EMFILE
 *   shmbox_create     -EEXIST, -EINVAL (name, geometry, mode, flags, reserved words), -EPERM
 *                     (a group the caller is not in), -ENOSPC (size above the daemon's cap,
 *                     global limits, or /dev/shm full), -EDQUOT (the owner's quota), -ENOTCONN,
 *                     -EOPNOTSUPP (SHMBOX_CONFIG_EPHEMERAL, and a daemon before protocol 3)
 *   shmbox_destroy    -ENOENT, -EPERM (not the owner or root), -ENOTCONN
 *   shmbox_chmod      -ENOENT, -EPERM, -EINVAL, -ENOTCONN
 *   shmbox_reload     -EPERM, -EINVAL (the config file does not parse), -ENOTCONN
 *   shmbox_attach     -ENOENT, -EACCES (neither r nor w), -EMFILE (attachments per mailbox),
 *                     -EPROTO (layout version), -EBADMSG, -ENOMEM, -ENOTCONN
 *   shmbox_detach     never fails for a valid box (it is freed); -ENOTCONN is not reported
 *   shmbox_send       -EACCES (no w), -EMSGSIZE (len > slot_size), -EAGAIN, -ETIMEDOUT,
 *                     -EIDRM (destroyed), -ESTALE (session repaired), -EBADMSG (corrupt)
 *   shmbox_recv       -EACCES (no r), -EMSGSIZE (cap shorter than the oldest message; it
 *                     stays queued), -EAGAIN, -ETIMEDOUT, -EIDRM, -ESTALE, -EBADMSG
 *   shmbox_info/list  -ENOENT, -ENOTCONN, -ENOMEM
 */
#ifndef SHMBOX_H
#define SHMBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h> /* struct iovec, for the batch calls */

#ifdef __cplusplus
extern "C" {
#endif

#define SHMBOX_DEFAULT_SOCKET "/run/shmbox/shmboxd.sock"
#define SHMBOX_NAME_MAX 64 /* [A-Za-z0-9._-]{1,64}, not starting with '.' */
#define SHMBOX_DEFAULT_SLOTS 64
#define SHMBOX_DEFAULT_SLOT_SIZE 4096
#define SHMBOX_DEFAULT_MODE 0600
#define SHMBOX_SLOTS_MAX 65536
#define SHMBOX_SLOT_SIZE_MAX (16 * 1024 * 1024)

typedef struct shmbox_client shmbox_client; /* a connection to shmboxd */
typedef struct shmbox shmbox;               /* an attached mailbox */

/*
 * Geometry and access of a new mailbox. 0 = default (64 slots of 4096 bytes, mode 0600, the
 * creator's primary group). mode holds rw bits only (mask 0666): r may receive, w may send; x
 * or special bits are -EINVAL. With SHMBOX_CONFIG_GID in flags, gid is the mailbox's group (the
 * creator must belong to it, unless root: -EPERM). Unknown flags and the reserved words must
 * be 0 (-EINVAL otherwise): new fields take their place. The daemon's limits apply (see
 * shmboxd(8)): a mailbox above max-mailbox-bytes or the global limits is -ENOSPC, above the
 * owner's quota -EDQUOT.
 *
 * With SHMBOX_CONFIG_EPHEMERAL in flags the mailbox is tied to this client's connection, like
 * a D-Bus unique name or a NATS inbox: the daemon destroys it when that connection ends —
 * shmbox_disconnect(), the process exiting or being killed, or the daemon dropping the
 * connection — exactly as shmbox_destroy() would: its names leave /dev/shm, boxes attached
 * anywhere get -EIDRM. The connection ends when every copy of its socket is closed: a child
 * forked meanwhile holds one until it exits or execs. Anyone may attach it as the mode allows; the owner or root may destroy
 * it earlier. It counts against the owner's quotas like any mailbox. shmbox_info() and
 * shmbox_list() show it with SHMBOX_INFO_EPHEMERAL and the creator's pid. If the daemon
 * restarts, the connection is gone but the process may not be: the mailbox then lives until
 * the daemon proves the creating process dead (its pidfd), or until it is destroyed (a
 * creator in another pid namespace cannot be watched: its mailbox stays until destroyed).
 * Since shmbox 0.3 (protocol version 3): a daemon before it refuses it, -EOPNOTSUPP.
 */
#define SHMBOX_CONFIG_GID 1u
#define SHMBOX_CONFIG_EPHEMERAL 2u
/*
 * With SHMBOX_CONFIG_BROADCAST the mailbox is a broadcast mailbox: every box attached with the
 * right to receive subscribes at attach, and gets every message committed after that — each
 * once, in the order of the ring, which keeps each sender's order — instead of sharing them
 * with the other receivers. The calls are the same: shmbox_send() and its batches and
 * reservations; shmbox_recv(), shmbox_recv_many(), and shmbox_peek()/shmbox_release(), where the
 * message stays in the ring for the other subscribers (a peeked message is read-only, one at a
 * time: a second peek before the release shows the same message), and shmbox_fd(), which for a
 * subscriber is a FIFO of its own, readable while it has messages to read. A slot is free
 * again once every subscriber has read it, so senders wait for the slowest subscriber
 * ("block"), unless SHMBOX_CONFIG_OVERWRITE is set too: then senders never wait for
 * subscribers, and a subscriber that fell a ring behind gets -EOVERFLOW once (shmbox_missed()
 * says how many messages it lost) and goes on from the oldest message still there. A box that
 * only sends should call shmbox_subscribe(box, false), or it holds the senders back. At most
 * 256 attachments per mailbox, subscribers included. A daemon or library without broadcast
 * mailboxes refuses the flags (-EINVAL) and the segment (-EPROTO). doc/ring.md, "Broadcast mailboxes".
 */
#define SHMBOX_CONFIG_BROADCAST 4u
#define SHMBOX_CONFIG_OVERWRITE 8u
struct shmbox_config {
        uint32_t slots, slot_size, mode;
        uint32_t flags, gid;
        uint32_t reserved[6];
};

/*
 * What the daemon knows of a mailbox. queued: committed messages not yet taken; attached:
 * attachments (boxes) over all sessions; sent: committed messages; received: messages taken
 * by receivers (counted before the consuming step); recovered: messages whose receiver died
 * before consuming them, put back for another receiver.
 * For an operator when a mailbox seems stuck: repairs done after dead peers; the pid holding
 * the lock (0: free, or not known to this daemon); slots being written (claimed) and read
 * (taken) right now, with the pid holding the oldest of each and how long it has held it;
 * orphaned: attachments of processes that hung up their connection but still run.
 * flags: SHMBOX_INFO_EPHEMERAL for an ephemeral mailbox (SHMBOX_CONFIG_EPHEMERAL), whose
 * owner_pid is the pid of the process that created it (0: a process in another pid namespace);
 * both 0 from a daemon before protocol version 3. Since shmbox 0.3, from reserved words.
 */
struct shmbox_info {
        uint32_t slots, slot_size, mode, queued, attached, uid, gid;
        uint64_t sent, received, recovered;
        uint64_t repairs;
        uint32_t lock_holder_pid, orphaned;
        uint32_t claimed, taken;
        uint32_t oldest_claimed_pid, oldest_taken_pid;
        uint32_t oldest_claimed_age_ms, oldest_taken_age_ms;
        uint32_t corrupt;   /* SHMBOX_INFO_CORRUPT_* (0: the mailbox validates) */
        uint32_t owner_pid; /* of an ephemeral mailbox: its creator */
        uint32_t flags;     /* SHMBOX_INFO_EPHEMERAL */
        uint32_t reserved32;
        uint64_t reserved[1];
};
#define SHMBOX_INFO_EPHEMERAL 1u /* destroyed when its creator's connection ends */
#define SHMBOX_INFO_BROADCAST 2u /* each message to every subscriber (SHMBOX_CONFIG_BROADCAST) */
#define SHMBOX_INFO_OVERWRITE 4u /* ... and senders never wait for subscribers */

/*
 * What the daemon found impossible in a mailbox's shared memory (struct shmbox_info.corrupt),
 * confirmed by reading it again, so never set on a healthy mailbox, however busy. Any attached
 * process can write every byte of the segment; these are the writes that no protocol step
 * makes. Counters derived from what failed are not computed (0): with POSITIONS or SEGMENT,
 * queued, sent, claimed and taken; with COUNTERS, sent, received and recovered are what the
 * segment holds, and at least one of them is wrong. The lock holder's pid is reported only for
 * a token attached to this mailbox.
 */
#define SHMBOX_INFO_CORRUPT_POSITIONS 1u /* tail - head above slots, or tail past a slot never claimed */
#define SHMBOX_INFO_CORRUPT_SLOT 2u      /* a slot word in a state or lap no position there can have */
#define SHMBOX_INFO_CORRUPT_LENGTH 4u    /* a message length above slot_size */
#define SHMBOX_INFO_CORRUPT_LOCK 8u      /* the lock held by a token of no attachment of this mailbox */
#define SHMBOX_INFO_CORRUPT_COUNTERS 16u /* more received than sent, recovered and repairs allow */
#define SHMBOX_INFO_CORRUPT_SEGMENT 32u  /* the segment is shorter than its layout (truncated) */
#define SHMBOX_INFO_CORRUPT_META 64u     /* a message's meta word (request header length) no sender writes */

/*
 * Traffic counters (shmbox_stats()), per attachment and summed per mailbox. Counted by each
 * attached process in its own block of the mailbox's shared memory (a few stores per message,
 * no shared cache line), so they are what the processes wrote: any process with access can
 * write nonsense there, and the sums saturate at UINT64_MAX. A call counts once however often
 * it slept: waits are calls that found the mailbox full (sends) or empty (receives) and waited
 * for it, spinning or asleep; *_wait_ns the time those calls spent waiting (CLOCK_MONOTONIC);
 * timeouts are calls that ended at their deadline (-ETIMEDOUT, or -EAGAIN with timeout 0);
 * full counts sends that found the mailbox full, whether they then waited or not.
 * The reserved words are 0; new counters take their place.
 */
struct shmbox_counters {
        uint64_t sent, sent_bytes;         /* messages committed (send, send_many, commit), bytes */
        uint64_t received, received_bytes; /* messages consumed (recv, recv_many, release), bytes */
        uint64_t send_waits, send_wait_ns;
        uint64_t recv_waits, recv_wait_ns;
        uint64_t send_timeouts, recv_timeouts;
        uint64_t full;
        uint64_t reserved[5];
};

/* One attached box (shmbox_stats()): the process (pid 0: its process hung up and the daemon
 * is releasing it), its uid, its rights (SHMBOX_STAT_RECV|SHMBOX_STAT_SEND), its attachment
 * index, and its counters since it attached. */
struct shmbox_stats_row {
        uint32_t pid, uid, rights, index;
        struct shmbox_counters c;
};

/*
 * A mailbox's traffic (shmbox_stats()), one malloc'ed block to free() with free():
 * - size and row_size: sizeof(struct shmbox_stats) and of a row in the library that filled it
 *   (later versions grow them from the reserved words; the rows start at rows[]);
 * - info: as shmbox_info() returns it; abandoned: claims never committed (aborted
 *   reservations, and claims of writers that died);
 * - total: every attachment's counters, present and gone (the daemon folds a detached box's
 *   counts into the mailbox's totals, in the segment, so they survive a daemon restart too);
 * - rows: one per box attached now (n_rows, at most 256).
 */
struct shmbox_stats {
        uint32_t size, row_size;
        uint32_t n_rows, reserved32;
        struct shmbox_info info;
        uint64_t abandoned;
        struct shmbox_counters total;
        uint64_t reserved[8];
        struct shmbox_stats_row rows[];
};

/* One entry of shmbox_list(). */
struct shmbox_entry {
        char name[SHMBOX_NAME_MAX + 1];
        struct shmbox_info info;
};

/* Connect to the daemon at socket_path; NULL: $SHMBOX_SOCKET, else SHMBOX_DEFAULT_SOCKET. */
int shmbox_connect(const char *socket_path, shmbox_client **ret);

/* Detach every box still attached through this client, then close the connection. After it,
 * each such box may only be passed to shmbox_detach(), which just frees it. */
void shmbox_disconnect(shmbox_client *client);

/* Create a mailbox owned by the caller's uid and primary gid. config NULL: defaults. */
int shmbox_create(shmbox_client *client, const char *name, const struct shmbox_config *config);

/* Destroy a mailbox (owner or root): its names go at once; attached boxes get -EIDRM. */
int shmbox_destroy(shmbox_client *client, const char *name);

/* Change a mailbox's mode and/or group (owner or root; the owner only to a group it belongs
 * to: -EPERM). SHMBOX_KEEP leaves either as it is. Boxes attached before keep their rights,
 * like open files. */
#define SHMBOX_KEEP UINT32_MAX
int shmbox_chmod(shmbox_client *client, const char *name, uint32_t mode, uint32_t gid);

/* Ask the daemon to re-read its config file (root or the daemon's user: else -EPERM); returns
 * once done: 0, or -EINVAL if the file does not parse (the running limits stay). */
int shmbox_reload(shmbox_client *client);

/* Attach: needs r or w on the mailbox; the box remembers which (send without w, recv without
 * r: -EACCES). */
int shmbox_attach(shmbox_client *client, const char *name, shmbox **ret);

/* Detach and free the box, always (like close(2)); NULL is accepted. Returns 0. */
int shmbox_detach(shmbox *box);

/* Send len bytes (0 allowed, at most slot_size). 0 once committed: it will be delivered. */
int shmbox_send(shmbox *box, const void *data, size_t len, int timeout_ms);

/* Receive the oldest message into buf; returns its length. recv(box, NULL, 0, t) waits the
 * same way and returns the length of the oldest message without taking it. */
ssize_t shmbox_recv(shmbox *box, void *buf, size_t cap, int timeout_ms);

/*
 * Zero-copy: write or read a message in place, in the slot itself.
 * - shmbox_reserve() claims a slot and returns its payload (slot_size bytes, len is checked
 *   against it); fill it and shmbox_commit() it with its final length (the COMMIT point, as
 *   for send), or shmbox_abort() it (never delivered). A writer that dies holding a
 *   reservation has it abandoned by the daemon.
 * - shmbox_peek() takes the oldest message and returns its length and a pointer to it;
 *   shmbox_release() consumes it (the CONSUME point). A reader that dies holding a peeked
 *   message has it delivered again: at-least-once through the application's processing. The
 *   message counts as received only if release returns 0; -ESTALE means the daemon gave it
 *   to another reader meanwhile (a repair).
 * A box may hold any number of reservations and peeks at once (up to the slots), but each one
 * holds its slot: the ring cannot wrap past it. The bytes of a peek live in memory that every
 * process with access may write while you read them: parse from a private copy when the peers
 * are not trusted.
 * Errors: as shmbox_send/recv; -EINVAL for a pointer that is not a slot this box holds (not a
 * slot, or one committed, aborted or released already: a second commit or release is
 * -EINVAL); -ESTALE for a slot a repair took from this box meanwhile.
 */
int shmbox_reserve(shmbox *box, size_t len, int timeout_ms, void **ret_slot);
int shmbox_commit(shmbox *box, void *slot, size_t len);
int shmbox_abort(shmbox *box, void *slot);
ssize_t shmbox_peek(shmbox *box, int timeout_ms, const void **ret_data);
int shmbox_release(shmbox *box, const void *data);

/*
 * Batches: many messages for one lock round and one wake-up.
 * shmbox_send_many() sends msgs[0..n) in order and returns how many were committed (>= 1:
 * as many as there is room for once there is room for one; the rest are the caller's to send
 * again). shmbox_recv_many() receives up to n messages, message i into bufs[i] with its
 * length in ret_lens[i], and returns how many (>= 1); a message longer than the smallest
 * buffer ends the batch before it (-EMSGSIZE if it is the first).
 * shmbox_recv_many() takes at most SHMBOX_BATCH_MAX messages per call, whatever n: a larger
 * n is not an error, the return value says how many (send_many is bounded by the free slots).
 */
#define SHMBOX_BATCH_MAX 64
int shmbox_send_many(shmbox *box, const struct iovec *msgs, size_t n, int timeout_ms);
ssize_t shmbox_recv_many(shmbox *box, const struct iovec *bufs, size_t n, size_t *ret_lens, int timeout_ms);

/*
 * Event loops: a file descriptor that polls readable (POLLIN) while messages are queued, for
 * poll, epoll or libevent. Owned by the box (do not close or read it); valid until detach.
 * Then receive with timeout 0 until -EAGAIN. A send makes a system call for it only while
 * some box polls the mailbox. Needs r (-EACCES).
 * The readiness is a byte in a FIFO that every process with access to the mailbox can open
 * and read. A byte read by such a peer is written again by the next send 5 ms or more after
 * it, and by the daemon after a repair gives a message back; against a peer that reads it all
 * the time, only the caller's own timeout helps. So: poll with a timeout, and receive with
 * timeout 0 after every return of poll, readable or not. A message is then found at most that
 * timeout after its send, whatever a peer does to the FIFO (examples/event-receiver.c: 100 ms).
 */
int shmbox_fd(shmbox *box);

/* How long a send or receive that must wait polls the mailbox before it sleeps: a peer that
 * is running answers in about a microsecond, a wake-up from sleep costs tens. Default 10 us;
 * 0 sleeps at once (no CPU spent waiting). At most 1000000 (-EINVAL above). */
int shmbox_set_spin(shmbox *box, unsigned spin_us);

/* Broadcast mailboxes (SHMBOX_CONFIG_BROADCAST): stop (on false) or start again (on true)
 * receiving. A box that subscribes again starts at the next message. Errors: -EOPNOTSUPP for a
 * queue, -EACCES without the right to receive, -EINVAL, -ESTALE, -EIDRM. A receive on a box
 * that does not subscribe is -EPERM. */
int shmbox_subscribe(shmbox *box, int on);
/* The messages a subscriber lost at its last -EOVERFLOW (0 if none; 0 for NULL). */
uint64_t shmbox_missed(const shmbox *box);

/* What the daemon knows of a mailbox. */
int shmbox_info(shmbox_client *client, const char *name, struct shmbox_info *ret);

/* A mailbox's traffic counters, in all and per attached box (struct shmbox_stats); *ret is
 * malloc'ed, freed with free(). Needs r or w on the mailbox, or to own it (root and the
 * daemon's user see all): -EACCES. Errors: -ENOENT, -EACCES, -ENOTCONN, -ENOMEM, -EPROTO (a
 * daemon before 0.3 does not know the request: -EBADMSG from it). Since 0.3 (SHMBOX_0.3). */
int shmbox_stats(shmbox_client *client, const char *name, struct shmbox_stats **ret);

/* Every mailbox of the daemon; *ret is one malloc'ed array, freed with free(). */
int shmbox_list(shmbox_client *client, struct shmbox_entry **ret, size_t *ret_count);

/* The geometry of an attached box, read from the mapping: no system call. */
size_t shmbox_slot_size(const shmbox *box);
uint32_t shmbox_slots(const shmbox *box);

/* A message for a negative return value; never NULL. */
const char *shmbox_strerror(int err);

/* Why the daemon refused the last control call of client (create, destroy, chmod, reload,
 * attach, info, list), in its words, e.g. "1099515858944 bytes, above max-mailbox-bytes
 * 1073741824" for -ENOSPC: the reason its log gives. "" when that call succeeded, failed in
 * this process, or the daemon gave no reason (daemons before protocol version 2 give none).
 * Never NULL ("" for a NULL client); valid until the next call on client. */
const char *shmbox_last_error(const shmbox_client *client);

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *shmbox_version(void);

/*
 * Peek: the messages of a mailbox read in place, without taking them (a viewer: shmboxctl
 * peek). Needs the right to receive (-EACCES), like shmbox_recv(). No lock, no system call,
 * nothing written to the mailbox: senders and receivers do not notice.
 * The caller keeps a cursor, zero-filled, with pos = SHMBOX_CURSOR_START to begin at the
 * oldest message. Each call copies the next message at or after cursor->pos into buf,
 * returns its length and moves the cursor past it; -EAGAIN means nothing more for now (call
 * again later: the cursor remembers where it stopped). Each copy is a snapshot: the slot is
 * read again after the copy, and a message that changed meanwhile (taken, or its slot reused)
 * is skipped and counted in cursor->changed. Positions that receivers finished before the
 * cursor reached them are counted in cursor->missed.
 * Flags: 0 shows the queued messages (committed, not taken). SHMBOX_PEEK_FOLLOW also shows
 * messages being received or already consumed whose slot still holds them, and stops at a
 * message still being written until it is committed: calling again after -EAGAIN then shows
 * every message committed from the cursor on, in the order of their slots (so each sender's
 * in its order), except those counted in missed.
 * The reserved words must be 0 (-EINVAL). Errors: -EINVAL, -EACCES, -EMSGSIZE (cap shorter
 * than the message; the cursor stays on it), -EIDRM, -ESTALE (after fork), -ENOTCONN,
 * -EBADMSG (corrupt).
 */
#define SHMBOX_CURSOR_START UINT64_MAX
#define SHMBOX_PEEK_FOLLOW 1u
struct shmbox_cursor {
        uint64_t pos;     /* the next ring position to look at */
        uint64_t missed;  /* positions finished by receivers before the cursor got there */
        uint64_t changed; /* messages that changed while they were copied: skipped */
        uint64_t reserved[5];
};
ssize_t shmbox_peek_at(shmbox *box, struct shmbox_cursor *cursor, void *buf, size_t cap, unsigned flags);

/* ---- request/reply ------------------------------------------------------------------------ */

/*
 * Request/reply over mailboxes, as D-Bus method calls or NATS requests: a message may carry a
 * correlation id and the name of a mailbox for the reply, in a header stored beside it in its
 * slot (doc/ring.md, "Request headers"). Plain messages are unchanged, and a plain receive of
 * a message that carries a header returns its body only: shmbox_recv(), shmbox_recv_many(),
 * shmbox_peek() and shmbox_peek_at() never show the header.
 *
 * shmbox_request() sends req (len bytes, as shmbox_send()) on box with a reply-to of the
 * calling client's own reply mailbox and a fresh correlation id, then waits for the reply
 * with that id and copies its body into reply_buf; returns its length. The reply mailbox is
 * made on the client's first request: an ephemeral mailbox (SHMBOX_CONFIG_EPHEMERAL) named
 * "reply.PID.RANDOM", 16 slots of max(4096, slot_size of box), mode 0622 (servers of any user
 * may reply; the correlation ids, which start at a random value, tell replies apart), destroyed
 * by the daemon when the client's connection ends. A reply with another id (a late reply to an
 * earlier request that timed out, or anything a peer wrote there) is discarded and counted
 * (shmbox_request_discarded()). One request at a time per client, like every call. timeout_ms
 * bounds the whole call, send and wait. The request is delivered like any message: if the
 * server that took it dies before it consumed it, the daemon gives it to another server, whose
 * reply then arrives with the same id; so the call returns a reply to this request, or
 * -ETIMEDOUT, never a reply to another one.
 * Errors: as shmbox_send() and shmbox_recv(); -ENOTCONN (box's client disconnected); -EMSGSIZE
 * (len plus the header is above box's slot_size; or the reply's body is longer than cap: it is
 * consumed and lost); the errors of shmbox_create()/shmbox_attach() for the reply mailbox on
 * the first call; -EIDRM if the reply mailbox was destroyed meanwhile (made again by the next
 * call).
 *
 * shmbox_recv_request() receives the oldest message of box like shmbox_recv() (the body into
 * buf; -EMSGSIZE leaves it queued) and fills *ret_info: its correlation id and reply-to name,
 * or reply_to "" for a message without one (a plain message, or a reply). A message whose
 * header does not validate (lengths, reserved bytes, name rules) is consumed and dropped:
 * -EBADMSG, and the next call goes on with the next message.
 *
 * shmbox_reply() sends data (len bytes) to the reply-to mailbox of info with info's correlation
 * id, through client; it never blocks (-EAGAIN if that mailbox is full). The client keeps the
 * last 8 reply mailboxes it replied to attached, so a steady requester costs no control call.
 * Errors: -EDESTADDRREQ (info has no reply-to), -EINVAL, the errors of shmbox_attach()
 * (-ENOENT: the requester is gone) and of shmbox_send() (-EIDRM: gone meanwhile; -EMSGSIZE:
 * longer than the reply mailbox's slots).
 * Since shmbox 0.3 (SHMBOX_0.3). The reserved words of shmbox_request_info are 0.
 */
struct shmbox_request_info {
        uint64_t id;                        /* the correlation id */
        char reply_to[SHMBOX_NAME_MAX + 1]; /* where the reply goes; "" for none */
        uint8_t reserved8[7];
        uint64_t reserved[2];
};
ssize_t shmbox_request(shmbox *box, const void *req, size_t len, void *reply_buf, size_t cap, int timeout_ms);
ssize_t shmbox_recv_request(shmbox *box, void *buf, size_t cap, struct shmbox_request_info *ret_info, int timeout_ms);
int shmbox_reply(shmbox_client *client, const struct shmbox_request_info *info, const void *data, size_t len);
/* Replies shmbox_request() discarded on client's reply mailbox because their id was not the
 * one awaited (0 for NULL). */
uint64_t shmbox_request_discarded(const shmbox_client *client);

/* ---- introspection: what an attached box and its mapping hold right now ------------------ */

#define SHMBOX_PATH_MAX 224 /* a path of a mailbox object in /dev/shm, with its NUL */

/* A mailbox's semaphores, in the order of sem_value[] and sem_path[]. They are wake-up
 * channels, never the lock and never counts of messages: a value says how many posts wait for
 * a sleeper to take them (usually 0). */
enum {
        SHMBOX_SEM_LOCK = 0, /* where losers of the mailbox lock sleep */
        SHMBOX_SEM_ITEMS,    /* where receivers sleep on an empty mailbox */
        SHMBOX_SEM_SPACE,    /* where senders sleep on a full mailbox */
        SHMBOX_SEM_COUNT,
};

#define SHMBOX_STAT_RECV 1u      /* rights: this box may receive */
#define SHMBOX_STAT_SEND 2u      /* rights: this box may send */
#define SHMBOX_STAT_DESTROYED 1u /* flags: the mailbox was destroyed */

/*
 * A snapshot of an attached box (shmbox_stat()), read from the mapping without the lock.
 * - The mapping in this process: map_addr, map_size (header + slots).
 * - Geometry, from the header validated at attach: header_size bytes of header, then slots
 *   slots of slot_stride bytes each; a slot is slot_head bytes (its state word and length)
 *   then up to slot_size bytes of payload. The payload of ring position p is at
 *   map_addr + header_size + (p % slots) * slot_stride + slot_head.
 * - The ring: head (oldest unfinished position) and tail (next position a sender claims);
 *   of the slots in [head, tail): ready (committed, waiting), claimed (being written),
 *   taken (being read); processes recorded as sleeping for a message (recv_sleepers) or for
 *   space (send_sleepers); lock_token: who holds the mailbox lock (0: free).
 * - epoch (bumped by a daemon that adopts the mailbox after a restart), generation (unique
 *   per creation of the name), flags (SHMBOX_STAT_DESTROYED).
 * - This box: its attachment token and index, and rights (SHMBOX_STAT_RECV|SHMBOX_STAT_SEND).
 * - sem_value: the value of each semaphore (SHMBOX_SEM_*), as sem_getvalue() reads it but
 *   clamped to 0..SEM_VALUE_MAX (the semaphores' memory is shared, so it may hold anything).
 * - segment, sem_path: the paths of the mailbox's objects in /dev/shm, from the prefix the
 *   client learned from the daemon when it connected.
 * The reserved words are 0; new fields take their place.
 */
struct shmbox_stat {
        uint64_t map_addr, map_size;
        uint64_t generation, epoch;
        uint64_t head, tail;
        uint32_t slots, slot_size, slot_stride, slot_head, header_size;
        uint32_t token, index, rights, flags;
        uint32_t ready, claimed, taken;
        uint32_t recv_sleepers, send_sleepers, lock_token;
        int32_t sem_value[SHMBOX_SEM_COUNT];
        char segment[SHMBOX_PATH_MAX];
        char sem_path[SHMBOX_SEM_COUNT][SHMBOX_PATH_MAX];
        uint64_t reserved[8];
};

/* Fill *ret with a snapshot of box: no system call, no request to the daemon, no lock.
 * Errors: -EINVAL, -ESTALE (after fork), -ENOTCONN (client disconnected),
 * -EBADMSG (corrupt positions). */
int shmbox_stat(const shmbox *box, struct shmbox_stat *ret);

#ifdef __cplusplus
}
#endif

#endif
