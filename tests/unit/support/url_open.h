/*
 * url_open — test shorthands that open a state, lock or queue backend from
 * URL text: burl_parse first (its error, if any, is the result), then the
 * typed constructor, exactly as the config and the constructors do it in
 * production.
 */
#ifndef ST_TEST_URL_OPEN_H
#define ST_TEST_URL_OPEN_H

#include "../../../src/lock/lock.h"
#include "../../../src/queue/queue.h"
#include "../../../src/state/state.h"
#include "../../../src/url/backend_url.h"

static inline int state_open_url(state **out, const char *text, st_error *err) {
    backend_url u;
    *out = NULL;
    int rc = burl_parse(&u, text, err);
    return rc != ST_OK ? rc : state_open(out, &u, err);
}

static inline int lock_open_url(lock_manager **out, const char *text, st_error *err) {
    backend_url u;
    *out = NULL;
    int rc = burl_parse(&u, text, err);
    return rc != ST_OK ? rc : lock_open(out, &u, err);
}

static inline int queue_open_url(queue **out, const char *text, st_error *err) {
    backend_url u;
    *out = NULL;
    int rc = burl_parse(&u, text, err);
    return rc != ST_OK ? rc : queue_open(out, &u, err);
}

/* The parsed value of a URL the test knows is good. */
static inline backend_url burl_of(const char *text) {
    backend_url u;
    burl_parse(&u, text, NULL);
    return u;
}

#endif
