/* SPDX-License-Identifier: MIT */
/* mailbox.c — one mailbox as the daemon owns it: building, publishing, adopting and removing its
 * objects in /dev/shm, its access policy, and its attachment indexes.
 *
 * Creation is ordered so that a crash at any point leaves only provable garbage, never a
 * half-made mailbox under its name: semaphores first (O_EXCL, carrying the generation), then the
 * segment under a temporary "<prefix>..tmp.NAME.GEN" name, sized and preallocated with
 * fallocate() (a full /dev/shm fails here, not later with SIGBUS in a client), initialised,
 * given its ACL, and published last with link(), which never replaces an existing name.
 * Preallocation runs in chunks (mailbox_prealloc_step) so that the event loop can serve other
 * clients while a large mailbox is built. Destruction unlinks the segment first, so the name
 * disappears at once, then the semaphores.
 *
 * Every access of the daemon to a mapping goes through daemon/guard.c after an fstat() size
 * check, so a peer that truncates a segment makes that mailbox report -EBADMSG, never the
 * daemon crash.
 *
 * Access: the objects belong to the daemon's user and are created 0600; a POSIX ACL then grants
 * rw to the mailbox's owner, group and others as its mode says (any of r or w maps to rw: the
 * kernel decides access-or-not, the daemon and library split receiving from sending). That
 * needs no capability and does not depend on the umask.
 */
#include "config.h"

#include "daemon/mailbox.h"

#include <acl/libacl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/guard.h"
#include "log/log.h"
#include "proto/crash.h"
#include "proto/util.h"

static int shm_path(char *buf, size_t size, const char *shm_name) {
        int n = snprintf(buf, size, SHM_DIR "%s", shm_name);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int sem_path(char *buf, size_t size, const char *sem_name) {
        int n = snprintf(buf, size, SHM_DIR "/sem.%s", sem_name + 1);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void acl_freep(acl_t *a) {
        if (*a)
                acl_free(*a);
}

static int acl_add(acl_t *acl, acl_tag_t tag, const void *qualifier, bool rw) {
        acl_entry_t e;
        acl_permset_t ps;

        if (acl_create_entry(acl, &e) < 0 || acl_set_tag_type(e, tag) < 0)
                return -errno;
        if (qualifier && acl_set_qualifier(e, qualifier) < 0)
                return -errno;
        if (acl_get_permset(e, &ps) < 0 || acl_clear_perms(ps) < 0)
                return -errno;
        if (rw && (acl_add_perm(ps, ACL_READ) < 0 || acl_add_perm(ps, ACL_WRITE) < 0))
                return -errno;
        return 0;
}

/*
 * Build the access ACL of a mailbox's objects from its owner, group and mode, so that the
 * kernel decides like the daemon: the owner by the owner bits alone (a named user entry, also
 * when it grants nothing, so the owner never falls through to its groups), members of the
 * group by the group bits (a named group entry, also when empty, so they never fall through
 * to the other bits), everybody else by the other bits. The daemon's own group (the
 * owning group of the objects) gets the other bits. Limits: a mailbox owned by the daemon's
 * own user is always rw for it, and when the mailbox's group is the daemon's group its members
 * get group and other bits together.
 */
static int mailbox_acl(const Mailbox *m, acl_t *ret) {
        _cleanup_(acl_freep) acl_t acl = acl_init(6);
        uid_t me = geteuid();
        int r;

        if (!acl)
                return -errno;
        r = acl_add(&acl, ACL_USER_OBJ, NULL, true);
        if (r >= 0 && m->uid != me)
                r = acl_add(&acl, ACL_USER, &m->uid, (m->mode & 0600) != 0);
        if (r >= 0)
                r = acl_add(&acl, ACL_GROUP_OBJ, NULL, (m->mode & 0006) != 0);
        if (r >= 0)
                r = acl_add(&acl, ACL_GROUP, &m->gid, (m->mode & 0060) != 0);
        if (r >= 0)
                r = acl_add(&acl, ACL_MASK, NULL, true);
        if (r >= 0)
                r = acl_add(&acl, ACL_OTHER, NULL, (m->mode & 0006) != 0);
        if (r < 0)
                return r;
        if (acl_valid(acl) < 0)
                return -EINVAL;
        *ret = TAKE_PTR(acl);
        return 0;
}

static int mailbox_apply_acl(const Mailbox *m) {
        _cleanup_(acl_freep) acl_t acl = NULL;
        char name[NAMES_OBJECT_MAX], path[NAMES_OBJECT_MAX + 16];
        int r;

        r = mailbox_acl(m, &acl);
        if (r < 0)
                return r;
        if (acl_set_fd(m->fd, acl) < 0)
                return -errno;
        for (int i = 0; i < _SEM_ROLE_MAX; i++) {
                r = names_semaphore(name, sizeof(name), m->prefix, m->name, (SemRole)i, m->geo.generation);
                if (r >= 0)
                        r = sem_path(path, sizeof(path), name);
                if (r < 0)
                        return r;
                if (acl_set_file(path, ACL_TYPE_ACCESS, acl) < 0)
                        return -errno;
        }
        r = names_fifo(path, sizeof(path), m->prefix, m->name, m->geo.generation);
        if (r < 0)
                return r;
        if (acl_set_file(path, ACL_TYPE_ACCESS, acl) < 0)
                return -errno;
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                if (!((m->sub_fifos[i / 64] >> (i % 64)) & 1))
                        continue;
                r = names_sub_fifo(path, sizeof(path), m->prefix, m->name, m->geo.generation, i);
                if (r < 0)
                        return r;
                if (acl_set_file(path, ACL_TYPE_ACCESS, acl) < 0 && errno != ENOENT)
                        return -errno;
        }
        return 0;
}

/*
 * mailbox_sub_fifo() - make the FIFO of the subscriber at index @idx of a broadcast mailbox, if
 * it does not exist yet, with the mailbox's ACL (shmbox_fd() of a subscriber: the mailbox's own
 * FIFO cannot tell each subscriber whether there is news for it). It stays until the mailbox is
 * destroyed, whoever holds the index: the senders keep it open.
 *
 * Return: 0; -EPERM if something else stands at its name; a negative errno.
 */
int mailbox_sub_fifo(Mailbox *m, unsigned idx) {
        _cleanup_(acl_freep) acl_t acl = NULL;
        char path[NAMES_OBJECT_MAX + 16];
        struct stat st;
        int r;

        if (idx >= LAYOUT_ATT_MAX || m->geo.kind == LAYOUT_KIND_QUEUE)
                return -EINVAL;
        r = names_sub_fifo(path, sizeof(path), m->prefix, m->name, m->geo.generation, idx);
        if (r < 0)
                return r;
        if (lstat(path, &st) == 0) {
                if (!S_ISFIFO(st.st_mode) || st.st_uid != geteuid())
                        return -EPERM;
                m->sub_fifos[idx / 64] |= UINT64_C(1) << (idx % 64);
                return 0;
        }
        if (errno != ENOENT)
                return -errno;
        if (mkfifo(path, 0600) < 0)
                return -errno;
        r = mailbox_acl(m, &acl);
        if (r >= 0 && acl_set_file(path, ACL_TYPE_ACCESS, acl) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(path);
                return r;
        }
        m->sub_fifos[idx / 64] |= UINT64_C(1) << (idx % 64);
        return 0;
}

/* Remove the subscriber FIFOs of a broadcast mailbox (every index: a daemon before us may have
 * made some; a name that is not there costs one failed unlink). */
static void unlink_sub_fifos(Mailbox *m) {
        char path[NAMES_OBJECT_MAX + 16];

        if (m->geo.kind == LAYOUT_KIND_QUEUE)
                return;
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                if (names_sub_fifo(path, sizeof(path), m->prefix, m->name, m->geo.generation, i) >= 0)
                        (void)unlink(path);
        memset(m->sub_fifos, 0, sizeof(m->sub_fifos));
}

static Mailbox *mailbox_alloc(const char *prefix, const char *name, uid_t uid, gid_t gid, uint32_t mode) {
        Mailbox *m = FAULT_POINT(malloc_mailbox) ? NULL : calloc(1, sizeof(*m));

        if (!m)
                return NULL;
        m->fd = -1;
        m->ring.fifo_fd = -1;
        m->owner_pidfd = -1;
        snprintf(m->prefix, sizeof(m->prefix), "%s", prefix);
        snprintf(m->name, sizeof(m->name), "%s", name);
        m->uid = uid;
        m->gid = gid;
        m->mode = mode;
        return m;
}

static int mailbox_open_sems(Mailbox *m, int oflag) {
        char name[NAMES_OBJECT_MAX];
        int r;

        for (int i = 0; i < _SEM_ROLE_MAX; i++) {
                r = names_semaphore(name, sizeof(name), m->prefix, m->name, (SemRole)i, m->geo.generation);
                if (r < 0)
                        return r;
                int fault = (oflag & O_CREAT) ? FAULT_POINT(sem_open) : 0;

                if (fault) {
                        errno = fault;
                        m->ring.sem[i] = SEM_FAILED;
                } else
                        m->ring.sem[i] = sem_open(name, oflag, 0600, 0);
                if (m->ring.sem[i] == SEM_FAILED) {
                        m->ring.sem[i] = NULL;
                        return -errno;
                }
                if (oflag & O_CREAT)
                        m->sems_made = true;
        }
        return 0;
}

/*
 * mailbox_set_policy() - change the mode and the group of a published mailbox: its ACLs follow
 *
 * Attachments granted before keep their rights, like open file descriptors.
 *
 * Return: 0; a negative errno from libacl (the old policy stays).
 */
int mailbox_set_policy(Mailbox *m, uint32_t mode, gid_t gid) {
        uint32_t old_mode = m->mode;
        gid_t old_gid = m->gid;
        int r;

        m->mode = mode;
        m->gid = gid;
        r = mailbox_apply_acl(m);
        if (r < 0) {
                m->mode = old_mode;
                m->gid = old_gid;
                (void)mailbox_apply_acl(m);
        }
        return r;
}

/* The FIFO event loops poll (shmbox_fd): created like the semaphores, before the segment. */
static int make_fifo(Mailbox *m) {
        char path[NAMES_OBJECT_MAX + 16];
        int r;

        r = names_fifo(path, sizeof(path), m->prefix, m->name, m->geo.generation);
        if (r < 0)
                return r;
        if (mkfifo(path, 0600) < 0)
                return -errno;
        m->fifo_made = true;
        return 0;
}

static void unlink_fifo(const Mailbox *m) {
        char path[NAMES_OBJECT_MAX + 16];

        if (names_fifo(path, sizeof(path), m->prefix, m->name, m->geo.generation) >= 0)
                (void)unlink(path);
}

/*
 * mailbox_prepare() - start building mailbox @name: semaphores and a sized temporary segment
 * @ret: the new mailbox, owned by the caller; freeing it before mailbox_publish() removes
 *       everything it made
 *
 * Call mailbox_prealloc_step() until it returns 0, then mailbox_publish().
 *
 * Return: 0; -EEXIST if an object of this generation exists; -ENOSPC, -ENOMEM, -EMFILE, or
 *         another negative errno.
 */
int mailbox_prepare(const char *prefix, const char *name, const LayoutGeometry *geo, uid_t uid, gid_t gid,
                    uint32_t mode, Mailbox **ret) {
        _cleanup_(mailbox_freep) Mailbox *m = NULL;
        char tmp[NAMES_OBJECT_MAX];
        int r;

        m = mailbox_alloc(prefix, name, uid, gid, mode);
        if (!m)
                return -ENOMEM;
        m->geo = *geo;
        r = mailbox_open_sems(m, O_CREAT | O_EXCL);
        if (r < 0)
                return r;
        r = make_fifo(m);
        if (r < 0)
                return r;
        r = names_segment_tmp(tmp, sizeof(tmp), prefix, name, geo->generation);
        if (r < 0)
                return r;
        r = FAULT_POINT(shm_open);
        if (r)
                return -r;
        m->fd = shm_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (m->fd < 0)
                return -errno;
        m->tmp_made = true;
        r = FAULT_POINT(ftruncate);
        if (r)
                return -r;
        if (ftruncate(m->fd, (off_t)geo->total_size) < 0)
                return errno == EFBIG ? -ENOSPC : -errno;
        *ret = TAKE_PTR(m);
        return 0;
}

/*
 * mailbox_prealloc_step() - preallocate at most @chunk more bytes of the segment
 *
 * Return: 1 if more remains; 0 when the whole segment is allocated; -ENOSPC if /dev/shm is full.
 */
int mailbox_prealloc_step(Mailbox *m, uint64_t chunk) {
        uint64_t len = MIN(chunk, m->geo.total_size - m->preallocated);
        int r;

        if (len == 0)
                return 0;
        r = FAULT_POINT(fallocate);
        if (r == 0)
                r = posix_fallocate(m->fd, (off_t)m->preallocated, (off_t)len);
        if (r != 0)
                return r == EFBIG ? -ENOSPC : -r;
        m->preallocated += len;
        return m->preallocated < m->geo.total_size;
}

static int mailbox_map(Mailbox *m) {
        int fault = FAULT_POINT(mmap);
        void *map = fault ? MAP_FAILED : mmap(NULL, m->geo.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);

        if (map == MAP_FAILED)
                return fault ? -fault : -errno;
        m->ring.base = map;
        m->ring.hdr = map;
        m->ring.geo = m->geo;
        return 0;
}

/*
 * mailbox_publish() - initialise the header, set the ACL and give the segment its name
 *
 * Return: 0; -EEXIST if the name exists (nothing of ours is then visible); another errno.
 */
int mailbox_publish(Mailbox *m) {
        char tmp[NAMES_OBJECT_MAX], final[NAMES_OBJECT_MAX];
        char tmp_path[NAMES_OBJECT_MAX + 16], final_path[NAMES_OBJECT_MAX + 16];
        int r;

        r = mailbox_map(m);
        if (r < 0)
                return r;
        layout_init(m->ring.base, &m->geo);
        r = mailbox_apply_acl(m);
        if (r < 0)
                return r;
        CRASH_POINT(daemon_create_half);
        if (names_segment_tmp(tmp, sizeof(tmp), m->prefix, m->name, m->geo.generation) < 0 ||
            names_segment(final, sizeof(final), m->prefix, m->name) < 0 ||
            shm_path(tmp_path, sizeof(tmp_path), tmp) < 0 || shm_path(final_path, sizeof(final_path), final) < 0)
                return -ENAMETOOLONG;
        if (link(tmp_path, final_path) < 0)
                return -errno;
        m->published = true;
        m->sems_made = false;
        m->fifo_made = false;
        (void)unlink(tmp_path);
        m->tmp_made = false;
        return 0;
}

/* Tell the clients a new daemon is here: they re-register at their next call. */
static int adopt_announce(void *userdata) {
        Mailbox *m = userdata;

        atomic_fetch_add(&m->ring.hdr->epoch, 1);
        ring_wake_all(&m->ring);
        return 0;
}

/*
 * mailbox_adopt() - take over an existing mailbox found in /dev/shm and in the policy state
 *
 * Nothing read from /dev/shm is trusted: the segment must be a regular file owned by this
 * daemon's user, of a size that holds the layout its validated header describes, with the
 * generation the state file recorded; the semaphores of that generation must exist.
 *
 * Return: 0; -ENOENT (segment or semaphores missing); -EPERM (not ours); -EPROTO (another
 *         layout version); -EBADMSG (corrupt, or another generation); another errno.
 */
int mailbox_adopt(const char *prefix, const char *name, uint64_t generation, uid_t uid, gid_t gid, uint32_t mode,
                  Mailbox **ret) {
        _cleanup_(mailbox_freep) Mailbox *m = NULL;
        char seg[NAMES_OBJECT_MAX];
        struct stat st;
        int r;

        m = mailbox_alloc(prefix, name, uid, gid, mode);
        if (!m)
                return -ENOMEM;
        r = names_segment(seg, sizeof(seg), prefix, name);
        if (r < 0)
                return r;
        m->fd = shm_open(seg, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
        if (m->fd < 0)
                return -errno;
        if (fstat(m->fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
                return -EPERM;
        if ((uint64_t)st.st_size < LAYOUT_HEADER_PAGE)
                return -EBADMSG;
        {
                void *map = mmap(NULL, LAYOUT_HEADER_PAGE, PROT_READ, MAP_SHARED, m->fd, 0);
                if (map == MAP_FAILED)
                        return -errno;
                r = layout_check(map, (uint64_t)st.st_size, &m->geo);
                munmap(map, LAYOUT_HEADER_PAGE);
                if (r < 0)
                        return r;
        }
        if (m->geo.generation != generation)
                return -EBADMSG;
        r = mailbox_map(m);
        if (r < 0)
                return r;
        r = mailbox_open_sems(m, 0);
        if (r < 0)
                return r;
        /* a FIFO someone removed is made again: it holds no state, only a wake-up */
        {
                char path[NAMES_OBJECT_MAX + 16];
                struct stat fst;

                r = names_fifo(path, sizeof(path), prefix, name, generation);
                if (r < 0)
                        return r;
                if (lstat(path, &fst) < 0) {
                        if (errno != ENOENT)
                                return -errno;
                        r = make_fifo(m);
                        if (r < 0)
                                return r;
                        m->fifo_made = false;
                        r = mailbox_apply_acl(m);
                        if (r < 0)
                                return r;
                } else if (!S_ISFIFO(fst.st_mode) || fst.st_uid != geteuid())
                        return -EPERM;
        }
        /* the subscriber FIFOs an earlier daemon made: ours to poke, set the ACL of, remove */
        for (unsigned i = 0; m->geo.kind != LAYOUT_KIND_QUEUE && i < LAYOUT_ATT_MAX; i++) {
                char path[NAMES_OBJECT_MAX + 16];
                struct stat fst;

                if (names_sub_fifo(path, sizeof(path), prefix, name, generation, i) >= 0 && lstat(path, &fst) == 0 &&
                    S_ISFIFO(fst.st_mode) && fst.st_uid == geteuid())
                        m->sub_fifos[i / 64] |= UINT64_C(1) << (i % 64);
        }
        m->published = true;
        m->preallocated = m->geo.total_size;
        /* the attachments in the header are the manager's to sort out, with the journal */
        r = guard_call(adopt_announce, m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static void unlink_sems(Mailbox *m) {
        char name[NAMES_OBJECT_MAX];

        for (int i = 0; i < _SEM_ROLE_MAX; i++)
                if (names_semaphore(name, sizeof(name), m->prefix, m->name, (SemRole)i, m->geo.generation) >= 0)
                        (void)sem_unlink(name);
}

static int mark_destroyed(void *userdata) {
        Mailbox *m = userdata;

        ring_mark_destroyed(&m->ring);
        return 0;
}

/*
 * mailbox_unlink() - destroy: remove the names (segment first), mark the header DESTROYED and
 * wake every sleeper. The object stays usable for repairs until mailbox_free().
 */
void mailbox_unlink(Mailbox *m) {
        char seg[NAMES_OBJECT_MAX];

        if (m->destroyed)
                return;
        m->destroyed = true;
        if (m->published && names_segment(seg, sizeof(seg), m->prefix, m->name) >= 0)
                (void)shm_unlink(seg);
        CRASH_POINT(daemon_destroy_half);
        unlink_sems(m);
        unlink_fifo(m);
        unlink_sub_fifos(m);
        if (m->ring.hdr && mailbox_check(m) >= 0)
                (void)guard_call(mark_destroyed, m);
}

/*
 * mailbox_free() - unmap and close; a mailbox never published takes its objects with it
 *
 * Return: NULL.
 */
Mailbox *mailbox_free(Mailbox *m) {
        char tmp[NAMES_OBJECT_MAX];

        if (!m)
                return NULL;
        if (m->tmp_made && names_segment_tmp(tmp, sizeof(tmp), m->prefix, m->name, m->geo.generation) >= 0)
                (void)shm_unlink(tmp);
        if (m->sems_made && !m->published)
                unlink_sems(m);
        if (m->fifo_made && !m->published)
                unlink_fifo(m);
        if (m->ring.base)
                munmap(m->ring.base, m->geo.total_size);
        for (int i = 0; i < _SEM_ROLE_MAX; i++)
                if (m->ring.sem[i])
                        sem_close(m->ring.sem[i]);
        safe_close(m->fd);
        free(m);
        return NULL;
}

/*
 * mailbox_check() - whether the segment still holds its layout (a peer may have truncated it)
 *
 * The daemon calls this before it inspects the mapping, so that a truncation makes the mailbox
 * unusable, not the daemon crash.
 *
 * Return: 0; -EBADMSG if the segment is shorter than its layout; -errno from fstat.
 */
int mailbox_check(const Mailbox *m) {
        struct stat st;

        if (!m->ring.hdr)
                return -EBADMSG;
        if (fstat(m->fd, &st) < 0)
                return -errno;
        return (uint64_t)st.st_size < m->geo.total_size ? -EBADMSG : 0;
}

/* The allocation a file of @size bytes needs on tmpfs: whole pages. */
static uint64_t page_round(uint64_t size) {
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

        return (size + page - 1) / page * page;
}

/*
 * A semaphore file has the size glibc's sem_open() gives it: one sem_t. One a peer truncated
 * (its users' next access would be a SIGBUS) or grew is given that size back, with a fresh
 * process-shared semaphore of value 0 written over it: semaphore values are hints (doc/design.md,
 * invariant 3), a sleeper left waiting on the old one wakes at the end of its slice.
 */
static int sem_enforce_size(const Mailbox *m, SemRole role, bool *ret_undone) {
        char name[NAMES_OBJECT_MAX], path[NAMES_OBJECT_MAX + 16];
        _cleanup_close_ int fd = -1;
        struct stat st;
        sem_t fresh;
        int r;

        r = names_semaphore(name, sizeof(name), m->prefix, m->name, role, m->geo.generation);
        if (r >= 0)
                r = sem_path(path, sizeof(path), name);
        if (r < 0)
                return r;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if ((uint64_t)st.st_size == sizeof(sem_t) && (uint64_t)st.st_blocks * 512 <= page_round(sizeof(sem_t)))
                return 0;
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
                return -EPERM; /* not ours: never written to */
        fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
                return -EPERM;
        if (ftruncate(fd, 0) < 0 || ftruncate(fd, sizeof(sem_t)) < 0)
                return -errno;
        if (sem_init(&fresh, 1, 0) < 0)
                return -errno;
        if (pwrite(fd, &fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh))
                return -EIO;
        *ret_undone = true;
        return 0;
}

/*
 * mailbox_enforce_size() - undo what a peer did to the sizes of the mailbox's files
 * @ret_found: what the segment was found at, when it had grown (untouched otherwise)
 *
 * Any process with access can ftruncate() or fallocate() the segment past its layout, where
 * nobody maps it: the tail is cut off again (to the layout's size, which also frees what was
 * allocated past the end with FALLOC_FL_KEEP_SIZE), so it is never charged to anyone. A segment
 * cut *short* is left alone (its users may crash of it; nothing brings its contents back).
 * Semaphore files of another size than one sem_t are restored (see sem_enforce_size()).
 * A few system calls: run at every create and attach, and once a second for every mailbox.
 *
 * Return: 0 if nothing was wrong; a positive value if something was undone (SIZE_SEGMENT_GROWN,
 *         SIZE_SEM_RESTORED); a negative errno if something could not be undone.
 */
int mailbox_enforce_size(Mailbox *m, MailboxSizes *ret_found) {
        uint64_t allocated;
        struct stat st;
        int undone = 0, r = 0;

        if (m->fd < 0 || !m->ring.hdr)
                return 0;
        if (fstat(m->fd, &st) < 0)
                return -errno;
        allocated = (uint64_t)st.st_blocks * 512;
        if ((uint64_t)st.st_size > m->geo.total_size || allocated > page_round(m->geo.total_size)) {
                if (ftruncate(m->fd, (off_t)m->geo.total_size) < 0)
                        return -errno;
                if (ret_found)
                        *ret_found = (MailboxSizes){ .size = (uint64_t)st.st_size, .allocated = allocated };
                undone |= SIZE_SEGMENT_GROWN;
        }
        for (int i = 0; i < _SEM_ROLE_MAX; i++) {
                bool restored = false;
                int k = sem_enforce_size(m, (SemRole)i, &restored);

                if (k < 0 && r == 0)
                        r = k;
                if (restored)
                        undone |= SIZE_SEM_RESTORED;
        }
        return undone ? undone : r;
}

/*
 * mailbox_rights() - the WIRE_RIGHT_* bits the credentials get: the owner class, else the group
 * class (primary or supplementary group), else others, like file permission bits. root gets rw.
 */
uint32_t mailbox_rights(const Mailbox *m, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups) {
        unsigned bits;
        bool in_group = gid == m->gid;

        if (uid == 0)
                return WIRE_RIGHT_R | WIRE_RIGHT_W;
        for (size_t i = 0; i < n_groups && !in_group; i++)
                in_group = groups[i] == m->gid;
        if (uid == m->uid)
                bits = (m->mode >> 6) & 7;
        else if (in_group)
                bits = (m->mode >> 3) & 7;
        else
                bits = m->mode & 7;
        return ((bits & 4) ? WIRE_RIGHT_R : 0) | ((bits & 2) ? WIRE_RIGHT_W : 0);
}

/*
 * mailbox_att_alloc() - give @a a free attachment index (the daemon's books only)
 *
 * The token is published in shared memory by mailbox_att_publish(), once the journal knows it.
 *
 * Return: 0 and *@ret_idx; -EMFILE when LAYOUT_ATT_MAX attachments exist.
 */
int mailbox_att_alloc(Mailbox *m, Attachment *a, unsigned *ret_idx) {
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                if (m->att[i] || (m->adopt_reserved[i / 64] >> (i % 64)) & 1)
                        continue;
                m->att[i] = a;
                m->n_att++;
                *ret_idx = i;
                return 0;
        }
        return -EMFILE;
}

/*
 * mailbox_att_publish() - write @token into the header's entry @idx: from now on the holder of
 * @token may use the ring (a stale value a peer wrote there is overwritten)
 */
void mailbox_att_publish(Mailbox *m, unsigned idx, uint32_t token) {
        if (token != TOKEN_NONE)
                mailbox_counters_clear(m, idx); /* a new attachment's counts start at 0 */
        /* a broadcast subscription is the holder's to make (proto/bcast.c): one a peer or an
         * earlier holder left at this index must not hold the senders back for the new one */
        if (m->geo.kind != LAYOUT_KIND_QUEUE)
                (void)guard_fetch_and_u64(&m->ring.hdr->subs[idx / 64], ~(UINT64_C(1) << (idx % 64)));
        (void)guard_store_u32(&m->ring.hdr->att[idx], token);
}

/*
 * mailbox_att_token() - the token in the header's entry @idx (0 if the mapping is unreadable)
 */
uint32_t mailbox_att_token(const Mailbox *m, unsigned idx) {
        uint32_t v = 0;

        if (idx < LAYOUT_ATT_MAX)
                (void)guard_load_u32(&m->ring.hdr->att[idx], &v);
        return v;
}

/*
 * mailbox_lock_holder() - the token holding the mailbox's lock (0: free or unreadable)
 */
uint32_t mailbox_lock_holder(const Mailbox *m) {
        uint64_t v = 0;

        if (mailbox_check(m) >= 0)
                (void)guard_load_u64(&m->ring.hdr->lock, &v);
        return LOCK_TOKEN(v);
}

/*
 * mailbox_epoch() - the mailbox's current epoch (0 if the mapping is unreadable)
 */
uint64_t mailbox_epoch(const Mailbox *m) {
        uint64_t v = 0;

        (void)guard_load_u64(&m->ring.hdr->epoch, &v);
        return v;
}

typedef struct RepairCall {
        Mailbox *m;
        uint32_t token;
        unsigned idx;
        RingRepair rep;
} RepairCall;

static int repair_cb(void *userdata) {
        RepairCall *c = userdata;

        return ring_repair(&c->m->ring, c->token, c->idx, &c->rep);
}

static int fifo_due_cb(void *userdata) {
        Mailbox *m = userdata;

        return ring_fifo_due(&m->ring) ? 1 : 0;
}

/*
 * Put a byte into the mailbox's FIFO, for the boxes that poll it (shmbox_fd): ring_repair()
 * posts the semaphores, but the daemon keeps no FIFO open. Opened per signal, which is rare (a
 * repair that gave something back): O_NONBLOCK, so neither the open (ENXIO when no box holds
 * it open) nor the write (EAGAIN when full, and then it is readable anyway) ever blocks the
 * event loop; O_NOFOLLOW and a check that it is a FIFO, so that whatever else may stand at its
 * name is not written to.
 */
static void fifo_poke_path(const char *path) {
        struct stat st;
        int fd;

        fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return;
        if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
                (void)!write(fd, "", 1);
        close(fd);
}

/* A broadcast mailbox: each subscriber FIFO (a spurious wake-up costs a look); else the one. */
static void fifo_poke(const Mailbox *m) {
        char path[NAMES_OBJECT_MAX + 16];

        if (m->geo.kind == LAYOUT_KIND_QUEUE) {
                if (names_fifo(path, sizeof(path), m->prefix, m->name, m->geo.generation) >= 0)
                        fifo_poke_path(path);
                return;
        }
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                if (((m->sub_fifos[i / 64] >> (i % 64)) & 1) &&
                    names_sub_fifo(path, sizeof(path), m->prefix, m->name, m->geo.generation, i) >= 0)
                        fifo_poke_path(path);
}

/*
 * mailbox_repair() - ring_repair() for the attachment @token at @idx, after a size check and
 * under the SIGBUS guard
 *
 * Return: as ring_repair(); -EBADMSG also for a truncated segment.
 */
int mailbox_repair(Mailbox *m, uint32_t token, unsigned idx, RingRepair *ret) {
        RepairCall c = { .m = m, .token = token, .idx = idx };
        int r;

        r = mailbox_check(m);
        if (r < 0)
                return r;
        r = guard_call(repair_cb, &c);
        if (r < 0)
                return r;
        /* a message given back (redelivered, or let through by an abandoned claim of its
         * writer, the order rule): boxes that poll the FIFO learn it as sleepers do */
        if ((c.rep.redelivered || c.rep.abandoned || c.rep.rolled || c.rep.held_lock) && guard_call(fifo_due_cb, m) > 0)
                fifo_poke(m);
        if (ret)
                *ret = c.rep;
        return r;
}

/*
 * mailbox_att_free() - release index @idx once its holder's ring state is repaired
 */
void mailbox_att_free(Mailbox *m, unsigned idx) {
        if (idx >= LAYOUT_ATT_MAX || !m->att[idx])
                return;
        m->att[idx] = NULL;
        m->n_att--;
        if (m->ring.hdr && mailbox_check(m) >= 0) {
                mailbox_counters_retire(m, idx);
                (void)guard_store_u32(&m->ring.hdr->att[idx], TOKEN_NONE);
        }
}

/* The counters (doc/ring.md, "Counters"): values any attached process may have written, so
 * summed with saturation and used for nothing but reporting. */
static void counters_load(const AttCounters *b, WireCounters *ret) {
#define LOAD(f) ret->f = atomic_load_explicit(&b->f, memory_order_relaxed);
        LAYOUT_COUNTER_FIELDS(LOAD)
#undef LOAD
}

static uint64_t sat_add(uint64_t a, uint64_t b) {
        uint64_t s;

        return __builtin_add_overflow(a, b, &s) ? UINT64_MAX : s;
}

/*
 * mailbox_counters_add() - @acc += @k, each field saturating at UINT64_MAX
 */
void mailbox_counters_add(WireCounters *acc, const WireCounters *k) {
#define ADD(f) acc->f = sat_add(acc->f, k->f);
        LAYOUT_COUNTER_FIELDS(ADD)
#undef ADD
}

typedef struct CountersCall {
        Mailbox *m;
        unsigned idx;
        WireCounters k;
} CountersCall;

static AttCounters *counters_block(Mailbox *m, unsigned idx) {
        return idx == LAYOUT_ATT_MAX ? &m->ring.hdr->retired : layout_counters(m->ring.base, idx);
}

static int counters_read_cb(void *userdata) {
        CountersCall *c = userdata;

        counters_load(counters_block(c->m, c->idx), &c->k);
        return 0;
}

static void counters_zero(AttCounters *b) {
#define ZERO(f) atomic_store_explicit(&b->f, 0, memory_order_relaxed);
        LAYOUT_COUNTER_FIELDS(ZERO)
#undef ZERO
}

static int counters_clear_cb(void *userdata) {
        CountersCall *c = userdata;

        counters_zero(counters_block(c->m, c->idx));
        return 0;
}

/* retired += block, then block = 0. A daemon killed between the two counts that attachment
 * twice; one killed before the first loses it: statistics, not messages. */
static int counters_retire_cb(void *userdata) {
        CountersCall *c = userdata;
        AttCounters *retired = &c->m->ring.hdr->retired;
        WireCounters k, total;

        counters_load(counters_block(c->m, c->idx), &k);
        counters_load(retired, &total);
        mailbox_counters_add(&total, &k);
#define STORE(f) atomic_store_explicit(&retired->f, total.f, memory_order_relaxed);
        LAYOUT_COUNTER_FIELDS(STORE)
#undef STORE
        counters_zero(counters_block(c->m, c->idx));
        return 0;
}

/*
 * mailbox_counters() - the counter block of attachment index @idx, or with @idx LAYOUT_ATT_MAX
 * the counts of the attachments gone (the header's `retired`)
 *
 * Return: 0 and @ret; -EINVAL for another index; -EBADMSG if the segment is unreadable (a
 *         truncation). @ret is untouched on failure.
 */
int mailbox_counters(Mailbox *m, unsigned idx, WireCounters *ret) {
        CountersCall c = { .m = m, .idx = idx };
        int r;

        if (idx > LAYOUT_ATT_MAX || !m->ring.hdr)
                return -EINVAL;
        r = mailbox_check(m);
        if (r < 0)
                return r;
        r = guard_call(counters_read_cb, &c);
        if (r < 0)
                return r;
        *ret = c.k;
        return 0;
}

/*
 * mailbox_counters_clear() - zero the counter block of index @idx, about to be handed out
 */
void mailbox_counters_clear(Mailbox *m, unsigned idx) {
        CountersCall c = { .m = m, .idx = idx };

        if (idx < LAYOUT_ATT_MAX && m->ring.hdr && mailbox_check(m) >= 0)
                (void)guard_call(counters_clear_cb, &c);
}

/*
 * mailbox_counters_retire() - fold the counter block of index @idx, being released, into the
 * header's totals of attachments gone, and zero it
 */
void mailbox_counters_retire(Mailbox *m, unsigned idx) {
        CountersCall c = { .m = m, .idx = idx };

        if (idx < LAYOUT_ATT_MAX && m->ring.hdr && mailbox_check(m) >= 0)
                (void)guard_call(counters_retire_cb, &c);
}

typedef struct InfoCall {
        const Mailbox *m;
        WireInfo *i;
        uint32_t oldest_claimed, oldest_taken, lock_holder;
        uint64_t abandoned;
} InfoCall;

/* Milliseconds since @stamp (CLOCK_MONOTONIC_COARSE ns written by a peer: untrusted). */
static uint32_t age_ms(uint64_t stamp) {
        struct timespec ts;
        uint64_t now;

        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        return stamp <= now ? (uint32_t)MIN((now - stamp) / 1000000u, UINT32_MAX) : 0;
}

static int info_cb(void *userdata) {
        InfoCall *c = userdata;
        RingCounts counts;

        ring_count(&c->m->ring, &counts);
        c->abandoned = counts.abandoned_total;
        c->i->corrupt = counts.corrupt;
        c->i->received = counts.received;
        c->i->recovered = counts.recovered;
        c->i->repairs = counts.repairs;
        c->lock_holder = counts.lock_holder;
        /* nothing derived from positions that do not validate */
        if (counts.corrupt & RING_CORRUPT_POSITIONS)
                return 0;
        c->i->queued = counts.ready;
        c->i->claimed = counts.claimed;
        c->i->taken = counts.taken;
        c->i->sent = counts.sent;
        c->oldest_claimed = counts.oldest_claimed_token;
        c->oldest_taken = counts.oldest_taken_token;
        c->i->oldest_claimed_age_ms = counts.claimed ? age_ms(counts.oldest_claimed_stamp) : 0;
        c->i->oldest_taken_age_ms = counts.taken ? age_ms(counts.oldest_taken_stamp) : 0;
        return 0;
}

/*
 * mailbox_info() - what info and list report; the ring is read without its lock
 * @ret_claimed, @ret_taken: the tokens holding the oldest CLAIMED and TAKEN slots (0: none)
 * @ret_holder: the token holding the lock (0: free, unreadable, or no attachment's)
 * @ret_abandoned: if not NULL, the header's count of abandoned claims, as read
 *
 * ret->corrupt says what does not validate (RING_CORRUPT_*: ring_count(), confirmed; SEGMENT
 * for a segment shorter than its layout, or one that faults when read), and the counters
 * derived from it are left 0.
 */
void mailbox_info(const Mailbox *m, WireInfo *ret, uint32_t *ret_claimed, uint32_t *ret_taken, uint32_t *ret_holder,
                  uint64_t *ret_abandoned) {
        WireInfo i = {
                .slots = m->geo.slots,
                .slot_size = m->geo.slot_size,
                .mode = m->mode,
                .attached = m->n_att,
                .uid = (uint32_t)m->uid,
                .gid = (uint32_t)m->gid,
                .generation = m->geo.generation,
        };
        InfoCall c = { .m = m, .i = &i };

        if (m->ring.hdr && (mailbox_check(m) < 0 || guard_call(info_cb, &c) < 0)) {
                i = (WireInfo){ .slots = i.slots,
                                .slot_size = i.slot_size,
                                .mode = i.mode,
                                .attached = i.attached,
                                .uid = i.uid,
                                .gid = i.gid,
                                .generation = i.generation,
                                .corrupt = RING_CORRUPT_SEGMENT };
                c = (InfoCall){};
        }
        *ret = i;
        *ret_claimed = c.oldest_claimed;
        *ret_taken = c.oldest_taken;
        *ret_holder = i.corrupt & RING_CORRUPT_LOCK ? TOKEN_NONE : c.lock_holder;
        if (ret_abandoned)
                *ret_abandoned = c.abandoned;
}
