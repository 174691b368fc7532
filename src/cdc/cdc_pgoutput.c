/*
 * cdc_pgoutput — parser of the pgoutput plugin's messages, protocol 1
 * (PostgreSQL docs, "Logical Replication Message Formats").
 *
 * Integers are in network byte order; a String is NUL-terminated. Every
 * read is bounds-checked against the message length: a short or malformed
 * message is ST_EINVAL naming the message type and the byte offset, never a
 * read past the buffer. Values are copied into NUL-terminated strings the
 * message owns (cdc_msg_clear frees them), so the caller may reuse the
 * receive buffer at once. Messages that carry nothing to apply (Origin 'O',
 * Type 'Y', logical decoding messages 'M') parse to CDC_MSG_OTHER.
 */
#include "cdc.h"

#include <stdlib.h>
#include <string.h>

typedef struct rd {
    const unsigned char *p;
    size_t len, pos;
    bool bad;
} rd;

static bool need(rd *r, size_t n) {
    if (r->bad || r->len - r->pos < n) r->bad = true;
    return !r->bad;
}

static uint8_t u8(rd *r) { return need(r, 1) ? r->p[r->pos++] : 0; }

static uint64_t uN(rd *r, int n) {
    uint64_t v = 0;
    if (!need(r, (size_t)n)) return 0;
    for (int i = 0; i < n; i++) v = v << 8 | r->p[r->pos++];
    return v;
}

static char *str(rd *r) {
    if (r->bad) return NULL;
    const unsigned char *e = memchr(r->p + r->pos, '\0', r->len - r->pos);
    if (e == NULL) { r->bad = true; return NULL; }
    size_t n = (size_t)(e - (r->p + r->pos));
    char *s = malloc(n + 1);
    if (s == NULL) { r->bad = true; return NULL; }
    memcpy(s, r->p + r->pos, n + 1);
    r->pos += n + 1;
    return s;
}

static void tuple_clear(cdc_tuple *t) {
    for (int i = 0; t->val && i < t->ncols; i++) free(t->val[i]);
    free(t->val);
    free(t->kind);
    memset(t, 0, sizeof *t);
}

static void tuple(rd *r, cdc_tuple *t) {
    t->ncols = (int)uN(r, 2);
    if (r->bad) return;
    t->kind = calloc((size_t)t->ncols + 1, 1);
    t->val = calloc((size_t)t->ncols + 1, sizeof *t->val);
    if (t->kind == NULL || t->val == NULL) { r->bad = true; return; }
    for (int i = 0; i < t->ncols && !r->bad; i++) {
        char k = (char)u8(r);
        t->kind[i] = k;
        if (k == 'n' || k == 'u') continue;
        if (k != 't') { r->bad = true; break; }   /* 'b' (binary) is never asked for */
        uint32_t n = (uint32_t)uN(r, 4);
        if (!need(r, n)) break;
        if ((t->val[i] = malloc((size_t)n + 1)) == NULL) { r->bad = true; break; }
        memcpy(t->val[i], r->p + r->pos, n);
        t->val[i][n] = '\0';
        r->pos += n;
    }
}

static void relation(rd *r, cdc_msg *m) {
    m->relid = (uint32_t)uN(r, 4);
    m->nspname = str(r);
    m->relname = str(r);
    m->replident = (char)u8(r);
    m->ncols = (int)uN(r, 2);
    if (r->bad) return;
    m->cols = calloc((size_t)m->ncols + 1, sizeof *m->cols);
    if (m->cols == NULL) { r->bad = true; return; }
    for (int i = 0; i < m->ncols && !r->bad; i++) {
        m->cols[i].key = (u8(r) & 1) != 0;
        m->cols[i].name = str(r);
        m->cols[i].type = (uint32_t)uN(r, 4);
        m->cols[i].typmod = (int32_t)(uint32_t)uN(r, 4);
    }
}

/* Update and Delete: an optional 'K' or 'O' tuple, then (Update) 'N'. */
static void change(rd *r, cdc_msg *m) {
    m->relid = (uint32_t)uN(r, 4);
    char tag = (char)u8(r);
    if (tag == 'K' || tag == 'O') {
        m->old_kind = tag;
        tuple(r, &m->old);
        if (m->type == CDC_MSG_DELETE) return;
        tag = (char)u8(r);
    }
    if (m->type == CDC_MSG_DELETE || tag != 'N') { r->bad = true; return; }
    tuple(r, &m->new_);
}

static void truncate_msg(rd *r, cdc_msg *m) {
    m->nrels = (int)uN(r, 4);
    m->truncate_flags = u8(r);
    if (r->bad || m->nrels < 0 || (size_t)m->nrels > r->len) { r->bad = true; return; }
    m->relids = calloc((size_t)m->nrels + 1, sizeof *m->relids);
    if (m->relids == NULL) { r->bad = true; return; }
    for (int i = 0; i < m->nrels; i++) m->relids[i] = (uint32_t)uN(r, 4);
}

int cdc_msg_parse(const unsigned char *buf, size_t len, cdc_msg *m, st_error *err) {
    memset(m, 0, sizeof *m);
    rd r = {.p = buf, .len = len};
    char t = (char)u8(&r);
    switch (t) {
    case 'B':
        m->type = CDC_MSG_BEGIN;
        m->lsn = uN(&r, 8);
        uN(&r, 8); /* commit time */
        m->xid = (uint32_t)uN(&r, 4);
        break;
    case 'C':
        m->type = CDC_MSG_COMMIT;
        u8(&r); /* flags */
        m->lsn = uN(&r, 8);
        m->end_lsn = uN(&r, 8);
        uN(&r, 8);
        break;
    case 'R': m->type = CDC_MSG_RELATION; relation(&r, m); break;
    case 'I':
        m->type = CDC_MSG_INSERT;
        m->relid = (uint32_t)uN(&r, 4);
        if (u8(&r) != 'N') r.bad = true;
        tuple(&r, &m->new_);
        break;
    case 'U': m->type = CDC_MSG_UPDATE; change(&r, m); break;
    case 'D': m->type = CDC_MSG_DELETE; change(&r, m); break;
    case 'T': m->type = CDC_MSG_TRUNCATE; truncate_msg(&r, m); break;
    case 'O': case 'Y': case 'M': m->type = CDC_MSG_OTHER; return ST_OK;
    default:
        return st_error_set(err, ST_EINVAL, "pgoutput: unknown message type 0x%02x",
                            (unsigned char)t);
    }
    if (r.bad)
        return st_error_set(err, ST_EINVAL, "pgoutput: malformed '%c' message (%zu bytes, "
                            "stopped at byte %zu)", t, len, r.pos);
    return ST_OK;
}

void cdc_msg_clear(cdc_msg *m) {
    free(m->nspname);
    free(m->relname);
    for (int i = 0; m->cols && i < m->ncols; i++) free(m->cols[i].name);
    free(m->cols);
    tuple_clear(&m->old);
    tuple_clear(&m->new_);
    free(m->relids);
    memset(m, 0, sizeof *m);
}
