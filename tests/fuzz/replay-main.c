/* SPDX-License-Identifier: MIT */
/* replay-main.c — runs a fuzz target on saved inputs, without libFuzzer (any compiler).
 *
 * Usage: fuzz-X-replay [FILE|DIR]...
 * Without arguments it replays $FUZZ_CORPUS_DIR/<target>, the committed seed corpus (make check
 * sets FUZZ_CORPUS_DIR); built with FUZZ_REGRESS, $FUZZ_CORPUS_DIR/../regress/<target>, the
 * reproducers of defects found by fuzzing. Each input runs in a child of its own, so an input that crashes or
 * breaks a property (the target aborts) is reported by name and the others still run; a child
 * that takes longer than REPLAY_TIMEOUT_S is an error too. The closing line has the shape of
 * Check's summary, which tests/check.sh adds up with the suites'. Exit status 0 only if every
 * input passed and there was at least one.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET (the target's name) must be defined"
#endif

/* Generous: an input runs in well under a second, also under valgrind. */
#define REPLAY_TIMEOUT_S 120

typedef struct Tally {
        unsigned checks, failures, errors;
} Tally;

/* In the child: read @path whole into an exact-size buffer and run the target on it. */
static int run_input(const char *path) {
        struct stat st;
        uint8_t *data;
        size_t got = 0;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return 2;
        }
        data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
        if (!data)
                return 2;
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

                if (n <= 0) {
                        fprintf(stderr, "%s: short read\n", path);
                        return 2;
                }
                got += (size_t)n;
        }
        close(fd);
        LLVMFuzzerTestOneInput(data, got);
        free(data);
        return 0;
}

static void replay_file(const char *path, Tally *t) {
        int status;
        pid_t pid;

        t->checks++;
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "ERROR: %s: fork: %s\n", path, strerror(errno));
                t->errors++;
                return;
        }
        if (pid == 0) {
                alarm(REPLAY_TIMEOUT_S);
                exit(run_input(path));
        }
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR) {
                        fprintf(stderr, "ERROR: %s: waitpid: %s\n", path, strerror(errno));
                        t->errors++;
                        return;
                }
        }
        if (WIFSIGNALED(status)) {
                fprintf(stderr, "ERROR: %s: killed by signal %d%s\n", path, WTERMSIG(status),
                        WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
                t->errors++;
        } else if (WEXITSTATUS(status) != 0) {
                fprintf(stderr, "FAIL: %s: exit status %d\n", path, WEXITSTATUS(status));
                t->failures++;
        }
}

static int is_entry(const struct dirent *d) {
        return d->d_name[0] != '.';
}

/* A directory: every entry but the hidden ones, in name order. */
static void replay_path(const char *path, Tally *t) {
        struct dirent **names;
        struct stat st;
        int n;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "ERROR: %s: %s\n", path, strerror(errno));
                t->checks++;
                t->errors++;
                return;
        }
        if (!S_ISDIR(st.st_mode)) {
                replay_file(path, t);
                return;
        }
        n = scandir(path, &names, is_entry, alphasort);
        if (n < 0) {
                fprintf(stderr, "ERROR: %s: %s\n", path, strerror(errno));
                t->checks++;
                t->errors++;
                return;
        }
        for (int i = 0; i < n; i++) {
                char file[4096];

                if ((size_t)snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name) < sizeof(file))
                        replay_file(file, t);
                free(names[i]);
        }
        free(names);
}

int main(int argc, char **argv) {
        Tally t = {};
        unsigned passed;

        if (argc > 1) {
                for (int i = 1; i < argc; i++)
                        replay_path(argv[i], &t);
        } else {
                const char *dir = getenv("FUZZ_CORPUS_DIR");
                char path[4096];

                if (!dir || !*dir) {
                        fprintf(stderr, "usage: %s FILE|DIR... (or set FUZZ_CORPUS_DIR)\n", argv[0]);
                        return 2;
                }
#ifdef FUZZ_REGRESS
                snprintf(path, sizeof(path), "%s/../regress/%s", dir, FUZZ_TARGET);
                printf("Replaying the reproducers of %s: %s\n", FUZZ_TARGET, path);
#else
                snprintf(path, sizeof(path), "%s/%s", dir, FUZZ_TARGET);
                printf("Replaying the corpus of %s: %s\n", FUZZ_TARGET, path);
#endif
                replay_path(path, &t);
        }
        if (t.checks == 0) {
                fprintf(stderr, "ERROR: no inputs to replay\n");
                t.checks = t.errors = 1;
        }
        passed = t.checks - t.failures - t.errors;
        printf("%u%%: Checks: %u, Failures: %u, Errors: %u\n", passed * 100 / t.checks, t.checks, t.failures, t.errors);
        return t.failures || t.errors ? EXIT_FAILURE : EXIT_SUCCESS;
}
