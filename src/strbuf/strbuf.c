/*
 * strbuf — growable NUL-terminated strings (see strbuf.h).
 *
 * Capacity starts at 64 bytes and doubles; the terminating NUL is always
 * inside the allocation, so `s` can be handed out as a C string at any time.
 */
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

int strbuf_put(strbuf *b, const char *data, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (ns == NULL) return ST_ENOMEM;
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
    return ST_OK;
}

void strbuf_release(strbuf *b) {
    if (b == NULL) return;
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
