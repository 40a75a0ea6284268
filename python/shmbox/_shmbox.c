/* SPDX-License-Identifier: MIT */
/* _shmbox.c — the CPython extension behind the shmbox package: Client, Mailbox and the
 * zero-copy views, over the public <shmbox.h> only.
 *
 * How a call runs. Every data-plane call goes through box_call(): it takes the client's lock
 * (libshmbox wants a client and its boxes used by one thread at a time; Python threads wait
 * for each other here instead of racing inside the library), releases the GIL, and calls the
 * library with a timeout of at most SLICE_MS. A call that must wait longer loops: between two
 * slices it takes the GIL back and runs PyErr_CheckSignals(), so Ctrl-C raises
 * KeyboardInterrupt within a slice. Each slice is a whole library call that either took a
 * message (and then it is returned, whatever the signals say) or took nothing: a message is
 * never taken and dropped. The lock is let go between slices, and handed over to a thread
 * waiting for it (client_yield()); while one waits, slices are SLICE_SHARED_MS long. So a
 * thread blocked in recv() does not lock out a thread that sends on the same client; it
 * delays it by up to one slice (one client per thread is what is fast).
 *
 * The GIL. The first attempt of a call has a timeout of 0 (so a call that need not wait never
 * reads the clock), and when it copies at most GIL_HOLD_MAX bytes (send and recv of small
 * messages and slots; reserve() and peek(), which copy nothing) it runs with the GIL held and
 * takes the client's lock only if it is free (no wait): a send or receive that need not wait
 * costs no GIL round trip, which was a third of a 64 B send+recv pair (perf, issue 15). Only
 * if that attempt finds the mailbox full (or empty) and the call may wait, or the client is
 * busy in another thread, does it go the way above: the GIL released, in slices. A timeout-0
 * attempt can still sleep on the mailbox lock while another process holds it (at most 10 ms,
 * proto/ring.c's RING_LOCK_NOWAIT_NS; a holder preempted inside its few-instruction critical
 * section), with the GIL held then: other Python threads of this process wait that long, as
 * they wait for any thread's 5 ms switch interval. Larger copies, batches and every waiting
 * slice run without the GIL. The copy of a received message of at most GIL_HOLD_MAX bytes into
 * its bytes object keeps it too.
 *
 * Zero-copy. reserve() and peek() return a Slot object (Reservation or Peek); its __enter__
 * claims the slot and hands out a memoryview of it, exported by the Slot itself. Its __exit__
 * releases that memoryview (any later use raises ValueError), then commits, aborts or releases
 * the slot. A view that outlived the block (a slice of it, a buffer another object still
 * holds) is counted by the Slot's buffer exports: __exit__ then raises BufferError and
 * aborts a reservation, and detach() refuses while such a buffer lives, so no buffer ever
 * points into memory that was unmapped.
 *
 * fork(). The library answers -ESTALE for inherited handles. We keep our own fork generation
 * (pthread_atfork) to say so in the message, and the package's os.register_at_fork() hook
 * calls _after_fork(), which releases in the child the memoryviews of slots the parent held
 * (the child has no mapping: MADV_DONTFORK).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include <shmbox.h>

#ifndef SHMBOX_PY_VERSION
#define SHMBOX_PY_VERSION "unknown"
#endif

#define SLICE_MS 50                                  /* longest wait without looking at signals */
#define SLICE_SHARED_MS 1                            /* the slice while another thread waits for the client */
#define GIL_HOLD_MAX 1024                            /* copies up to this size keep the GIL */
#define RECV_SCRATCH_MAX 4096                        /* slot sizes up to this: recv() copies through a scratch buffer */
#define RECV_MANY_MAX 64                             /* the library's batch limit */
#define RECV_MANY_SCRATCH_MAX (RECV_MANY_MAX * 4096) /* recv_many()'s scratch buffer, at most */
#define R_PYERR (-100000)                            /* box_call(): a Python exception is set */

/* The fork generation, bumped in every child (pthread_atfork), and every open client (for
 * _after_fork()): the globals of this file besides the types and exceptions, because fork()
 * is process-wide. Both are used with the GIL held only (the atfork handler runs in the child
 * while it is still the only thread). */
static volatile unsigned fork_generation;
static struct ClientObject *all_clients;

static PyObject *Error, *InvalidArgument, *Timeout, *WouldBlock, *PermissionDenied, *NotFound, *Exists,
        *ConnectionRefused, *NotConnected, *Destroyed, *Stale, *MessageTooLong, *Overrun;

static PyTypeObject ClientType, MailboxType, ReservationType, PeekType;
static PyTypeObject InfoType, EntryType, RequestInfoType;

/* --- errors ------------------------------------------------------------------------------- */

static PyObject *error_type(int err) {
        switch (err) {
        case -EINVAL: return InvalidArgument;
        case -ETIMEDOUT: return Timeout;
        case -EAGAIN: return WouldBlock;
        case -EACCES:
        case -EPERM: return PermissionDenied;
        case -ENOENT: return NotFound;
        case -EEXIST: return Exists;
        case -ECONNREFUSED: return ConnectionRefused;
        case -ENOTCONN: return NotConnected;
        case -EIDRM: return Destroyed;
        case -ESTALE: return Stale;
        case -EMSGSIZE: return MessageTooLong;
        case -EOVERFLOW: return Overrun;
        default: return Error;
        }
}

/* The daemon's reason for refusing a control call: shmbox_last_error(), copied while the
 * client's lock is held (it is valid until the next call on the client). "" when none. */
typedef struct Reason {
        char text[256];
} Reason;

/* Raise the exception for the negative errno @err with the library's message (or @msg), and
 * @name (a str, or NULL) as the exception's filename. When the daemon said why (@why not
 * NULL nor ""), the message is the library's without its "(hint)", then ": " and the daemon's
 * words, as shmboxctl prints it; the exception's reason attribute is those words ("" when
 * none). Returns NULL. */
static PyObject *raise_errno_why(int err, PyObject *name, const char *msg, const char *why) {
        PyObject *type = error_type(err), *exc, *reason;
        char text[512];

        if (!msg)
                msg = shmbox_strerror(err);
        if (!why)
                why = "";
        if (why[0]) {
                const char *hint = strstr(msg, " (");

                snprintf(text, sizeof(text), "%.*s: %s", hint ? (int)(hint - msg) : (int)strlen(msg), msg, why);
                msg = text;
        }
        if (name)
                exc = PyObject_CallFunction(type, "isO", -err, msg, name);
        else
                exc = PyObject_CallFunction(type, "is", -err, msg);
        if (!exc)
                return NULL;
        reason = PyUnicode_DecodeUTF8(why, (Py_ssize_t)strlen(why), "replace");
        if (!reason || PyObject_SetAttrString(exc, "reason", reason) < 0) {
                Py_XDECREF(reason);
                Py_DECREF(exc);
                return NULL;
        }
        Py_DECREF(reason);
        PyErr_SetObject(type, exc);
        Py_DECREF(exc);
        return NULL;
}

static PyObject *raise_errno_msg(int err, PyObject *name, const char *msg) {
        return raise_errno_why(err, name, msg, NULL);
}

static PyObject *raise_errno(int err, PyObject *name) {
        return raise_errno_why(err, name, NULL, NULL);
}

static PyObject *raise_forked(PyObject *name) {
        return raise_errno_msg(-ESTALE, name,
                               "inherited through fork(): this process is a child of the one that "
                               "connected; connect and attach again in the child");
}

static void atfork_child(void) {
        fork_generation++;
}

/* --- timeouts ----------------------------------------------------------------------------- */

typedef struct Wait {
        enum { WAIT_FOREVER, WAIT_NEVER, WAIT_UNTIL } mode;
        double deadline; /* CLOCK_MONOTONIC seconds, for WAIT_UNTIL */
} Wait;

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parse a timeout argument: None waits forever, 0 never waits, a positive number of seconds
 * (int or float) waits at most that long. Returns 0, or -1 with an exception set. */
static int wait_parse(PyObject *timeout, Wait *ret) {
        double t;

        if (!timeout || timeout == Py_None) {
                ret->mode = WAIT_FOREVER;
                return 0;
        }
        t = PyFloat_AsDouble(timeout);
        if (t == -1.0 && PyErr_Occurred())
                return -1;
        if (isnan(t) || t < 0) {
                PyErr_SetString(PyExc_ValueError, "timeout must be None or a number of seconds >= 0");
                return -1;
        }
        if (t == 0) {
                ret->mode = WAIT_NEVER;
        } else if (isinf(t)) {
                ret->mode = WAIT_FOREVER;
        } else {
                ret->mode = WAIT_UNTIL;
                ret->deadline = now_s() + t;
        }
        return 0;
}

/* The timeout in ms of the next library call: at most SLICE_MS; -1 when the deadline passed. */
static int wait_slice(const Wait *w) {
        double left_ms;

        switch (w->mode) {
        case WAIT_FOREVER: return SLICE_MS;
        case WAIT_NEVER: return 0;
        default:
                left_ms = (w->deadline - now_s()) * 1000.0;
                if (left_ms <= 0)
                        return -1;
                return left_ms >= SLICE_MS ? SLICE_MS : (int)ceil(left_ms);
        }
}

/* --- parsing of (positional..., timeout=) for METH_FASTCALL | METH_KEYWORDS ---------------- */

/* Fill out[0..npos) from the positional arguments (the first @required ones must be there) and
 * out[npos] from "timeout", given positionally or by keyword. Missing ones stay NULL. */
static int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, Py_ssize_t npos,
                      Py_ssize_t required, PyObject **out) {
        Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;

        for (Py_ssize_t i = 0; i <= npos; i++)
                out[i] = NULL;
        if (nargs > npos + 1) {
                PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", fname, npos + 1, nargs);
                return -1;
        }
        for (Py_ssize_t i = 0; i < nargs; i++)
                out[i] = args[i];
        for (Py_ssize_t i = 0; i < nkw; i++) {
                PyObject *key = PyTuple_GET_ITEM(kwnames, i);

                if (!PyUnicode_Check(key) || PyUnicode_CompareWithASCIIString(key, "timeout") != 0) {
                        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fname, key);
                        return -1;
                }
                if (out[npos]) {
                        PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument 'timeout'", fname);
                        return -1;
                }
                out[npos] = args[nargs + i];
        }
        for (Py_ssize_t i = 0; i < required; i++)
                if (!out[i]) {
                        PyErr_Format(PyExc_TypeError, "%s() missing a required argument", fname);
                        return -1;
                }
        return 0;
}

/* --- Client ------------------------------------------------------------------------------- */

typedef struct MailboxObject MailboxObject;

typedef struct ClientObject {
        PyObject_HEAD shmbox_client *client; /* NULL once closed */
        pthread_mutex_t lock;                /* one thread at a time in the library, per client (not a
                               * PyThread lock: its try-lock reads the clock, 8% of a send) */
        bool lock_made;
        atomic_int waiters;   /* threads waiting for lock */
        atomic_uint handoffs; /* bumped by each waiter that got it */
        unsigned fork_gen;
        PyObject *socket;     /* str, or None for the default */
        MailboxObject *boxes; /* attached through this client */
        char *reply_buf;      /* request()'s buffer for the reply (reply_buf_size bytes) */
        size_t reply_buf_size;
        size_t reply_cap;                 /* the largest reply: max(4096, slot_size of every box requested on) */
        struct ClientObject *next, *prev; /* in all_clients */
        PyObject *weakreflist;
} ClientObject;

/* Take the client's lock; with the GIL held. Waits for another thread with the GIL released,
 * in slices, so Ctrl-C still works. Returns 0, or -1 with an exception set. */
static int client_lock(ClientObject *c) {
        struct timespec until;
        int st;

        if (pthread_mutex_trylock(&c->lock) == 0)
                return 0;
        atomic_fetch_add(&c->waiters, 1);
        for (;;) {
                Py_BEGIN_ALLOW_THREADS clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_nsec += SLICE_MS * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                st = pthread_mutex_clocklock(&c->lock, CLOCK_MONOTONIC, &until);
                if (st == 0)
                        atomic_fetch_add(&c->handoffs, 1);
                Py_END_ALLOW_THREADS if (st == 0) break;
                if (PyErr_CheckSignals() < 0) {
                        atomic_fetch_sub(&c->waiters, 1);
                        return -1;
                }
        }
        atomic_fetch_sub(&c->waiters, 1);
        return 0;
}

/* Between two slices of a waiting call: when another thread waits for the client, let it
 * have the lock (the lock is not fair: without this, the waiting call would take it again at
 * once), for at most a few milliseconds. With the GIL held; the lock not held. */
static void client_yield(ClientObject *c) {
        unsigned seen = atomic_load(&c->handoffs);

        if (atomic_load(&c->waiters) == 0)
                return;
        Py_BEGIN_ALLOW_THREADS for (int i = 0;
                                    i < 2000 && atomic_load(&c->handoffs) == seen && atomic_load(&c->waiters) > 0; i++)
                sched_yield();
        Py_END_ALLOW_THREADS
}

static void client_unlock(ClientObject *c) {
        pthread_mutex_unlock(&c->lock);
}

static int client_usable(ClientObject *c) {
        if (!c->client) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed shmbox client");
                return -1;
        }
        if (c->fork_gen != fork_generation) {
                raise_forked(NULL);
                return -1;
        }
        return 0;
}

static void mailbox_detach_all(ClientObject *c);

static PyObject *client_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
        static char *kwlist[] = { "socket", NULL };
        PyObject *socket = Py_None, *bytes = NULL;
        const char *path = NULL;
        ClientObject *self;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Client", kwlist, &socket))
                return NULL;
        if (socket != Py_None) {
                if (!PyUnicode_FSConverter(socket, &bytes))
                        return NULL;
                path = PyBytes_AS_STRING(bytes);
        }
        self = (ClientObject *)type->tp_alloc(type, 0);
        if (!self) {
                Py_XDECREF(bytes);
                return NULL;
        }
        self->fork_gen = fork_generation;
        self->socket = socket;
        Py_INCREF(socket);
        r = pthread_mutex_init(&self->lock, NULL);
        if (r != 0) {
                Py_XDECREF(bytes);
                Py_DECREF(self);
                errno = r;
                return PyErr_SetFromErrno(PyExc_OSError);
        }
        self->lock_made = true;
        Py_BEGIN_ALLOW_THREADS r = shmbox_connect(path, &self->client);
        Py_END_ALLOW_THREADS Py_XDECREF(bytes);
        if (r < 0) {
                raise_errno(r, socket == Py_None ? NULL : socket);
                Py_DECREF(self);
                return NULL;
        }
        self->next = all_clients;
        if (all_clients)
                all_clients->prev = self;
        all_clients = self;
        return (PyObject *)self;
}

static void client_close_now(ClientObject *self) {
        if (!self->client)
                return;
        mailbox_detach_all(self);
        shmbox_disconnect(self->client); /* in a fork child: frees memory only */
        self->client = NULL;
        if (self->prev)
                self->prev->next = self->next;
        else
                all_clients = self->next;
        if (self->next)
                self->next->prev = self->prev;
        self->next = self->prev = NULL;
}

static void client_dealloc(ClientObject *self) {
        PyObject_GC_UnTrack(self);
        if (self->weakreflist)
                PyObject_ClearWeakRefs((PyObject *)self);
        client_close_now(self);
        if (self->lock_made)
                pthread_mutex_destroy(&self->lock);
        PyMem_Free(self->reply_buf);
        Py_CLEAR(self->socket);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static int client_traverse(ClientObject *self, visitproc visit, void *arg) {
        Py_VISIT(self->socket);
        return 0;
}

static int mailbox_detach_check(ClientObject *c);

PyDoc_STRVAR(client_close_doc,
             "close()\n--\n\n"
             "Detach every mailbox still attached through this client, then close the connection.\n"
             "Closing twice is allowed. Raises BufferError (and closes nothing) while a zero-copy view\n"
             "of one of its mailboxes is still in use.");

static PyObject *client_close(ClientObject *self, PyObject *unused) {
        if (!self->client)
                Py_RETURN_NONE;
        if (mailbox_detach_check(self) < 0)
                return NULL;
        if (client_lock(self) < 0)
                return NULL;
        client_close_now(self);
        client_unlock(self);
        Py_RETURN_NONE;
}

static PyObject *client_enter(ClientObject *self, PyObject *unused) {
        if (client_usable(self) < 0)
                return NULL;
        Py_INCREF(self);
        return (PyObject *)self;
}

static PyObject *client_exit(ClientObject *self, PyObject *args) {
        PyObject *r = client_close(self, NULL);

        if (!r)
                return NULL;
        Py_DECREF(r);
        Py_RETURN_FALSE;
}

/* A mailbox name argument as UTF-8 (borrowed from @name); NULL with an exception set. */
static const char *name_arg(PyObject *name) {
        if (!PyUnicode_Check(name)) {
                PyErr_Format(PyExc_TypeError, "a mailbox name must be str, not %.100s", Py_TYPE(name)->tp_name);
                return NULL;
        }
        return PyUnicode_AsUTF8(name);
}

/* An unsigned 32-bit argument (None: @dflt). Returns 0 or -1 with an exception set. */
static int u32_arg(PyObject *o, const char *what, uint32_t dflt, uint32_t *ret) {
        unsigned long v;

        if (!o || o == Py_None) {
                *ret = dflt;
                return 0;
        }
        v = PyLong_AsUnsignedLong(o);
        if (v == (unsigned long)-1 && PyErr_Occurred()) {
                if (PyErr_ExceptionMatches(PyExc_OverflowError) || PyErr_ExceptionMatches(PyExc_ValueError)) {
                        PyErr_Clear();
                        PyErr_Format(PyExc_ValueError, "%s must be between 0 and %u", what, UINT32_MAX - 1);
                }
                return -1;
        }
        if (v >= UINT32_MAX) {
                PyErr_Format(PyExc_ValueError, "%s must be between 0 and %u", what, UINT32_MAX - 1);
                return -1;
        }
        *ret = (uint32_t)v;
        return 0;
}

/* Keep the daemon's reason for the last control call of @c (with the client's lock held). */
static void reason_keep(ClientObject *c, int r, Reason *why) {
        why->text[0] = 0;
        if (r < 0)
                snprintf(why->text, sizeof(why->text), "%s", shmbox_last_error(c->client));
}

/* Run a control call: the client's lock, the GIL released; the daemon's reason into why. */
#define CLIENT_CALL(self, r, why, expr)                                                                                \
        do {                                                                                                           \
                if (client_lock(self) < 0)                                                                             \
                        return NULL;                                                                                   \
                Py_BEGIN_ALLOW_THREADS r = (expr);                                                                     \
                Py_END_ALLOW_THREADS reason_keep(self, r, &why);                                                       \
                client_unlock(self);                                                                                   \
        } while (0)

PyDoc_STRVAR(client_create_doc,
             "create(name, slots=0, slot_size=0, mode=0o600, group=None, ephemeral=False)\n--\n\n"
             "Create the mailbox name, owned by this process's user.\n\n"
             "slots and slot_size: its geometry (0: the defaults, 64 slots of 4096 bytes); a message\n"
             "holds at most slot_size bytes. mode: read and write bits only (mask 0o666): r may receive,\n"
             "w may send. group: a gid (int) or a group name for the mailbox's group (default: the\n"
             "caller's primary group); the caller must belong to it unless root.\n"
             "ephemeral=True ties the mailbox to this client's connection: the daemon destroys it when\n"
             "the connection ends (close(), or the process exiting or killed), as destroy() would. A child\n"
             "forked meanwhile keeps the connection open until it exits or execs. info() and list() show\n"
             "it with INFO_EPHEMERAL in flags and the creator's pid in owner_pid.\n"
             "broadcast=True makes a broadcast mailbox: every box attached with r subscribes and gets\n"
             "every message sent after that (Mailbox.subscribe(False) for a box that only sends, or it\n"
             "holds the senders back); each subscriber's fileno() is a FIFO of its own.\n"
             "overwrite=True (with broadcast) lets senders overwrite what a slow subscriber has not\n"
             "read: it then gets Overrun once, and Mailbox.missed says how many it lost.\n"
             "Raises FileExistsError (Exists), ValueError (InvalidArgument: name, geometry, mode),\n"
             "PermissionError (a group the caller is not in), shmbox.Error with ENOSPC or EDQUOT\n"
             "(the daemon's limits), or EOPNOTSUPP (ephemeral, from a daemon before shmbox 0.3),\n"
             "NotConnected (no daemon).");

static PyObject *client_create(ClientObject *self, PyObject *args, PyObject *kwds) {
        static char *kwlist[] = { "name",      "slots",     "slot_size", "mode", "group",
                                  "ephemeral", "broadcast", "overwrite", NULL };
        PyObject *name, *slots = NULL, *slot_size = NULL, *mode = NULL, *group = Py_None;
        struct shmbox_config cfg = { 0 };
        int ephemeral = 0, broadcast = 0, overwrite = 0;
        const char *n;
        Reason why;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|OOOOppp:create", kwlist, &name, &slots, &slot_size, &mode,
                                         &group, &ephemeral, &broadcast, &overwrite))
                return NULL;
        if (client_usable(self) < 0 || !(n = name_arg(name)))
                return NULL;
        if (u32_arg(slots, "slots", 0, &cfg.slots) < 0 || u32_arg(slot_size, "slot_size", 0, &cfg.slot_size) < 0 ||
            u32_arg(mode, "mode", 0, &cfg.mode) < 0)
                return NULL;
        if (group != Py_None) {
                if (u32_arg(group, "group", 0, &cfg.gid) < 0)
                        return NULL;
                cfg.flags |= SHMBOX_CONFIG_GID;
        }
        if (ephemeral)
                cfg.flags |= SHMBOX_CONFIG_EPHEMERAL;
        if (broadcast)
                cfg.flags |= SHMBOX_CONFIG_BROADCAST;
        if (overwrite)
                cfg.flags |= SHMBOX_CONFIG_OVERWRITE;
        CLIENT_CALL(self, r, why, shmbox_create(self->client, n, &cfg));
        if (r < 0)
                return raise_errno_why(r, name, NULL, why.text);
        Py_RETURN_NONE;
}

PyDoc_STRVAR(client_destroy_doc,
             "destroy(name)\n--\n\n"
             "Destroy the mailbox name and the messages in it (its owner or root only). Its name goes at\n"
             "once; mailboxes still attached raise Destroyed from their next send or receive.\n"
             "Raises FileNotFoundError (NotFound), PermissionError (PermissionDenied), NotConnected.");

static PyObject *client_destroy(ClientObject *self, PyObject *name) {
        const char *n;
        Reason why;
        int r;

        if (client_usable(self) < 0 || !(n = name_arg(name)))
                return NULL;
        CLIENT_CALL(self, r, why, shmbox_destroy(self->client, n));
        if (r < 0)
                return raise_errno_why(r, name, NULL, why.text);
        Py_RETURN_NONE;
}

PyDoc_STRVAR(client_chmod_doc,
             "chmod(name, mode=None, group=None)\n--\n\n"
             "Change the mode and/or the group (a gid) of the mailbox name; None keeps it. Its owner or\n"
             "root only, and the owner only to a group it belongs to. Mailboxes attached before keep\n"
             "their rights, like open files.\n"
             "Raises FileNotFoundError, PermissionError, ValueError (a mode with other than rw bits).");

static PyObject *client_chmod(ClientObject *self, PyObject *args, PyObject *kwds) {
        static char *kwlist[] = { "name", "mode", "group", NULL };
        PyObject *name, *mode = Py_None, *group = Py_None;
        uint32_t m, g;
        const char *n;
        Reason why;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|OO:chmod", kwlist, &name, &mode, &group))
                return NULL;
        if (client_usable(self) < 0 || !(n = name_arg(name)))
                return NULL;
        if (u32_arg(mode, "mode", SHMBOX_KEEP, &m) < 0 || u32_arg(group, "group", SHMBOX_KEEP, &g) < 0)
                return NULL;
        CLIENT_CALL(self, r, why, shmbox_chmod(self->client, n, m, g));
        if (r < 0)
                return raise_errno_why(r, name, NULL, why.text);
        Py_RETURN_NONE;
}

PyDoc_STRVAR(client_reload_doc,
             "reload()\n--\n\n"
             "Ask the daemon to read its configuration file again (root or the daemon's user only).\n"
             "Raises PermissionError, ValueError (the file does not parse: the running limits stay).");

static PyObject *client_reload(ClientObject *self, PyObject *unused) {
        Reason why;
        int r;

        if (client_usable(self) < 0)
                return NULL;
        CLIENT_CALL(self, r, why, shmbox_reload(self->client));
        if (r < 0)
                return raise_errno_why(r, NULL, NULL, why.text);
        Py_RETURN_NONE;
}

static PyObject *info_new(const struct shmbox_info *in) {
        PyObject *o = PyStructSequence_New(&InfoType);
        unsigned long long v[] = {
                in->slots,
                in->slot_size,
                in->mode,
                in->queued,
                in->attached,
                in->uid,
                in->gid,
                in->sent,
                in->received,
                in->recovered,
                in->repairs,
                in->lock_holder_pid,
                in->orphaned,
                in->claimed,
                in->taken,
                in->oldest_claimed_pid,
                in->oldest_claimed_age_ms,
                in->oldest_taken_pid,
                in->oldest_taken_age_ms,
                in->owner_pid,
                in->flags,
        };

        if (!o)
                return NULL;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                PyObject *x = PyLong_FromUnsignedLongLong(v[i]);

                if (!x) {
                        Py_DECREF(o);
                        return NULL;
                }
                PyStructSequence_SET_ITEM(o, (Py_ssize_t)i, x);
        }
        return o;
}

PyDoc_STRVAR(client_info_doc,
             "info(name) -> Info\n--\n\n"
             "What the daemon knows of the mailbox name: its geometry, mode and owner, messages queued,\n"
             "sent, received and recovered, attachments, and who holds it right now (see Info).\n"
             "Raises FileNotFoundError (NotFound), NotConnected.");

static PyObject *client_info(ClientObject *self, PyObject *name) {
        struct shmbox_info info;
        const char *n;
        Reason why;
        int r;

        if (client_usable(self) < 0 || !(n = name_arg(name)))
                return NULL;
        CLIENT_CALL(self, r, why, shmbox_info(self->client, n, &info));
        if (r < 0)
                return raise_errno_why(r, name, NULL, why.text);
        return info_new(&info);
}

PyDoc_STRVAR(client_list_doc, "list() -> list[Entry]\n--\n\n"
                              "Every mailbox of the daemon, as Entry(name, info) tuples.");

static PyObject *client_list(ClientObject *self, PyObject *unused) {
        struct shmbox_entry *entries = NULL;
        size_t count = 0;
        PyObject *list;
        Reason why;
        int r;

        if (client_usable(self) < 0)
                return NULL;
        CLIENT_CALL(self, r, why, shmbox_list(self->client, &entries, &count));
        if (r < 0)
                return raise_errno_why(r, NULL, NULL, why.text);
        list = PyList_New((Py_ssize_t)count);
        for (size_t i = 0; list && i < count; i++) {
                PyObject *e = PyStructSequence_New(&EntryType), *nm, *info;

                if (!e) {
                        Py_CLEAR(list);
                        break;
                }
                PyList_SET_ITEM(list, (Py_ssize_t)i, e);
                nm = PyUnicode_FromString(entries[i].name);
                info = info_new(&entries[i].info);
                if (!nm || !info) {
                        Py_XDECREF(nm);
                        Py_XDECREF(info);
                        Py_CLEAR(list);
                        break;
                }
                PyStructSequence_SET_ITEM(e, 0, nm);
                PyStructSequence_SET_ITEM(e, 1, info);
        }
        free(entries);
        return list;
}

static int get_data(PyObject *obj, Py_buffer *ret);
static void put_data(Py_buffer *b);

PyDoc_STRVAR(client_reply_doc,
             "reply(info, data)\n--\n\n"
             "Send data (a bytes-like object) as the reply to the request that Mailbox.recv_request()\n"
             "returned with info (a RequestInfo): to its reply mailbox, with its correlation id\n"
             "(shmbox_reply()). Never waits: WouldBlock if the reply mailbox is full. The client keeps\n"
             "the last 8 reply mailboxes it replied to attached.\n"
             "Raises shmbox.Error with EDESTADDRREQ (info has no reply_to: not a request), TypeError\n"
             "(info is not a RequestInfo), InvalidArgument (a reply_to that is no mailbox name),\n"
             "NotFound (the requester is gone), Destroyed, MessageTooLong (longer than the reply\n"
             "mailbox's slots), PermissionDenied, NotConnected.");

static PyObject *client_reply(ClientObject *self, PyObject *const *args, Py_ssize_t nargs) {
        struct shmbox_request_info info = { 0 };
        PyObject *to;
        const char *n;
        Py_ssize_t n_len;
        Py_buffer data;
        int r;

        if (nargs != 2) {
                PyErr_Format(PyExc_TypeError, "reply() takes 2 arguments (%zd given)", nargs);
                return NULL;
        }
        if (!PyObject_TypeCheck(args[0], &RequestInfoType)) {
                PyErr_Format(PyExc_TypeError, "reply() needs the RequestInfo of recv_request(), not %.100s",
                             Py_TYPE(args[0])->tp_name);
                return NULL;
        }
        if (client_usable(self) < 0)
                return NULL;
        info.id = PyLong_AsUnsignedLongLong(PyStructSequence_GET_ITEM(args[0], 0));
        if (info.id == (unsigned long long)-1 && PyErr_Occurred())
                return NULL;
        to = PyStructSequence_GET_ITEM(args[0], 1);
        if (!PyUnicode_Check(to)) {
                PyErr_Format(PyExc_TypeError, "RequestInfo.reply_to must be str, not %.100s", Py_TYPE(to)->tp_name);
                return NULL;
        }
        n = PyUnicode_AsUTF8AndSize(to, &n_len);
        if (!n)
                return NULL;
        if (n_len > SHMBOX_NAME_MAX || strlen(n) != (size_t)n_len)
                return raise_errno(-EINVAL, to);
        memcpy(info.reply_to, n, (size_t)n_len + 1);
        if (get_data(args[1], &data) < 0)
                return NULL;
        if (client_lock(self) < 0) {
                put_data(&data);
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS r = shmbox_reply(self->client, &info, data.buf, (size_t)data.len);
        Py_END_ALLOW_THREADS client_unlock(self);
        put_data(&data);
        if (r == -EDESTADDRREQ)
                return raise_errno_msg(r, NULL, "no reply-to: the message was not a request");
        if (r < 0)
                return raise_errno(r, to);
        Py_RETURN_NONE;
}

static PyObject *client_get_request_discarded(ClientObject *self, void *unused) {
        uint64_t n;

        if (client_usable(self) < 0)
                return NULL;
        if (client_lock(self) < 0)
                return NULL;
        n = shmbox_request_discarded(self->client);
        client_unlock(self);
        return PyLong_FromUnsignedLongLong(n);
}

static PyObject *client_repr(ClientObject *self) {
        return PyUnicode_FromFormat("<%s socket=%R%s>", Py_TYPE(self)->tp_name, self->socket,
                                    self->client ? "" : " closed");
}

static PyObject *client_get_closed(ClientObject *self, void *unused) {
        return PyBool_FromLong(!self->client);
}

static PyMethodDef client_methods[] = {
        { "create", (PyCFunction)(void (*)(void))client_create, METH_VARARGS | METH_KEYWORDS, client_create_doc },
        { "destroy", (PyCFunction)client_destroy, METH_O, client_destroy_doc },
        { "chmod", (PyCFunction)(void (*)(void))client_chmod, METH_VARARGS | METH_KEYWORDS, client_chmod_doc },
        { "reload", (PyCFunction)client_reload, METH_NOARGS, client_reload_doc },
        { "info", (PyCFunction)client_info, METH_O, client_info_doc },
        { "list", (PyCFunction)client_list, METH_NOARGS, client_list_doc },
        { "reply", (PyCFunction)(void (*)(void))client_reply, METH_FASTCALL, client_reply_doc },
        { "close", (PyCFunction)client_close, METH_NOARGS, client_close_doc },
        { "__enter__", (PyCFunction)client_enter, METH_NOARGS, "Return the client itself." },
        { "__exit__", (PyCFunction)client_exit, METH_VARARGS, "close() the client." },
        { NULL, NULL, 0, NULL },
};

static PyMemberDef client_members[] = {
        { "socket", T_OBJECT, offsetof(ClientObject, socket), READONLY,
          "The socket path given to connect(), or None for the default." },
        { NULL, 0, 0, 0, NULL },
};

static PyGetSetDef client_getset[] = {
        { "closed", (getter)client_get_closed, NULL, "True once close() was called.", NULL },
        { "request_discarded", (getter)client_get_request_discarded, NULL,
          "Replies that Mailbox.request() discarded on this client's reply mailbox because their\n"
          "correlation id was not the one awaited (late replies to requests that timed out, or\n"
          "anything a peer wrote there).",
          NULL },
        { NULL, NULL, NULL, NULL, NULL },
};

PyDoc_STRVAR(client_doc, "Client(socket=None)\n--\n\n"
                         "A connection to shmboxd (one session): creates, destroys, lists and attaches mailboxes.\n"
                         "socket: the daemon's socket path; None means $SHMBOX_SOCKET, else /run/shmbox/shmboxd.sock.\n"
                         "Use shmbox.connect(); a context manager that closes the client on exit.\n"
                         "Raises ConnectionRefusedError (ConnectionRefused) when no daemon listens there.");

static PyTypeObject ClientType = {
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmbox._shmbox.Client",
        .tp_basicsize = sizeof(ClientObject),
        .tp_dealloc = (destructor)client_dealloc,
        .tp_repr = (reprfunc)client_repr,
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
        .tp_doc = client_doc,
        .tp_traverse = (traverseproc)client_traverse,
        .tp_weaklistoffset = offsetof(ClientObject, weakreflist),
        .tp_methods = client_methods,
        .tp_members = client_members,
        .tp_getset = client_getset,
        .tp_new = client_new,
};

/* --- Mailbox ------------------------------------------------------------------------------ */

typedef struct SlotObject SlotObject;

struct MailboxObject {
        PyObject_HEAD shmbox *box; /* NULL once detached */
        ClientObject *client;      /* a strong reference: the client outlives its boxes */
        PyObject *name;
        MailboxObject *next, *prev; /* in client->boxes */
        SlotObject *slots;          /* Slots in a block, or whose buffers are still exported */
        size_t slot_size;
        uint32_t nslots;
        unsigned fork_gen;
        char *scratch; /* recv()'s buffer (slot_size bytes), recv_many()'s (64 of them) */
        size_t scratch_size;
        PyObject *weakreflist;
};

struct SlotObject {
        PyObject_HEAD MailboxObject *box; /* a strong reference */
        enum { SLOT_NEW, SLOT_ACTIVE, SLOT_DONE } state;
        bool peek;   /* Peek, else Reservation */
        bool linked; /* in box->slots */
        Wait wait;
        void *data;         /* the slot's payload while ACTIVE */
        size_t len;         /* the view's length */
        size_t commit_len;  /* a reservation's message length at commit */
        Py_ssize_t exports; /* buffers exported and not released */
        PyObject *view;     /* the memoryview handed out by __enter__ */
        SlotObject *next, *prev;
};

static int mailbox_usable(MailboxObject *self) {
        if (!self->box) {
                PyErr_SetString(PyExc_ValueError, "operation on a detached mailbox");
                return -1;
        }
        if (self->fork_gen != fork_generation) {
                raise_forked(self->name);
                return -1;
        }
        return 0;
}

static void slot_unlink(SlotObject *s) {
        MailboxObject *b = s->box;

        if (!s->linked)
                return;
        if (s->prev)
                s->prev->next = s->next;
        else
                b->slots = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->next = s->prev = NULL;
        s->linked = false;
}

static void slot_link(SlotObject *s) {
        MailboxObject *b = s->box;

        s->prev = NULL;
        s->next = b->slots;
        if (b->slots)
                b->slots->prev = s;
        b->slots = s;
        s->linked = true;
}

/* Release the memoryview handed out by @s. Returns true when no buffer of @s is left. */
static bool slot_end_view(SlotObject *s) {
        if (s->view) {
                PyObject *r = PyObject_CallMethod(s->view, "release", NULL);

                if (r)
                        Py_DECREF(r);
                else
                        PyErr_Clear(); /* the memoryview itself is exported: counted below */
                Py_CLEAR(s->view);
        }
        return s->exports == 0;
}

/* Whether the boxes of @c may be detached: no zero-copy buffer of theirs still exported.
 * Views of open blocks are released first. Returns 0, or -1 with BufferError set. */
static int box_detach_check(MailboxObject *b) {
        for (SlotObject *s = b->slots; s; s = s->next)
                if (!slot_end_view(s)) {
                        PyErr_Format(PyExc_BufferError,
                                     "mailbox %R: a zero-copy view (or a slice or buffer taken from one) "
                                     "is still in use: release it before detaching",
                                     b->name);
                        return -1;
                }
        return 0;
}

static int mailbox_detach_check(ClientObject *c) {
        for (MailboxObject *b = c->boxes; b; b = b->next)
                if (box_detach_check(b) < 0)
                        return -1;
        return 0;
}

/* Detach with the client's lock held (or the client going away). Open blocks end without a
 * library call: the daemon drops a reservation and puts a peeked message back on detach. */
static void mailbox_detach_now(MailboxObject *self) {
        if (!self->box)
                return;
        for (SlotObject *s = self->slots, *next; s; s = next) {
                next = s->next;
                slot_end_view(s);
                s->state = SLOT_DONE;
                s->data = NULL;
                if (s->exports == 0)
                        slot_unlink(s);
        }
        shmbox_detach(self->box);
        self->box = NULL;
        PyMem_Free(self->scratch);
        self->scratch = NULL;
        self->scratch_size = 0;
        if (self->prev)
                self->prev->next = self->next;
        else if (self->client->boxes == self)
                self->client->boxes = self->next;
        if (self->next)
                self->next->prev = self->prev;
        self->next = self->prev = NULL;
}

static void mailbox_detach_all(ClientObject *c) {
        while (c->boxes)
                mailbox_detach_now(c->boxes);
}

static PyObject *mailbox_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
        static char *kwlist[] = { "client", "name", NULL };
        ClientObject *client;
        MailboxObject *self;
        PyObject *name;
        const char *n;
        Reason why;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!U:Mailbox", kwlist, &ClientType, &client, &name))
                return NULL;
        if (client_usable(client) < 0 || !(n = name_arg(name)))
                return NULL;
        self = (MailboxObject *)type->tp_alloc(type, 0);
        if (!self)
                return NULL;
        self->client = client;
        Py_INCREF(client);
        self->name = name;
        Py_INCREF(name);
        self->fork_gen = fork_generation;
        if (client_lock(client) < 0) {
                Py_DECREF(self);
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS r = shmbox_attach(client->client, n, &self->box);
        Py_END_ALLOW_THREADS reason_keep(client, r, &why);
        if (r == 0) {
                self->slot_size = shmbox_slot_size(self->box);
                self->nslots = shmbox_slots(self->box);
                self->next = client->boxes;
                if (client->boxes)
                        client->boxes->prev = self;
                client->boxes = self;
        }
        client_unlock(client);
        if (r < 0) {
                Py_DECREF(self);
                return raise_errno_why(r, name, NULL, why.text);
        }
        return (PyObject *)self;
}

static void mailbox_dealloc(MailboxObject *self) {
        PyObject_GC_UnTrack(self);
        if (self->weakreflist)
                PyObject_ClearWeakRefs((PyObject *)self);
        /* no Slot refers to us any more (each holds a reference), so nothing is exported */
        mailbox_detach_now(self);
        Py_CLEAR(self->client);
        Py_CLEAR(self->name);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static int mailbox_traverse(MailboxObject *self, visitproc visit, void *arg) {
        Py_VISIT(self->client);
        return 0;
}

PyDoc_STRVAR(mailbox_detach_doc,
             "detach()\n--\n\n"
             "Detach the mailbox (like close() of a file); detaching twice is allowed. A reserve()\n"
             "block still open is dropped and a peek() block's message goes back to the mailbox.\n"
             "Raises BufferError (and stays attached) while a zero-copy view is still in use.");

static PyObject *mailbox_detach(MailboxObject *self, PyObject *unused) {
        if (!self->box)
                Py_RETURN_NONE;
        if (box_detach_check(self) < 0)
                return NULL;
        if (client_lock(self->client) < 0)
                return NULL;
        mailbox_detach_now(self);
        client_unlock(self->client);
        Py_RETURN_NONE;
}

static PyObject *mailbox_enter(MailboxObject *self, PyObject *unused) {
        if (mailbox_usable(self) < 0)
                return NULL;
        Py_INCREF(self);
        return (PyObject *)self;
}

static PyObject *mailbox_exit(MailboxObject *self, PyObject *args) {
        PyObject *r = mailbox_detach(self, NULL);

        if (!r)
                return NULL;
        Py_DECREF(r);
        Py_RETURN_FALSE;
}

/* One library call of a data-plane operation, with the timeout of a slice. */
typedef struct Call {
        enum { OP_SEND, OP_RECV, OP_SEND_MANY, OP_RECV_MANY, OP_RESERVE, OP_PEEK, OP_RECV_REQUEST } op;
        const void *data;
        size_t len; /* send: length; reserve: length; recv: capacity */
        void *buf;
        const struct iovec *iov;
        size_t n;
        size_t *lens;
        void *slot;                        /* reserve, peek: the slot */
        struct shmbox_request_info *rinfo; /* recv_request: the request's id and reply-to */
        bool hold;                         /* copies at most GIL_HOLD_MAX bytes: the first attempt keeps the GIL */
        /* Called on success with the GIL and the client's lock held, before the lock is let
         * go (another thread may reuse the scratch buffer after that); 0 or -1 (exception). */
        int (*finish)(MailboxObject *self, struct Call *c, ssize_t r);
        PyObject *result;
} Call;

static ssize_t call_once(shmbox *box, Call *c, int timeout_ms) {
        const void *p;
        ssize_t r;

        switch (c->op) {
        case OP_SEND: return shmbox_send(box, c->data, c->len, timeout_ms);
        case OP_RECV: return shmbox_recv(box, c->buf, c->len, timeout_ms);
        case OP_SEND_MANY: return shmbox_send_many(box, c->iov, c->n, timeout_ms);
        case OP_RECV_MANY: return shmbox_recv_many(box, c->iov, c->n, c->lens, timeout_ms);
        case OP_RESERVE: return shmbox_reserve(box, c->len, timeout_ms, &c->slot);
        case OP_RECV_REQUEST: return shmbox_recv_request(box, c->buf, c->len, c->rinfo, timeout_ms);
        case OP_PEEK:
                r = shmbox_peek(box, timeout_ms, &p);
                if (r >= 0)
                        c->slot = (void *)p;
                return r;
        }
        return -EINVAL;
}

/*
 * box_call() - run @c on @self as @w says, in slices (see the essay at the top)
 *
 * Return: the library's non-negative result; a negative errno (-EAGAIN when @w never waits
 *         and it would have to, -ETIMEDOUT when its deadline passed); R_PYERR with an
 *         exception set (a signal handler raised, the box was detached by another thread, or
 *         @c->finish failed).
 */
static ssize_t box_call(MailboxObject *self, Call *c, const Wait *w) {
        bool first = true;
        ssize_t r;

        /* the fast path: one attempt that never waits, the GIL held, the client's lock only if
         * no other thread has it (a detached box has no lock to take: the loop says so) */
        if (c->hold && self->box && pthread_mutex_trylock(&self->client->lock) == 0) {
                /* (self->box cannot change meanwhile: detach needs the GIL and the lock) */
                r = call_once(self->box, c, 0);
                if (r >= 0 && c->finish && c->finish(self, c, r) < 0)
                        r = R_PYERR;
                client_unlock(self->client);
                if (r != -ETIMEDOUT && r != -EAGAIN)
                        return r;
                if (w->mode == WAIT_NEVER)
                        return -EAGAIN;
                if (PyErr_CheckSignals() < 0)
                        return R_PYERR;
                first = false;
        }
        for (;;) {
                /* the first attempt never waits: no clock to read when there is no need */
                int ms = first ? 0 : wait_slice(w);

                if (ms > SLICE_SHARED_MS && atomic_load(&self->client->waiters) > 0)
                        ms = SLICE_SHARED_MS;

                if (ms < 0)
                        return -ETIMEDOUT;
                if (client_lock(self->client) < 0)
                        return R_PYERR;
                if (!self->box) { /* detached by another thread between two slices */
                        client_unlock(self->client);
                        PyErr_SetString(PyExc_ValueError, "operation on a detached mailbox");
                        return R_PYERR;
                }
                Py_BEGIN_ALLOW_THREADS r = call_once(self->box, c, ms);
                Py_END_ALLOW_THREADS if (r >= 0 && c->finish && c->finish(self, c, r) < 0) r = R_PYERR;
                client_unlock(self->client);
                first = false;
                if (r != -ETIMEDOUT && r != -EAGAIN)
                        return r;
                if (w->mode == WAIT_NEVER)
                        return -EAGAIN;
                if (PyErr_CheckSignals() < 0)
                        return R_PYERR;
                client_yield(self->client);
        }
}

/* The exception for a failed box_call() (or none more when R_PYERR). Returns NULL. */
static PyObject *box_error(MailboxObject *self, ssize_t r) {
        if (r == R_PYERR)
                return NULL;
        if (r == -ESTALE && self->fork_gen != fork_generation)
                return raise_forked(self->name);
        return raise_errno((int)r, self->name);
}

static int scratch_reserve(MailboxObject *self, size_t size) {
        char *p;

        if (self->scratch_size >= size)
                return 0;
        p = PyMem_Realloc(self->scratch, size);
        if (!p) {
                PyErr_NoMemory();
                return -1;
        }
        self->scratch = p;
        self->scratch_size = size;
        return 0;
}

/* Get a contiguous buffer of @obj: bytes directly, anything else through the buffer protocol.
 * Fills @ret (release with PyBuffer_Release when ret->obj). Returns 0 or -1. */
static int get_data(PyObject *obj, Py_buffer *ret) {
        if (PyBytes_CheckExact(obj)) {
                ret->obj = NULL;
                ret->buf = PyBytes_AS_STRING(obj);
                ret->len = PyBytes_GET_SIZE(obj);
                return 0;
        }
        return PyObject_GetBuffer(obj, ret, PyBUF_SIMPLE);
}

static void put_data(Py_buffer *b) {
        if (b->obj)
                PyBuffer_Release(b);
}

PyDoc_STRVAR(mailbox_send_doc,
             "send(data, timeout=None)\n--\n\n"
             "Send data (any bytes-like object: bytes, bytearray, memoryview, array, ...) as one message\n"
             "of at most slot_size bytes. If the mailbox is full, wait: timeout None waits as long as it\n"
             "takes, 0 never waits (WouldBlock, a BlockingIOError), a number of seconds waits at most\n"
             "that long (Timeout, a TimeoutError). Once send() returns, the message is committed: it will\n"
             "be delivered even if this process dies right after.\n"
             "Raises MessageTooLong (longer than slot_size), PermissionError (no w), Destroyed.");

static PyObject *mailbox_send(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
        PyObject *a[2];
        Py_buffer data;
        Wait w;
        Call c = { .op = OP_SEND };
        ssize_t r;

        if (parse_args("send", args, nargs, kwnames, 1, 1, a) < 0 || wait_parse(a[1], &w) < 0)
                return NULL;
        if (mailbox_usable(self) < 0 || get_data(a[0], &data) < 0)
                return NULL;
        c.data = data.buf;
        c.len = (size_t)data.len;
        c.hold = c.len <= GIL_HOLD_MAX;
        r = box_call(self, &c, &w);
        put_data(&data);
        if (r < 0)
                return box_error(self, r);
        Py_RETURN_NONE;
}

static int finish_recv_bytes(MailboxObject *self, Call *c, ssize_t r) {
        c->result = PyBytes_FromStringAndSize(NULL, r);
        if (!c->result)
                return -1;
        if (r <= GIL_HOLD_MAX) {
                memcpy(PyBytes_AS_STRING(c->result), c->buf, (size_t)r);
        } else {
                Py_BEGIN_ALLOW_THREADS memcpy(PyBytes_AS_STRING(c->result), c->buf, (size_t)r);
                Py_END_ALLOW_THREADS
        }
        return 0;
}

/* Receive one message as bytes: through the scratch buffer for small slots, else peek, copy
 * (without the GIL) and release: one copy of a large message instead of two. */
static PyObject *box_recv_bytes(MailboxObject *self, const Wait *w) {
        Call c = { .op = OP_RECV, .finish = finish_recv_bytes };
        PyObject *bytes;
        ssize_t r;
        int k;

        if (self->slot_size <= RECV_SCRATCH_MAX) {
                if (scratch_reserve(self, self->slot_size ? self->slot_size : 1) < 0)
                        return NULL;
                c.buf = self->scratch;
                c.len = self->slot_size;
                c.hold = self->slot_size <= GIL_HOLD_MAX;
                r = box_call(self, &c, w);
                if (r < 0)
                        return box_error(self, r);
                return c.result;
        }

        c.op = OP_PEEK;
        c.finish = NULL;
        c.hold = true; /* the peek copies nothing */
        r = box_call(self, &c, w);
        if (r < 0)
                return box_error(self, r);
        bytes = PyBytes_FromStringAndSize(NULL, r);
        if (client_lock(self->client) < 0) {
                /* the message stays taken until detach or exit: the daemon puts it back then */
                Py_XDECREF(bytes);
                return NULL;
        }
        if (!self->box) {
                client_unlock(self->client);
                Py_XDECREF(bytes);
                PyErr_SetString(PyExc_ValueError, "operation on a detached mailbox");
                return NULL;
        }
        if (bytes) {
                Py_BEGIN_ALLOW_THREADS memcpy(PyBytes_AS_STRING(bytes), c.slot, (size_t)r);
                k = shmbox_release(self->box, c.slot);
                Py_END_ALLOW_THREADS
        } else {
                k = shmbox_release(self->box, c.slot); /* MemoryError: we cannot return it */
        }
        client_unlock(self->client);
        if (!bytes)
                return NULL;
        if (k < 0) {
                Py_DECREF(bytes);
                return box_error(self, k);
        }
        return bytes;
}

PyDoc_STRVAR(mailbox_recv_doc,
             "recv(timeout=None) -> bytes\n--\n\n"
             "Receive the oldest message. If the mailbox is empty, wait as timeout says (see send()):\n"
             "WouldBlock or Timeout when none came. Ctrl-C interrupts the wait; a message that was not\n"
             "returned stays in the mailbox.\n"
             "Raises PermissionError (no r), Destroyed.");

static PyObject *mailbox_recv(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
        PyObject *a[1];
        Wait w;

        if (parse_args("recv", args, nargs, kwnames, 0, 0, a) < 0 || wait_parse(a[0], &w) < 0)
                return NULL;
        if (mailbox_usable(self) < 0)
                return NULL;
        return box_recv_bytes(self, &w);
}

PyDoc_STRVAR(mailbox_recv_into_doc,
             "recv_into(buffer, timeout=None) -> int\n--\n\n"
             "Receive the oldest message into buffer (a writable bytes-like object) and return its length.\n"
             "A message longer than the buffer raises MessageTooLong and stays queued; a buffer of\n"
             "slot_size bytes holds any message. Waits as recv() does.");

static PyObject *mailbox_recv_into(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
        PyObject *a[2];
        Py_buffer buf;
        Call c = { .op = OP_RECV };
        Wait w;
        ssize_t r;

        if (parse_args("recv_into", args, nargs, kwnames, 1, 1, a) < 0 || wait_parse(a[1], &w) < 0)
                return NULL;
        if (mailbox_usable(self) < 0)
                return NULL;
        if (PyObject_GetBuffer(a[0], &buf, PyBUF_WRITABLE) < 0) {
                if (PyErr_ExceptionMatches(PyExc_BufferError)) {
                        PyErr_Clear();
                        PyErr_Format(PyExc_TypeError, "recv_into() needs a writable bytes-like object, not %.100s",
                                     Py_TYPE(a[0])->tp_name);
                }
                return NULL;
        }
        c.buf = buf.buf;
        c.len = (size_t)buf.len;
        c.hold = c.len <= GIL_HOLD_MAX || self->slot_size <= GIL_HOLD_MAX;
        r = box_call(self, &c, &w);
        PyBuffer_Release(&buf);
        if (r < 0)
                return box_error(self, r);
        return PyLong_FromSsize_t(r);
}

PyDoc_STRVAR(mailbox_send_many_doc,
             "send_many(messages, timeout=None) -> int\n--\n\n"
             "Send every message of the iterable messages (bytes-like objects), in order, in batches: one\n"
             "lock round and one wake-up per batch. Returns how many were sent: all of them, unless the\n"
             "timeout ran out after some were sent (when none was sent: WouldBlock or Timeout). Messages\n"
             "sent before an error or a Ctrl-C stay sent.");

static PyObject *mailbox_send_many(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
        PyObject *a[2], *seq = NULL, *res = NULL;
        Py_buffer *bufs = NULL;
        struct iovec *iov = NULL;
        Py_ssize_t n = 0, got = 0, done = 0;
        Wait w;
        ssize_t r = 0;

        if (parse_args("send_many", args, nargs, kwnames, 1, 1, a) < 0 || wait_parse(a[1], &w) < 0)
                return NULL;
        if (mailbox_usable(self) < 0)
                return NULL;
        seq = PySequence_Fast(a[0], "send_many() needs an iterable of bytes-like objects");
        if (!seq)
                return NULL;
        n = PySequence_Fast_GET_SIZE(seq);
        if (n == 0) {
                Py_DECREF(seq);
                return PyLong_FromLong(0);
        }
        bufs = PyMem_Calloc((size_t)n, sizeof(*bufs));
        iov = PyMem_Calloc((size_t)n, sizeof(*iov));
        if (!bufs || !iov) {
                PyErr_NoMemory();
                goto out;
        }
        for (; got < n; got++) {
                if (get_data(PySequence_Fast_GET_ITEM(seq, got), &bufs[got]) < 0)
                        goto out;
                iov[got].iov_base = bufs[got].buf;
                iov[got].iov_len = (size_t)bufs[got].len;
        }
        while (done < n) {
                Call c = { .op = OP_SEND_MANY, .iov = iov + done, .n = (size_t)(n - done) };

                r = box_call(self, &c, &w);
                if (r < 0)
                        break;
                done += r;
        }
        if (done < n && (done == 0 || (r != -ETIMEDOUT && r != -EAGAIN))) {
                box_error(self, r);
                goto out;
        }
        res = PyLong_FromSsize_t(done);
out:
        for (Py_ssize_t i = 0; i < got; i++)
                put_data(&bufs[i]);
        PyMem_Free(bufs);
        PyMem_Free(iov);
        Py_DECREF(seq);
        return res;
}

static int finish_recv_many(MailboxObject *self, Call *c, ssize_t r) {
        PyObject *list = c->result;

        for (ssize_t i = 0; i < r; i++) {
                PyObject *b = PyBytes_FromStringAndSize(c->iov[i].iov_base, (Py_ssize_t)c->lens[i]);

                if (!b || PyList_Append(list, b) < 0) {
                        Py_XDECREF(b);
                        return -1;
                }
                Py_DECREF(b);
        }
        return 0;
}

PyDoc_STRVAR(mailbox_recv_many_doc,
             "recv_many(n, timeout=None) -> list[bytes]\n--\n\n"
             "Receive up to n messages: wait for the first as recv() does, then take what is queued, in\n"
             "batches of up to 64 per lock round. Returns a list of 1 to n messages.");

static PyObject *mailbox_recv_many(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
        struct iovec iov[RECV_MANY_MAX];
        size_t lens[RECV_MANY_MAX];
        PyObject *a[2], *list;
        Py_ssize_t n;
        Wait w, nowait = { .mode = WAIT_NEVER };

        if (parse_args("recv_many", args, nargs, kwnames, 1, 1, a) < 0 || wait_parse(a[1], &w) < 0)
                return NULL;
        n = PyLong_AsSsize_t(a[0]);
        if (n == -1 && PyErr_Occurred())
                return NULL;
        if (n < 1) {
                PyErr_SetString(PyExc_ValueError, "recv_many() needs n >= 1");
                return NULL;
        }
        if (mailbox_usable(self) < 0)
                return NULL;
        list = PyList_New(0);
        if (!list)
                return NULL;
        if (self->slot_size > RECV_MANY_SCRATCH_MAX / RECV_MANY_MAX) {
                /* large slots: one at a time, each copied once */
                while (PyList_GET_SIZE(list) < n) {
                        PyObject *b = box_recv_bytes(self, PyList_GET_SIZE(list) ? &nowait : &w);

                        if (!b) {
                                if (PyList_GET_SIZE(list) && PyErr_ExceptionMatches(WouldBlock)) {
                                        PyErr_Clear();
                                        break;
                                }
                                Py_DECREF(list);
                                return NULL;
                        }
                        if (PyList_Append(list, b) < 0) {
                                Py_DECREF(b);
                                Py_DECREF(list);
                                return NULL;
                        }
                        Py_DECREF(b);
                }
                return list;
        }
        if (scratch_reserve(self, self->slot_size * RECV_MANY_MAX) < 0) {
                Py_DECREF(list);
                return NULL;
        }
        for (size_t i = 0; i < RECV_MANY_MAX; i++) {
                iov[i].iov_base = self->scratch + i * self->slot_size;
                iov[i].iov_len = self->slot_size;
        }
        while (PyList_GET_SIZE(list) < n) {
                Py_ssize_t want = n - PyList_GET_SIZE(list);
                Call c = { .op = OP_RECV_MANY, .iov = iov, .lens = lens, .finish = finish_recv_many, .result = list };
                ssize_t r;

                c.n = want < RECV_MANY_MAX ? (size_t)want : RECV_MANY_MAX;
                r = box_call(self, &c, PyList_GET_SIZE(list) ? &nowait : &w);
                if (r == -EAGAIN && PyList_GET_SIZE(list))
                        break;
                if (r < 0) {
                        Py_DECREF(list);
                        return box_error(self, r);
                }
        }
        return list;
}

/* The timeout in ms of one library call that cannot be sliced (request()): -1 forever, 0
 * never; -2 when the deadline passed already. */
static int wait_whole_ms(const Wait *w) {
        double left_ms;

        switch (w->mode) {
        case WAIT_FOREVER: return -1;
        case WAIT_NEVER: return 0;
        default:
                left_ms = ceil((w->deadline - now_s()) * 1000.0);
                if (left_ms <= 0)
                        return -2;
                return left_ms >= (double)INT32_MAX ? INT32_MAX : (int)left_ms;
        }
}

PyDoc_STRVAR(mailbox_request_doc,
             "request(data, timeout=None) -> bytes\n--\n\n"
             "Send data as a request and wait for its reply (shmbox_request()): the message carries a\n"
             "fresh correlation id and the name of this client's reply mailbox, which the client makes on\n"
             "its first request (an ephemeral mailbox \"reply.PID.RANDOM\" of 16 slots of max(4096,\n"
             "slot_size) bytes, mode 0o622, gone when the client closes). A server takes it with\n"
             "recv_request() and answers with Client.reply(); replies with another id (late replies to\n"
             "requests that timed out) are discarded and counted in Client.request_discarded. Returns\n"
             "the reply's body.\n"
             "timeout bounds the whole call, send and wait, as for send(): Timeout when no reply came\n"
             "(a reply arriving later is discarded by the next request); timeout=0 sends and raises\n"
             "WouldBlock unless the reply is there at once, so it is of no use. Unlike send() and recv(),\n"
             "the call is one library call, not slices: a request cannot be taken back once sent, so\n"
             "Ctrl-C (any signal handler) runs only when the call returns, and the client stays busy for\n"
             "the whole wait; give it a timeout, and serve requests from another client than the one\n"
             "that makes them.\n"
             "Raises MessageTooLong (data and the request header above slot_size; or a reply longer than\n"
             "the reply mailbox's slots), PermissionError (no w), Destroyed (this mailbox, or the reply\n"
             "mailbox: made again by the next call), the errors of create() and attach() on the first\n"
             "call, NotConnected.");

static PyObject *mailbox_request(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
        ClientObject *client = self->client;
        PyObject *a[2], *res = NULL;
        Py_buffer data;
        size_t cap;
        ssize_t r;
        Wait w;
        int ms;

        if (parse_args("request", args, nargs, kwnames, 1, 1, a) < 0 || wait_parse(a[1], &w) < 0)
                return NULL;
        if (mailbox_usable(self) < 0 || get_data(a[0], &data) < 0)
                return NULL;
        if (client_lock(client) < 0)
                goto out;
        if (!self->box) { /* detached by another thread meanwhile */
                PyErr_SetString(PyExc_ValueError, "operation on a detached mailbox");
                goto unlock;
        }
        /* the reply mailbox's slots are max(4096, slot_size of the box of the request that made
         * it): every box requested on counts, since that mailbox is made again after -EIDRM */
        cap = self->slot_size > SHMBOX_DEFAULT_SLOT_SIZE ? self->slot_size : SHMBOX_DEFAULT_SLOT_SIZE;
        if (cap > client->reply_cap)
                client->reply_cap = cap;
        cap = client->reply_cap;
        if (client->reply_buf_size < cap) {
                char *p = PyMem_Realloc(client->reply_buf, cap);

                if (!p) {
                        PyErr_NoMemory();
                        goto unlock;
                }
                client->reply_buf = p;
                client->reply_buf_size = cap;
        }
        ms = wait_whole_ms(&w);
        if (ms == -2) {
                r = -ETIMEDOUT;
        } else {
                Py_BEGIN_ALLOW_THREADS r =
                        shmbox_request(self->box, data.buf, (size_t)data.len, client->reply_buf, cap, ms);
                Py_END_ALLOW_THREADS
        }
        if (r < 0) {
                box_error(self, r);
                goto unlock;
        }
        res = PyBytes_FromStringAndSize(NULL, r);
        if (res) {
                if (r <= GIL_HOLD_MAX) {
                        memcpy(PyBytes_AS_STRING(res), client->reply_buf, (size_t)r);
                } else {
                        Py_BEGIN_ALLOW_THREADS memcpy(PyBytes_AS_STRING(res), client->reply_buf, (size_t)r);
                        Py_END_ALLOW_THREADS
                }
        }
unlock:
        client_unlock(client);
out:
        put_data(&data);
        return res;
}

static PyObject *request_info_new(const struct shmbox_request_info *in) {
        PyObject *o = PyStructSequence_New(&RequestInfoType), *id, *to;

        if (!o)
                return NULL;
        id = PyLong_FromUnsignedLongLong(in->id);
        to = PyUnicode_DecodeUTF8(in->reply_to, (Py_ssize_t)strnlen(in->reply_to, sizeof(in->reply_to)), "replace");
        if (!id || !to) {
                Py_XDECREF(id);
                Py_XDECREF(to);
                Py_DECREF(o);
                return NULL;
        }
        PyStructSequence_SET_ITEM(o, 0, id);
        PyStructSequence_SET_ITEM(o, 1, to);
        return o;
}

PyDoc_STRVAR(mailbox_recv_request_doc,
             "recv_request(timeout=None) -> tuple[bytes, RequestInfo]\n--\n\n"
             "Receive the oldest message as recv() does (waiting, in slices, as recv() does) and return\n"
             "its body and a RequestInfo(id, reply_to): the correlation id and the reply mailbox of a\n"
             "request, for Client.reply(); reply_to is \"\" for a message that is no request (a plain\n"
             "message, or a reply). A message whose request header does not validate is consumed and\n"
             "dropped: shmbox.Error with EBADMSG, and the next call goes on with the next message.\n"
             "Raises PermissionError (no r), Destroyed.");

static PyObject *mailbox_recv_request(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
        struct shmbox_request_info info = { 0 };
        Call c = { .op = OP_RECV_REQUEST, .finish = finish_recv_bytes, .rinfo = &info };
        PyObject *a[1], *ri, *res;
        Wait w;
        ssize_t r;

        if (parse_args("recv_request", args, nargs, kwnames, 0, 0, a) < 0 || wait_parse(a[0], &w) < 0)
                return NULL;
        if (mailbox_usable(self) < 0)
                return NULL;
        if (scratch_reserve(self, self->slot_size ? self->slot_size : 1) < 0)
                return NULL;
        c.buf = self->scratch;
        c.len = self->slot_size;
        c.hold = self->slot_size <= GIL_HOLD_MAX;
        r = box_call(self, &c, &w);
        if (r == -EBADMSG)
                return raise_errno_msg(-EBADMSG, self->name,
                                       "a request header that does not validate (the message was dropped), or "
                                       "corrupt mailbox memory");
        if (r < 0)
                return box_error(self, r);
        ri = request_info_new(&info);
        if (!ri) {
                Py_DECREF(c.result);
                return NULL;
        }
        res = PyTuple_Pack(2, c.result, ri);
        Py_DECREF(c.result);
        Py_DECREF(ri);
        return res;
}

PyDoc_STRVAR(mailbox_subscribe_doc,
             "subscribe(on=True)\n--\n\n"
             "Broadcast mailboxes: stop (False) or start again (True) receiving; a box that subscribes\n"
             "again starts at the next message. A box that only sends should unsubscribe, or senders\n"
             "wait for it. A receive on a box that does not subscribe raises PermissionDenied (EPERM).\n"
             "Raises shmbox.Error with EOPNOTSUPP (not a broadcast mailbox), PermissionDenied (no r).");

static PyObject *mailbox_subscribe(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs) {
        int on = 1, r;

        if (nargs > 1) {
                PyErr_SetString(PyExc_TypeError, "subscribe() takes at most 1 argument");
                return NULL;
        }
        if (nargs == 1 && (on = PyObject_IsTrue(args[0])) < 0)
                return NULL;
        if (mailbox_usable(self) < 0)
                return NULL;
        if (client_lock(self->client) < 0)
                return NULL;
        r = self->box ? shmbox_subscribe(self->box, on) : -ENOTCONN;
        client_unlock(self->client);
        if (r < 0)
                return box_error(self, r);
        Py_RETURN_NONE;
}

static PyObject *mailbox_get_missed(MailboxObject *self, void *unused) {
        uint64_t n;

        if (mailbox_usable(self) < 0)
                return NULL;
        if (client_lock(self->client) < 0)
                return NULL;
        n = self->box ? shmbox_missed(self->box) : 0;
        client_unlock(self->client);
        return PyLong_FromUnsignedLongLong(n);
}

PyDoc_STRVAR(mailbox_fileno_doc,
             "fileno() -> int\n--\n\n"
             "A file descriptor that polls readable while messages are queued, for select, selectors and\n"
             "asyncio's add_reader(). Owned by the mailbox: do not close or read it. Then receive with\n"
             "timeout=0 until WouldBlock. Needs r (PermissionError).");

static PyObject *mailbox_fileno(MailboxObject *self, PyObject *unused) {
        int r;

        if (mailbox_usable(self) < 0)
                return NULL;
        if (client_lock(self->client) < 0)
                return NULL;
        r = self->box ? shmbox_fd(self->box) : -ENOTCONN;
        client_unlock(self->client);
        if (r < 0)
                return box_error(self, r);
        return PyLong_FromLong(r);
}

PyDoc_STRVAR(mailbox_set_spin_doc,
             "set_spin(microseconds)\n--\n\n"
             "How long a send or receive that must wait polls the mailbox before it sleeps (default 10;\n"
             "0 sleeps at once and spends no CPU waiting; at most 1000000).");

static PyObject *mailbox_set_spin(MailboxObject *self, PyObject *arg) {
        unsigned long us = PyLong_AsUnsignedLong(arg);
        int r;

        if (us == (unsigned long)-1 && PyErr_Occurred())
                return NULL;
        if (mailbox_usable(self) < 0)
                return NULL;
        r = shmbox_set_spin(self->box, us > 1000001 ? 1000001 : (unsigned)us);
        if (r < 0)
                return box_error(self, r);
        Py_RETURN_NONE;
}

static PyObject *slot_create(MailboxObject *self, bool peek, size_t len, const Wait *w);

PyDoc_STRVAR(mailbox_reserve_doc,
             "reserve(n, timeout=None) -> Reservation\n--\n\n"
             "Zero-copy send: `with box.reserve(n) as buf:` claims a slot (waiting as send() does) and\n"
             "gives a writable memoryview of n bytes in the slot itself; fill it. The message (n bytes,\n"
             "or what Reservation.commit(length) says) is committed when the block ends, and aborted\n"
             "(never delivered) when it ends with an exception. buf raises ValueError once the block\n"
             "ended; a slice of it still alive at the end aborts the message and raises BufferError.");

static PyObject *mailbox_reserve(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
        PyObject *a[2];
        Py_ssize_t n;
        Wait w;

        if (parse_args("reserve", args, nargs, kwnames, 1, 1, a) < 0 || wait_parse(a[1], &w) < 0)
                return NULL;
        n = PyLong_AsSsize_t(a[0]);
        if (n == -1 && PyErr_Occurred())
                return NULL;
        if (n < 0) {
                PyErr_SetString(PyExc_ValueError, "reserve() needs n >= 0");
                return NULL;
        }
        if (mailbox_usable(self) < 0)
                return NULL;
        if ((size_t)n > self->slot_size)
                return raise_errno(-EMSGSIZE, self->name);
        return slot_create(self, false, (size_t)n, &w);
}

PyDoc_STRVAR(mailbox_peek_doc,
             "peek(timeout=None) -> Peek\n--\n\n"
             "Zero-copy receive: `with box.peek() as view:` takes the oldest message (waiting as recv()\n"
             "does) and gives a read-only memoryview of it in the slot itself. The message is consumed\n"
             "when the block ends, also when it ends with an exception; copy what you keep\n"
             "(bytes(view[a:b])) inside the block. If this process dies inside the block, the message is\n"
             "delivered again to another receiver. view raises ValueError once the block ended.");

static PyObject *mailbox_peek(MailboxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
        PyObject *a[1];
        Wait w;

        if (parse_args("peek", args, nargs, kwnames, 0, 0, a) < 0 || wait_parse(a[0], &w) < 0)
                return NULL;
        if (mailbox_usable(self) < 0)
                return NULL;
        return slot_create(self, true, 0, &w);
}

static PyObject *mailbox_repr(MailboxObject *self) {
        if (!self->box)
                return PyUnicode_FromFormat("<%s %R detached>", Py_TYPE(self)->tp_name, self->name);
        return PyUnicode_FromFormat("<%s %R slots=%u slot_size=%zu>", Py_TYPE(self)->tp_name, self->name, self->nslots,
                                    self->slot_size);
}

static PyObject *mailbox_get_closed(MailboxObject *self, void *unused) {
        return PyBool_FromLong(!self->box);
}

static PyObject *mailbox_get_slot_size(MailboxObject *self, void *unused) {
        return PyLong_FromSize_t(self->slot_size);
}

static PyObject *mailbox_get_slots(MailboxObject *self, void *unused) {
        return PyLong_FromUnsignedLong(self->nslots);
}

#define FASTCALL_KW(f) (PyCFunction)(void (*)(void))(f), METH_FASTCALL | METH_KEYWORDS

static PyMethodDef mailbox_methods[] = {
        { "send", FASTCALL_KW(mailbox_send), mailbox_send_doc },
        { "recv", FASTCALL_KW(mailbox_recv), mailbox_recv_doc },
        { "recv_into", FASTCALL_KW(mailbox_recv_into), mailbox_recv_into_doc },
        { "send_many", FASTCALL_KW(mailbox_send_many), mailbox_send_many_doc },
        { "recv_many", FASTCALL_KW(mailbox_recv_many), mailbox_recv_many_doc },
        { "reserve", FASTCALL_KW(mailbox_reserve), mailbox_reserve_doc },
        { "peek", FASTCALL_KW(mailbox_peek), mailbox_peek_doc },
        { "request", FASTCALL_KW(mailbox_request), mailbox_request_doc },
        { "recv_request", FASTCALL_KW(mailbox_recv_request), mailbox_recv_request_doc },
        { "fileno", (PyCFunction)mailbox_fileno, METH_NOARGS, mailbox_fileno_doc },
        { "subscribe", (PyCFunction)(void (*)(void))mailbox_subscribe, METH_FASTCALL, mailbox_subscribe_doc },
        { "set_spin", (PyCFunction)mailbox_set_spin, METH_O, mailbox_set_spin_doc },
        { "detach", (PyCFunction)mailbox_detach, METH_NOARGS, mailbox_detach_doc },
        { "close", (PyCFunction)mailbox_detach, METH_NOARGS, "close()\n--\n\nThe same as detach()." },
        { "__enter__", (PyCFunction)mailbox_enter, METH_NOARGS, "Return the mailbox itself." },
        { "__exit__", (PyCFunction)mailbox_exit, METH_VARARGS, "detach() the mailbox." },
        { NULL, NULL, 0, NULL },
};

static PyMemberDef mailbox_members[] = {
        { "name", T_OBJECT, offsetof(MailboxObject, name), READONLY, "The mailbox's name." },
        { "client", T_OBJECT, offsetof(MailboxObject, client), READONLY, "The Client it was attached through." },
        { NULL, 0, 0, 0, NULL },
};

static PyGetSetDef mailbox_getset[] = {
        { "closed", (getter)mailbox_get_closed, NULL, "True once detached.", NULL },
        { "slot_size", (getter)mailbox_get_slot_size, NULL, "The largest message, in bytes.", NULL },
        { "slots", (getter)mailbox_get_slots, NULL, "How many messages the mailbox holds.", NULL },
        { "missed", (getter)mailbox_get_missed, NULL,
          "Broadcast mailboxes: the messages this subscriber lost at its last Overrun (0 if none).", NULL },
        { NULL, NULL, NULL, NULL, NULL },
};

PyDoc_STRVAR(mailbox_doc,
             "Mailbox(client, name)\n--\n\n"
             "An attached mailbox, mapped into this process: send() and recv() go straight through shared\n"
             "memory. Use client.attach(name); a context manager that detaches on exit.\n"
             "Raises FileNotFoundError (NotFound), PermissionError (neither r nor w), shmbox.Error with\n"
             "EMFILE (too many attachments).");

static PyTypeObject MailboxType = {
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmbox._shmbox.Mailbox",
        .tp_basicsize = sizeof(MailboxObject),
        .tp_dealloc = (destructor)mailbox_dealloc,
        .tp_repr = (reprfunc)mailbox_repr,
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
        .tp_doc = mailbox_doc,
        .tp_traverse = (traverseproc)mailbox_traverse,
        .tp_weaklistoffset = offsetof(MailboxObject, weakreflist),
        .tp_methods = mailbox_methods,
        .tp_members = mailbox_members,
        .tp_getset = mailbox_getset,
        .tp_new = mailbox_new,
};

/* --- Reservation and Peek ----------------------------------------------------------------- */

static PyObject *slot_create(MailboxObject *box, bool peek, size_t len, const Wait *w) {
        SlotObject *s = PyObject_GC_New(SlotObject, peek ? &PeekType : &ReservationType);

        if (!s)
                return NULL;
        s->box = box;
        Py_INCREF(box);
        s->state = SLOT_NEW;
        s->peek = peek;
        s->linked = false;
        s->wait = *w;
        s->data = NULL;
        s->len = len;
        s->commit_len = len;
        s->exports = 0;
        s->view = NULL;
        s->next = s->prev = NULL;
        PyObject_GC_Track(s);
        return (PyObject *)s;
}

/* End an ACTIVE slot: commit (@commit), abort, or release a peek. With the client's lock. */
static int slot_finish(SlotObject *s, bool commit) {
        MailboxObject *b = s->box;
        int r;

        if (client_lock(b->client) < 0)
                return R_PYERR;
        if (!b->box || s->state != SLOT_ACTIVE) {
                client_unlock(b->client);
                return 0; /* detached meanwhile: the daemon dropped it or put it back */
        }
        if (s->peek)
                r = shmbox_release(b->box, s->data);
        else if (commit)
                r = shmbox_commit(b->box, s->data, s->commit_len);
        else
                r = shmbox_abort(b->box, s->data);
        s->state = SLOT_DONE;
        s->data = NULL;
        client_unlock(b->client);
        return r;
}

static int slot_clear(SlotObject *s) {
        Py_CLEAR(s->view);
        return 0;
}

static void slot_dealloc(SlotObject *s) {
        ClientObject *c = s->box->client;

        PyObject_GC_UnTrack(s);
        Py_CLEAR(s->view);
        if (s->state == SLOT_ACTIVE && s->box->box && s->box->fork_gen == fork_generation) {
                /* a block never ended (__exit__ not called): abort, or consume the peek; no
                 * exception can be raised from here, so the lock is waited for plainly */
                Py_BEGIN_ALLOW_THREADS pthread_mutex_lock(&c->lock);
                Py_END_ALLOW_THREADS if (s->box->box) {
                        if (s->peek)
                                shmbox_release(s->box->box, s->data);
                        else
                                shmbox_abort(s->box->box, s->data);
                }
                pthread_mutex_unlock(&c->lock);
        }
        slot_unlink(s);
        Py_CLEAR(s->box);
        PyObject_GC_Del(s);
}

static int slot_traverse(SlotObject *s, visitproc visit, void *arg) {
        Py_VISIT(s->box);
        Py_VISIT(s->view);
        return 0;
}

static int slot_getbuffer(SlotObject *s, Py_buffer *view, int flags) {
        if (s->box->fork_gen != fork_generation) {
                PyErr_SetString(PyExc_BufferError, "a zero-copy view inherited through fork(): "
                                                   "the child has no such memory; attach again in the child");
                return -1;
        }
        if (s->state != SLOT_ACTIVE) {
                PyErr_SetString(PyExc_BufferError,
                                s->state == SLOT_NEW ? "the slot is not claimed yet: use it in a with block"
                                                     : "the zero-copy block has ended: its memory is no longer yours");
                return -1;
        }
        if (PyBuffer_FillInfo(view, (PyObject *)s, s->data, (Py_ssize_t)s->len, s->peek, flags) < 0)
                return -1;
        s->exports++;
        return 0;
}

static void slot_releasebuffer(SlotObject *s, Py_buffer *view) {
        s->exports--;
        if (s->exports == 0 && s->state == SLOT_DONE)
                slot_unlink(s);
}

static PyBufferProcs slot_as_buffer = {
        .bf_getbuffer = (getbufferproc)slot_getbuffer,
        .bf_releasebuffer = (releasebufferproc)slot_releasebuffer,
};

static PyObject *slot_enter(SlotObject *s, PyObject *unused) {
        MailboxObject *b = s->box;
        Call c = { .op = s->peek ? OP_PEEK : OP_RESERVE, .len = s->len, .hold = true }; /* no copy */
        ssize_t r;

        if (s->state != SLOT_NEW) {
                PyErr_SetString(PyExc_RuntimeError, "a Reservation or Peek is used in one with block only");
                return NULL;
        }
        if (mailbox_usable(b) < 0)
                return NULL;
        r = box_call(b, &c, &s->wait);
        if (r < 0)
                return box_error(b, r);
        s->data = c.slot;
        if (s->peek)
                s->len = (size_t)r;
        s->state = SLOT_ACTIVE;
        slot_link(s);
        s->view = PyMemoryView_FromObject((PyObject *)s);
        if (!s->view) {
                slot_finish(s, false);
                return NULL;
        }
        Py_INCREF(s->view);
        return s->view;
}

static PyObject *slot_exit(SlotObject *s, PyObject *args) {
        PyObject *type = Py_None;
        bool clean, failed;
        int r;

        if (PyTuple_GET_SIZE(args) > 0)
                type = PyTuple_GET_ITEM(args, 0);
        if (s->state != SLOT_ACTIVE)
                Py_RETURN_FALSE; /* commit()/abort() ended it already, or detach did */
        if (s->box->fork_gen != fork_generation) {
                slot_end_view(s);
                s->state = SLOT_DONE;
                if (type != Py_None)
                        Py_RETURN_FALSE;
                return raise_forked(s->box->name);
        }
        clean = slot_end_view(s);
        r = slot_finish(s, clean && type == Py_None);
        if (s->exports == 0)
                slot_unlink(s);
        if (r == R_PYERR)
                return NULL;
        if (type != Py_None)
                Py_RETURN_FALSE; /* the block's own exception goes on */
        failed = r < 0;
        if (!clean) {
                PyErr_Format(PyExc_BufferError,
                             "mailbox %R: a slice or buffer of the zero-copy view outlived its with "
                             "block; %s",
                             s->box->name,
                             s->peek ? "the message was consumed (copy with bytes() inside the block)"
                                     : "the message was aborted, not sent");
                return NULL;
        }
        if (failed)
                return box_error(s->box, r);
        Py_RETURN_FALSE;
}

PyDoc_STRVAR(reservation_commit_doc,
             "commit(length=None)\n--\n\n"
             "Commit the message now, with its first length bytes (default: all n), and end the view.");

static PyObject *reservation_commit(SlotObject *s, PyObject *const *args, Py_ssize_t nargs) {
        Py_ssize_t len = (Py_ssize_t)s->len;
        int r;

        if (nargs > 1) {
                PyErr_SetString(PyExc_TypeError, "commit() takes at most 1 argument");
                return NULL;
        }
        if (nargs == 1 && args[0] != Py_None) {
                len = PyLong_AsSsize_t(args[0]);
                if (len == -1 && PyErr_Occurred())
                        return NULL;
                if (len < 0 || (size_t)len > s->len) {
                        PyErr_Format(PyExc_ValueError, "commit(): length must be between 0 and %zu", s->len);
                        return NULL;
                }
        }
        if (s->state != SLOT_ACTIVE) {
                PyErr_SetString(PyExc_ValueError, "commit(): the reservation is not active");
                return NULL;
        }
        if (s->box->fork_gen != fork_generation)
                return raise_forked(s->box->name);
        if (!slot_end_view(s)) {
                PyErr_SetString(PyExc_BufferError,
                                "commit(): a slice or buffer of the view is still in use: release it first");
                return NULL;
        }
        s->commit_len = (size_t)len;
        r = slot_finish(s, true);
        slot_unlink(s);
        if (r < 0)
                return box_error(s->box, r);
        Py_RETURN_NONE;
}

PyDoc_STRVAR(slot_abort_doc, "abort()\n--\n\n"
                             "Reservation: drop the message (never delivered) and end the view.");

static PyObject *reservation_abort(SlotObject *s, PyObject *unused) {
        int r;

        if (s->state != SLOT_ACTIVE) {
                PyErr_SetString(PyExc_ValueError, "abort(): the reservation is not active");
                return NULL;
        }
        if (s->box->fork_gen != fork_generation)
                return raise_forked(s->box->name);
        if (!slot_end_view(s)) {
                PyErr_SetString(PyExc_BufferError,
                                "abort(): a slice or buffer of the view is still in use: release it first");
                return NULL;
        }
        r = slot_finish(s, false);
        slot_unlink(s);
        if (r < 0)
                return box_error(s->box, r);
        Py_RETURN_NONE;
}

static PyObject *slot_get_active(SlotObject *s, void *unused) {
        return PyBool_FromLong(s->state == SLOT_ACTIVE);
}

static PyObject *slot_get_len(SlotObject *s, void *unused) {
        return PyLong_FromSize_t(s->len);
}

static PyObject *slot_repr(SlotObject *s) {
        static const char *const states[] = { "new", "active", "done" };

        return PyUnicode_FromFormat("<%s of %R, %zu bytes, %s>", Py_TYPE(s)->tp_name, s->box->name, s->len,
                                    states[s->state]);
}

static PyGetSetDef slot_getset[] = {
        { "active", (getter)slot_get_active, NULL, "True inside the with block.", NULL },
        { "length", (getter)slot_get_len, NULL, "The view's length in bytes.", NULL },
        { NULL, NULL, NULL, NULL, NULL },
};

static PyMethodDef reservation_methods[] = {
        { "__enter__", (PyCFunction)slot_enter, METH_NOARGS, "Claim the slot; return its writable memoryview." },
        { "__exit__", (PyCFunction)slot_exit, METH_VARARGS, "Commit, or abort on an exception." },
        { "commit", (PyCFunction)(void (*)(void))reservation_commit, METH_FASTCALL, reservation_commit_doc },
        { "abort", (PyCFunction)reservation_abort, METH_NOARGS, slot_abort_doc },
        { NULL, NULL, 0, NULL },
};

static PyMethodDef peek_methods[] = {
        { "__enter__", (PyCFunction)slot_enter, METH_NOARGS,
          "Take the oldest message; return a read-only memoryview." },
        { "__exit__", (PyCFunction)slot_exit, METH_VARARGS, "Consume the message and end the view." },
        { NULL, NULL, 0, NULL },
};

static PyTypeObject ReservationType = {
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmbox._shmbox.Reservation",
        .tp_basicsize = sizeof(SlotObject),
        .tp_dealloc = (destructor)slot_dealloc,
        .tp_repr = (reprfunc)slot_repr,
        .tp_as_buffer = &slot_as_buffer,
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
        .tp_doc = "A slot claimed for a zero-copy send: see Mailbox.reserve().",
        .tp_traverse = (traverseproc)slot_traverse,
        .tp_clear = (inquiry)slot_clear,
        .tp_methods = reservation_methods,
        .tp_getset = slot_getset,
};

static PyTypeObject PeekType = {
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmbox._shmbox.Peek",
        .tp_basicsize = sizeof(SlotObject),
        .tp_dealloc = (destructor)slot_dealloc,
        .tp_repr = (reprfunc)slot_repr,
        .tp_as_buffer = &slot_as_buffer,
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
        .tp_doc = "A message taken for a zero-copy receive: see Mailbox.peek().",
        .tp_traverse = (traverseproc)slot_traverse,
        .tp_clear = (inquiry)slot_clear,
        .tp_methods = peek_methods,
        .tp_getset = slot_getset,
};

/* --- Info and Entry ----------------------------------------------------------------------- */

static PyStructSequence_Field info_fields[] = {
        { "slots", "how many messages it holds" },
        { "slot_size", "the largest message, in bytes" },
        { "mode", "rw bits: r may receive, w may send" },
        { "queued", "committed messages not yet taken" },
        { "attached", "attachments over all sessions" },
        { "uid", "owner" },
        { "gid", "group" },
        { "sent", "messages committed since it was created" },
        { "received", "messages taken by receivers" },
        { "recovered", "messages put back after their receiver died, delivered again" },
        { "repairs", "repairs made after dead processes" },
        { "lock_holder_pid", "the process holding the mailbox lock (0: free or unknown)" },
        { "orphaned", "attachments of processes without a connection" },
        { "claimed", "slots being written right now" },
        { "taken", "messages being read right now" },
        { "oldest_claimed_pid", "the process holding the oldest claimed slot" },
        { "oldest_claimed_age_ms", "for how long it has held it" },
        { "oldest_taken_pid", "the process holding the oldest message being read" },
        { "oldest_taken_age_ms", "for how long it has held it" },
        { "owner_pid", "of an ephemeral mailbox: the process that created it (0: another pid namespace)" },
        { "flags", "INFO_EPHEMERAL, INFO_BROADCAST, INFO_OVERWRITE" },
        { NULL, NULL },
};

static PyStructSequence_Desc info_desc = {
        "shmbox.Info",
        "What the daemon knows of a mailbox (Client.info()).",
        info_fields,
        21,
};

static PyStructSequence_Field entry_fields[] = {
        { "name", "the mailbox's name" },
        { "info", "its Info" },
        { NULL, NULL },
};

static PyStructSequence_Desc entry_desc = {
        "shmbox.Entry",
        "One mailbox of Client.list(): (name, info).",
        entry_fields,
        2,
};

static PyStructSequence_Field request_info_fields[] = {
        { "id", "the request's correlation id" },
        { "reply_to", "the mailbox its reply goes to; \"\" for a message that is no request" },
        { NULL, NULL },
};

static PyStructSequence_Desc request_info_desc = {
        "shmbox.RequestInfo",
        "Where the reply to a request goes (Mailbox.recv_request(), for Client.reply()): (id, reply_to).",
        request_info_fields,
        2,
};

/* --- the module --------------------------------------------------------------------------- */

PyDoc_STRVAR(after_fork_doc, "_after_fork()\n--\n\n"
                             "Called in a child after fork() (os.register_at_fork): end the memoryviews of zero-copy\n"
                             "blocks that the parent had open, whose memory the child does not have.");

/* Every Slot is reachable from its box, every box from its client, every client from
 * all_clients. The slots stay ACTIVE: their __exit__ raises Stale, and no library call is made
 * for them in the child. */
static PyObject *module_after_fork(PyObject *mod, PyObject *unused) {
        for (ClientObject *c = all_clients; c; c = c->next)
                for (MailboxObject *b = c->boxes; b; b = b->next)
                        for (SlotObject *s = b->slots; s; s = s->next)
                                slot_end_view(s);
        Py_RETURN_NONE;
}

static PyObject *module_library_version(PyObject *mod, PyObject *unused) {
        return PyUnicode_FromString(shmbox_version());
}

static PyObject *module_strerror(PyObject *mod, PyObject *arg) {
        long err = PyLong_AsLong(arg);

        if (err == -1 && PyErr_Occurred())
                return NULL;
        return PyUnicode_FromString(shmbox_strerror(err > 0 ? -(int)err : (int)err));
}

static PyMethodDef module_methods[] = {
        { "_after_fork", module_after_fork, METH_NOARGS, after_fork_doc },
        { "library_version", module_library_version, METH_NOARGS,
          "library_version()\n--\n\nThe version of the libshmbox this module runs with." },
        { "strerror", module_strerror, METH_O,
          "strerror(errno)\n--\n\nThe library's message for an errno value (positive or negative)." },
        { NULL, NULL, 0, NULL },
};

static struct PyModuleDef module_def = {
        PyModuleDef_HEAD_INIT,
        .m_name = "shmbox._shmbox",
        .m_doc = "The C half of the shmbox package; import shmbox instead.",
        .m_size = -1,
        .m_methods = module_methods,
};

/* Create an exception class @name (the module's) with @bases, add it to @mod. */
static PyObject *add_exception(PyObject *mod, const char *name, const char *doc, PyObject *base1, PyObject *base2) {
        char qual[64];
        PyObject *bases, *exc;

        snprintf(qual, sizeof(qual), "shmbox.%s", name);
        bases = base2 ? PyTuple_Pack(2, base1, base2) : PyTuple_Pack(1, base1);
        if (!bases)
                return NULL;
        exc = PyErr_NewExceptionWithDoc(qual, doc, bases, NULL);
        Py_DECREF(bases);
        if (!exc)
                return NULL;
        Py_INCREF(exc);
        if (PyModule_AddObject(mod, name, exc) < 0) {
                Py_DECREF(exc);
                Py_DECREF(exc);
                return NULL;
        }
        return exc; /* the module's reference and ours, kept for the process's life */
}

PyMODINIT_FUNC PyInit__shmbox(void);

PyMODINIT_FUNC PyInit__shmbox(void) {
        static bool atfork_done;
        PyObject *mod;

        if (PyType_Ready(&ClientType) < 0 || PyType_Ready(&MailboxType) < 0 || PyType_Ready(&ReservationType) < 0 ||
            PyType_Ready(&PeekType) < 0)
                return NULL;
        if (!InfoType.tp_name && PyStructSequence_InitType2(&InfoType, &info_desc) < 0)
                return NULL;
        if (!EntryType.tp_name && PyStructSequence_InitType2(&EntryType, &entry_desc) < 0)
                return NULL;
        if (!RequestInfoType.tp_name && PyStructSequence_InitType2(&RequestInfoType, &request_info_desc) < 0)
                return NULL;
        if (!atfork_done) {
                if (pthread_atfork(NULL, NULL, atfork_child) != 0)
                        return PyErr_NoMemory();
                atfork_done = true;
        }
        mod = PyModule_Create(&module_def);
        if (!mod)
                return NULL;

#define EXC(var, name, doc, b1, b2)                                                                                    \
        do {                                                                                                           \
                var = add_exception(mod, name, doc, b1, b2);                                                           \
                if (!var)                                                                                              \
                        goto fail;                                                                                     \
        } while (0)
        EXC(Error, "Error",
            "An error of libshmbox: an OSError with errno and the library's message (strerror),\n"
            "and the mailbox's name (filename) when there is one. reason: the daemon's words when it\n"
            "refused a control call (shmbox_last_error(); strerror carries them too), else \"\".",
            PyExc_OSError, NULL);
        EXC(InvalidArgument, "InvalidArgument", "EINVAL: an invalid name, geometry or mode; also a ValueError.", Error,
            PyExc_ValueError);
        EXC(Timeout, "Timeout", "ETIMEDOUT: the timeout ran out; also a TimeoutError.", Error, PyExc_TimeoutError);
        EXC(WouldBlock, "WouldBlock", "EAGAIN: timeout=0 and the call would have to wait; also a BlockingIOError.",
            Error, PyExc_BlockingIOError);
        EXC(PermissionDenied, "PermissionDenied",
            "EACCES or EPERM: no r or w on the mailbox, not its owner; also a PermissionError.", Error,
            PyExc_PermissionError);
        EXC(NotFound, "NotFound", "ENOENT: no such mailbox; also a FileNotFoundError.", Error, PyExc_FileNotFoundError);
        EXC(Exists, "Exists", "EEXIST: the mailbox exists already; also a FileExistsError.", Error,
            PyExc_FileExistsError);
        EXC(ConnectionRefused, "ConnectionRefused",
            "ECONNREFUSED: no daemon on the socket; also a ConnectionRefusedError.", Error,
            PyExc_ConnectionRefusedError);
        EXC(NotConnected, "NotConnected",
            "ENOTCONN: the daemon went away (attached mailboxes keep working); also a ConnectionError.", Error,
            PyExc_ConnectionError);
        EXC(Destroyed, "Destroyed", "EIDRM: the mailbox was destroyed; detach it.", Error, NULL);
        EXC(Stale, "Stale",
            "ESTALE: a handle inherited through fork() (connect and attach again in the child), or an\n"
            "attachment the daemon repaired after taking this process for dead (attach afresh).",
            Error, NULL);
        EXC(MessageTooLong, "MessageTooLong",
            "EMSGSIZE: a message longer than slot_size, or a receive buffer shorter than the\n"
            "message (which stays queued).",
            Error, NULL);
        EXC(Overrun, "Overrun",
            "EOVERFLOW: a subscriber of a broadcast mailbox with overwrite fell a ring behind and lost\n"
            "messages (Mailbox.missed says how many); the next receive goes on from the oldest one left.",
            Error, NULL);
#undef EXC

        Py_INCREF(&ClientType);
        Py_INCREF(&MailboxType);
        Py_INCREF(&ReservationType);
        Py_INCREF(&PeekType);
        Py_INCREF(&InfoType);
        Py_INCREF(&EntryType);
        Py_INCREF(&RequestInfoType);
        if (PyModule_AddObject(mod, "Client", (PyObject *)&ClientType) < 0 ||
            PyModule_AddObject(mod, "Mailbox", (PyObject *)&MailboxType) < 0 ||
            PyModule_AddObject(mod, "Reservation", (PyObject *)&ReservationType) < 0 ||
            PyModule_AddObject(mod, "Peek", (PyObject *)&PeekType) < 0 ||
            PyModule_AddObject(mod, "Info", (PyObject *)&InfoType) < 0 ||
            PyModule_AddObject(mod, "Entry", (PyObject *)&EntryType) < 0 ||
            PyModule_AddObject(mod, "RequestInfo", (PyObject *)&RequestInfoType) < 0)
                goto fail;
        if (PyModule_AddStringConstant(mod, "__version__", SHMBOX_PY_VERSION) < 0 ||
            PyModule_AddStringConstant(mod, "DEFAULT_SOCKET", SHMBOX_DEFAULT_SOCKET) < 0 ||
            PyModule_AddIntConstant(mod, "NAME_MAX", SHMBOX_NAME_MAX) < 0 ||
            PyModule_AddIntConstant(mod, "DEFAULT_SLOTS", SHMBOX_DEFAULT_SLOTS) < 0 ||
            PyModule_AddIntConstant(mod, "DEFAULT_SLOT_SIZE", SHMBOX_DEFAULT_SLOT_SIZE) < 0 ||
            PyModule_AddIntConstant(mod, "DEFAULT_MODE", SHMBOX_DEFAULT_MODE) < 0 ||
            PyModule_AddIntConstant(mod, "SLOTS_MAX", SHMBOX_SLOTS_MAX) < 0 ||
            PyModule_AddIntConstant(mod, "SLOT_SIZE_MAX", SHMBOX_SLOT_SIZE_MAX) < 0 ||
            PyModule_AddIntConstant(mod, "INFO_EPHEMERAL", SHMBOX_INFO_EPHEMERAL) < 0 ||
            PyModule_AddIntConstant(mod, "INFO_BROADCAST", SHMBOX_INFO_BROADCAST) < 0 ||
            PyModule_AddIntConstant(mod, "INFO_OVERWRITE", SHMBOX_INFO_OVERWRITE) < 0)
                goto fail;
        return mod;
fail:
        Py_DECREF(mod);
        return NULL;
}
