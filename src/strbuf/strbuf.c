/*
 * strbuf — growable NUL-terminated strings (see strbuf.h).
 *
 * Capacity starts at 64 bytes and doubles; the terminating NUL is always
 * inside the allocation, so `s` can be handed out as a C string at any time.
 *
 * Reading a descriptor reads straight into the buffer's free tail (at least
 * READ_CHUNK bytes of it), so a file is copied once, not through a stack
 * buffer. A read never asks for more than one byte past the cap, so an
 * oversized input is refused without buffering much more than `max`.
 */
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK 65536

/* Room for n more bytes and the NUL. */
static int reserve(strbuf *b, size_t n) {
    if (b->len + n + 1 <= b->cap) return ST_OK;
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *ns = realloc(b->s, cap);
    if (ns == NULL) return ST_ENOMEM;
    b->s = ns;
    b->cap = cap;
    return ST_OK;
}

int strbuf_put(strbuf *b, const char *data, size_t n) {
    if (reserve(b, n) != ST_OK) return ST_ENOMEM;
    memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
    return ST_OK;
}

int strbuf_read_fd(strbuf *b, int fd, size_t max) {
    size_t start = b->len;
    if (strbuf_put(b, "", 0) != ST_OK) return ST_ENOMEM;
    for (;;) {
        if (reserve(b, READ_CHUNK) != ST_OK) return ST_ENOMEM;
        size_t room = b->cap - b->len - 1;
        if (max > 0 && room > max - (b->len - start) + 1) room = max - (b->len - start) + 1;
        ssize_t n = read(fd, b->s + b->len, room);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ST_EUNAVAIL;
        b->len += (size_t)n;
        b->s[b->len] = '\0';
        if (max > 0 && b->len - start > max) return ST_EINVAL;
        if (n == 0) return ST_OK;
    }
}

int strbuf_read_file(strbuf *b, const char *path, size_t max) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ST_EUNAVAIL;
    int rc = strbuf_read_fd(b, fd, max);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

void strbuf_release(strbuf *b) {
    if (b == NULL) return;
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
