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
 *   (-ETIMEDOUT). A timeout-0 call may still wait up to 10 ms for the mailbox lock, which a
 *   peer holds for a few instructions (only a preempted or stopped peer makes that visible).
 * - If the daemon stops, attached boxes keep sending and receiving; control calls return
 *   -ENOTCONN until a daemon is back.
 *
 * Errors, by function (any call: -EINVAL for a bad argument, -ESTALE after fork):
 *   shmbox_connect    -ECONNREFUSED (no daemon there), -ENAMETOOLONG, -EPROTO, -ENOMEM, -EMFILE
 *   shmbox_create     -EEXIST, -EINVAL (name, geometry, mode, flags, reserved words), -EPERM
 *                     (a group the caller is not in), -ENOSPC (size above the daemon's cap,
 *                     global limits, or /dev/shm full), -EDQUOT (the owner's quota), -ENOTCONN
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

#ifdef __cplusplus
extern "C" {
#endif

#define SHMBOX_DEFAULT_SOCKET "/run/shmbox/shmboxd.sock"
#define SHMBOX_NAME_MAX 64           /* [A-Za-z0-9._-]{1,64}, not starting with '.' */
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
 */
#define SHMBOX_CONFIG_GID 1u
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
 */
struct shmbox_info {
        uint32_t slots, slot_size, mode, queued, attached, uid, gid;
        uint64_t sent, received, recovered;
        uint64_t repairs;
        uint32_t lock_holder_pid, orphaned;
        uint32_t claimed, taken;
        uint32_t oldest_claimed_pid, oldest_taken_pid;
        uint32_t oldest_claimed_age_ms, oldest_taken_age_ms;
        uint64_t reserved[3];
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

/* What the daemon knows of a mailbox. */
int shmbox_info(shmbox_client *client, const char *name, struct shmbox_info *ret);

/* Every mailbox of the daemon; *ret is one malloc'ed array, freed with free(). */
int shmbox_list(shmbox_client *client, struct shmbox_entry **ret, size_t *ret_count);

/* The geometry of an attached box, read from the mapping: no system call. */
size_t shmbox_slot_size(const shmbox *box);
uint32_t shmbox_slots(const shmbox *box);

/* A message for a negative return value; never NULL. */
const char *shmbox_strerror(int err);

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *shmbox_version(void);

#ifdef __cplusplus
}
#endif

#endif
