/*
 * strbuf — a growable, always NUL-terminated byte string.
 *
 * For code that builds text of unknown length piece by piece (the config
 * loader's ${VAR} expansion, the metrics page) and for reading a whole file
 * or descriptor into memory (state import, the spool, the job hand-off). The
 * buffer doubles when full, so appending is amortised O(1). A zeroed
 * `strbuf` is empty and valid; an allocation failure leaves the buffer as
 * it was and returns ST_ENOMEM, so the caller decides how to report it.
 */
#ifndef ST_STRBUF_H
#define ST_STRBUF_H

#include <stddef.h>

#include "../error/st_error.h"

typedef struct strbuf {
    char *s;          /* NULL until the first successful put */
    size_t len, cap;
} strbuf;

/* Appends n bytes of `data`. Returns 0 or ST_ENOMEM (buffer unchanged). */
int strbuf_put(strbuf *b, const char *data, size_t n);

/* Appends everything read from fd until end of file (read(2); EINTR is
 * retried). `max` caps the bytes appended (0: no cap). On success `s` is
 * never NULL, even for empty input. Returns 0, ST_ENOMEM, ST_EUNAVAIL (a
 * read failed; errno says why) or ST_EINVAL (more than `max` bytes); on
 * failure what was appended so far stays in the buffer. */
int strbuf_read_fd(strbuf *b, int fd, size_t max);

/* strbuf_read_fd() on the file at `path` (opened read-only, closed again).
 * ST_EUNAVAIL with errno set if it cannot be opened. */
int strbuf_read_file(strbuf *b, const char *path, size_t max);

/* Frees the text and resets to empty; NULL-safe. */
void strbuf_release(strbuf *b);

#endif
