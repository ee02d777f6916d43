/* The feeds this process knows exist (feed_known.h): an open-addressing
 * set of account ids shared by the job threads, read-locked for lookups. */
#include "feed_known.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define KNOWN_FIRST_SLOTS  65536        /* a power of two; grown at half full */

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static uint64_t  *slots;                /* 0: empty */
static size_t     nslots, count;
static unsigned   version;              /* moved whenever everything is dropped */
static char       epoch[32];            /* the epoch key's value last seen */
static int        epoch_seen;           /* epoch holds it (an absent key: "") */
static int        token_wanted = 1;     /* the set lacks our token, as far as we know */
static char       token[32];
static pthread_once_t token_once = PTHREAD_ONCE_INIT;

static void token_make(void)
{
    uint64_t r = 0;

    if (getrandom(&r, sizeof(r), 0) != (ssize_t) sizeof(r))
        r = (uint64_t) getpid() << 32 ^ (uint64_t) time(NULL);
    snprintf(token, sizeof(token), "worker:%016llx", (unsigned long long) r);
}

const char *feed_known_token(void)
{
    pthread_once(&token_once, token_make);
    return token;
}

int feed_known_token_wanted(void)
{
    return __atomic_load_n(&token_wanted, __ATOMIC_RELAXED);
}

static size_t slot_of(uint64_t id, size_t mask)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t) id & mask;
}

/* With the write lock: id into the table (grown first when half full). */
static void insert(uint64_t id)
{
    if (count >= FEED_KNOWN_MAX)
        return;
    if (2 * (count + 1) > nslots) {
        size_t n = nslots > 0 ? 2 * nslots : KNOWN_FIRST_SLOTS;
        uint64_t *grown = calloc(n, sizeof(*grown));
        if (grown == NULL)
            return;             /* not remembered: asked next time */
        for (size_t i = 0; i < nslots; i++) {
            if (slots[i] == 0)
                continue;
            size_t j = slot_of(slots[i], n - 1);
            while (grown[j] != 0)
                j = (j + 1) & (n - 1);
            grown[j] = slots[i];
        }
        free(slots);
        slots = grown;
        nslots = n;
    }
    size_t j = slot_of(id, nslots - 1);
    while (slots[j] != 0) {
        if (slots[j] == id)
            return;
        j = (j + 1) & (nslots - 1);
    }
    slots[j] = id;
    count++;
}

static int member(uint64_t id)
{
    if (nslots == 0)
        return 0;
    size_t j = slot_of(id, nslots - 1);
    while (slots[j] != 0) {
        if (slots[j] == id)
            return 1;
        j = (j + 1) & (nslots - 1);
    }
    return 0;
}

unsigned feed_known_lookup(char (*accounts)[24], int n, unsigned char *state, unsigned char bit)
{
    unsigned v;

    pthread_rwlock_rdlock(&lock);
    v = version;
    for (int i = 0; count > 0 && i < n; i++) {
        if (member(strtoull(accounts[i], NULL, 10)))
            state[i] |= bit;
    }
    pthread_rwlock_unlock(&lock);
    return v;
}

/* With the write lock: everything forgotten. */
static void drop(void)
{
    if (count > 0)
        memset(slots, 0, nslots * sizeof(*slots));
    count = 0;
    version++;
}

int feed_known_confirm(unsigned looked_up, int token_present, const char *value, size_t len)
{
    int held;

    if (value == NULL) {
        value = "";             /* no key: the epoch before any deletion */
        len = 0;
    }
    if (len >= sizeof(epoch))
        len = sizeof(epoch) - 1;
    pthread_rwlock_wrlock(&lock);
    if (!token_present) {
        drop();
        __atomic_store_n(&token_wanted, 1, __ATOMIC_RELAXED);
    } else if (!epoch_seen || strlen(epoch) != len || memcmp(epoch, value, len) != 0) {
        if (epoch_seen)
            drop();
    }
    memcpy(epoch, value, len);
    epoch[len] = '\0';
    epoch_seen = 1;
    if (token_present)
        __atomic_store_n(&token_wanted, 0, __ATOMIC_RELAXED);
    held = token_present && looked_up == version;
    pthread_rwlock_unlock(&lock);
    return held;
}

void feed_known_add(unsigned looked_up, char (*accounts)[24], const unsigned char *state,
                    unsigned char bit, int n)
{
    pthread_rwlock_wrlock(&lock);
    for (int i = 0; looked_up == version && i < n; i++) {
        uint64_t id = (state[i] & bit) ? strtoull(accounts[i], NULL, 10) : 0;
        if (id != 0)
            insert(id);
    }
    pthread_rwlock_unlock(&lock);
}
