/* SPDX-License-Identifier: MIT */
/* probes.h — USDT probes (provider "shmbox") for bpftrace, perf and SystemTap: SHMBOX_PROBEn(name, args).
 *
 * With <sys/sdt.h> (Debian: systemtap-sdt-dev; configure defines HAVE_SDT) each probe is one
 * NOP instruction and a note in .note.stapsdt naming it and where its arguments live; nothing
 * is computed for it, no semaphore is tested, until a tracer attaches and the kernel turns the
 * NOP into a breakpoint. Without the header the macros expand to nothing (the arguments are
 * named in sizeof, never evaluated). So a probe belongs where its arguments are values the code
 * holds anyway: a probe whose argument had to be computed would need an _ENABLED semaphore,
 * and none here does. Every probe and its arguments: doc/tracing.md.
 *
 * Arguments are integers or pointers, at most 6: bpftrace on x86_64 reads arg0 to arg5 only
 * (tests/test-probes.sh checks it). A mailbox name is a `const char *` that
 * the tracer reads with str(), lengths and counts are unsigned, results are 0/length or a
 * negative errno, times are nanoseconds.
 */
#pragma once

/* HAVE_SDT comes from config.h, which every .c includes first */
#ifdef HAVE_SDT
#include <sys/sdt.h>

#define SHMBOX_PROBE0(name) STAP_PROBE(shmbox, name)
#define SHMBOX_PROBE1(name, a) STAP_PROBE1(shmbox, name, a)
#define SHMBOX_PROBE2(name, a, b) STAP_PROBE2(shmbox, name, a, b)
#define SHMBOX_PROBE3(name, a, b, c) STAP_PROBE3(shmbox, name, a, b, c)
#define SHMBOX_PROBE4(name, a, b, c, d) STAP_PROBE4(shmbox, name, a, b, c, d)
#define SHMBOX_PROBE5(name, a, b, c, d, e) STAP_PROBE5(shmbox, name, a, b, c, d, e)
#define SHMBOX_PROBE6(name, a, b, c, d, e, f) STAP_PROBE6(shmbox, name, a, b, c, d, e, f)
#else
/* nothing: the arguments are only named, so that a variable kept for a probe is not unused */
#define SHMBOX_PROBE_USE_(x) (void)sizeof(x)
#define SHMBOX_PROBE0(name) ((void)0)
#define SHMBOX_PROBE1(name, a) SHMBOX_PROBE_USE_(a)
#define SHMBOX_PROBE2(name, a, b) (SHMBOX_PROBE_USE_(a), SHMBOX_PROBE_USE_(b))
#define SHMBOX_PROBE3(name, a, b, c) (SHMBOX_PROBE2(name, a, b), SHMBOX_PROBE_USE_(c))
#define SHMBOX_PROBE4(name, a, b, c, d) (SHMBOX_PROBE3(name, a, b, c), SHMBOX_PROBE_USE_(d))
#define SHMBOX_PROBE5(name, a, b, c, d, e) (SHMBOX_PROBE4(name, a, b, c, d), SHMBOX_PROBE_USE_(e))
#define SHMBOX_PROBE6(name, a, b, c, d, e, f) (SHMBOX_PROBE5(name, a, b, c, d, e), SHMBOX_PROBE_USE_(f))
#endif
