#ifndef MW_FEED_KNOWN_H
#define MW_FEED_KNOWN_H

/* The members of FEED_ACTIVE_KEY (the accounts whose home feed exists)
 * this worker process has seen, remembered in its memory, so that a push
 * asks Redis only about the others: a SMISMEMBER costs Redis about a third
 * of the ZADD it guards.  What is remembered holds only while the set
 * does: each process adds a member of its own to the set (its token,
 * "worker:<random hex>"), asked with every batch, and account deletion,
 * the one removal of a member, moves FEED_KNOWN_EPOCH_KEY, read with every
 * batch.  The token gone (FLUSHALL, the set deleted or evicted) or the
 * epoch moved: everything remembered is dropped and learnt again from the
 * set.  At most FEED_KNOWN_MAX accounts; past that the others are asked
 * every time, as before. */

#include <stddef.h>

#define FEED_KNOWN_EPOCH_KEY  "mastodon:feeds:home:epoch"
#define FEED_KNOWN_MAX        (1 << 20)

/* This process' member of FEED_ACTIVE_KEY (NUL-terminated). */
const char *feed_known_token(void);

/* Whether the set lacks the token as far as this process knows: the next
 * batch adds it (SADD) before asking. */
int feed_known_token_wanted(void);

/* Looks the accounts up: `bit` set in state[i] when remembered.  Returns
 * the version of what was looked up, for feed_known_confirm() and
 * feed_known_add(). */
unsigned feed_known_lookup(char (*accounts)[24], int n, unsigned char *state, unsigned char bit);

/* The batch's answers: whether the set holds the token, and the epoch's
 * value (NULL: no key).  1 when the lookups made at `version` hold; 0 when
 * not (everything remembered is dropped). */
int feed_known_confirm(unsigned version, int token_present, const char *epoch, size_t epoch_len);

/* Remembers the accounts with `bit` in state[i], found in the set (a batch
 * looked up at `version`, confirmed): nothing when what was remembered was
 * dropped since. */
void feed_known_add(unsigned version, char (*accounts)[24], const unsigned char *state,
                    unsigned char bit, int n);

#endif
