/*
 * strbuf — a growable, always NUL-terminated byte string.
 *
 * For code that builds text of unknown length piece by piece (the config
 * loader's ${VAR} expansion, the JSON reader's string unescaping). The
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

/* Frees the text and resets to empty; NULL-safe. */
void strbuf_release(strbuf *b);

#endif
