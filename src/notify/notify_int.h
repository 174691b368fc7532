/*
 * notify_int — what notify.c (detection) and notify_send.c (delivery) share.
 */
#ifndef ST_NOTIFY_INT_H
#define ST_NOTIFY_INT_H

#include "notify.h"

#include <pthread.h>
#include <stdatomic.h>

/* One webhook and its delivery thread. */
typedef struct notify_hook {
    struct notifier *n;
    char *url;                  /* a copy: the thread outlives config reloads */
    unsigned events;
    char id[24];                /* stable id of the URL (outbox entries carry it) */
    char shown[256];            /* the URL as logs may show it */
    pthread_t thread;
    bool started;
    bool wake;                  /* new entries were queued (under n->mu) */
    int64_t delivered, failed;  /* since open (under n->mu) */
    int64_t pending;            /* open entries at the last look (under n->mu) */
} notify_hook;

struct notifier {
    const config *cfg;          /* borrowed */
    bool active;                /* some webhook is configured */
    int8_t *cache;              /* last-notified values per slot, -1 = unread */
    size_t *offsets;            /* first slot of each pipeline */
    int64_t next_prune;         /* notifier time of the next outbox prune */
    /* delivery */
    backend_url state_url;      /* each hook thread opens its own handle */
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* work queued, clock set, or stop requested */
    notify_hook *hooks;
    size_t nhooks;
    int64_t timeout_s, max_attempts, retry_for_us;
    /* The notifier's clock: the `now` of the last notify_check plus the
     * monotonic time since. Delivery waits until the first check sets it
     * (only a leading scheduler checks, so only it delivers). */
    bool clock_set;
    int64_t now_base, mono_base;
    bool draining;              /* stop: one attempt of what is due, then exit */
    int64_t drain_deadline;     /* monotonic ms */
    atomic_bool abort;          /* past the deadline: cut transfers short */
};

/* The notifier's current time (see struct notifier). Called with n->mu. */
int64_t notify_clock(const notifier *n);

/* The id of a webhook URL: 16 hex digits of its FNV-1a hash. */
void notify_hook_id(const char *url, char id[24]);

/* Rebuilds the cache for n->cfg (all slots unread). */
int notify_cache_build(notifier *n);

/* Marks the hooks subscribed to `event` as having new entries (wake), under
 * n->mu: their delivery threads read it. */
void notify_mark_wake(notifier *n, unsigned event);
/* Sets the clock to `now` and wakes the hooks that got entries (wake set). */
void notify_wake(notifier *n, int64_t now);

#endif
