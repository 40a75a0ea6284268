/* SPDX-License-Identifier: MIT */
/* test-header.c — <shmbox.h> alone is enough for a program: this file includes nothing else
 * and is built with the public header's folder as its only include path, in strict C99, like
 * an application's code. It uses the header's types, the batch calls with a struct iovec
 * array, and runs without a daemon. */
#include <shmbox.h>

int main(void) {
        char a[16], b[16];
        struct iovec msgs[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
        size_t lens[2];
        struct shmbox_config config = { 0 };
        struct shmbox_entry entry;
        struct shmbox_stat st;
        shmbox_client *client = NULL;
        int r;

        config.slots = SHMBOX_DEFAULT_SLOTS;
        entry.info.slots = config.slots;
        st.slots = entry.info.slots;
        r = shmbox_connect("/nonexistent-dir-of-test-header/shmboxd.sock", &client);
        if (r >= 0 || client || !shmbox_strerror(r)[0])
                return 1; /* no daemon listens there */
        /* without a box the batch calls refuse their arguments */
        if (shmbox_send_many(NULL, msgs, 2, 0) >= 0 || shmbox_recv_many(NULL, msgs, 2, lens, 0) >= 0)
                return 1;
        return st.slots == SHMBOX_DEFAULT_SLOTS ? 0 : 1;
}
