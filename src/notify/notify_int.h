/*
 * notify_int — what notify.c (detection) and notify_send.c (delivery) share.
 */
#ifndef ST_NOTIFY_INT_H
#define ST_NOTIFY_INT_H

#include "notify.h"

#include <pthread.h>

#define NOTIFY_QUEUE_MAX 256

struct notifier {
    const config *cfg;          /* borrowed */
    bool active;                /* some webhook is configured */
    int8_t *cache;              /* last-notified values per slot, -1 = unread */
    size_t *offsets;            /* first slot of each pipeline */
    /* delivery */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* queue changed or stop requested */
    notify_alert *queue;        /* ring of NOTIFY_QUEUE_MAX */
    size_t head, count;
    bool busy;                  /* the thread is delivering one alert */
    bool stop;
    config_webhook *hooks;      /* copies: the thread outlives config reloads */
    size_t nhooks;
    int64_t timeout_s, max_attempts;
    size_t delivered, failed;
};

/* Rebuilds the cache for n->cfg (all slots unread). */
int notify_cache_build(notifier *n);

/* Queues a copy of the alert; false if there is no delivery (inactive). */
bool notify_queue_push(notifier *n, const notify_alert *a);

#endif
