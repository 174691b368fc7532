/*
 * lockmock — an in-memory lock backend (struct lock_ops) for cmocka tests.
 *
 * It implements the same vtable as SQLite and Redis, so the job manager is
 * tested through exactly the interface production uses. Tests script it:
 * an "external" holder (someone else) can hold a key, optionally going away
 * after N acquisition attempts; the backend can pretend to be unreachable;
 * a test can steal a lock to simulate an expired lease. Every call is
 * appended to an event log (callbacks can add their own notes), so tests
 * assert the order of lock operations and callbacks. Thread-safe: the lease
 * renewer calls it from its own thread.
 */
#ifndef LOCKMOCK_BACKEND_H
#define LOCKMOCK_BACKEND_H

#include <stdbool.h>

#include "../../../src/lock/lock_backend.h"

typedef struct lockmock lockmock;

lockmock *lockmock_new(void);
void lockmock_free(lockmock *m);
/* A manager over the mock (URL "mock://locks"); closing it leaves m alive. */
lock_manager *lockmock_manager(lockmock *m);

/* Someone else holds key in mode. release_after_attempts > 0: that holder
 * goes away once that many acquisitions of key have been refused. */
void lockmock_hold(lockmock *m, const char *key, lock_mode mode, int release_after_attempts);
/* Removes every holder of key (an expired lease taken over). */
void lockmock_steal(lockmock *m, const char *key);
void lockmock_set_unavailable(lockmock *m, bool on);

/* Held by the code under test (not the external holder) in mode? */
bool lockmock_is_held(lockmock *m, const char *key, lock_mode mode);
int lockmock_attempts(lockmock *m, const char *key);
int lockmock_holders(lockmock *m);
/* Appends "note;" to the event log. */
void lockmock_note(lockmock *m, const char *note);
/* Events: "acquire:<key>:<x|s>:<ok|busy|unavail>;", "release:<key>;",
 * "renew:<key>;" (only if log_renew), notes. */
const char *lockmock_log(lockmock *m);
void lockmock_log_renew(lockmock *m, bool on);

#endif
