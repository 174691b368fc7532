/*
 * test_cdc — the cdc module's pure parts: the pgoutput message parser
 * (protocol 1, PostgreSQL docs "Logical Replication Message Formats") on
 * hand-built byte buffers, slot names and LSN text.
 *
 * Each message is built with a tiny big-endian writer (b8/b16/b32/b64,
 * bstr, tuple columns) exactly as the docs lay it out; the parser must
 * return every field. Every proper prefix of each valid message must be
 * refused as malformed (ST_EINVAL) without reading past the buffer (ASan
 * checks the reads), and so must unknown message types and TupleData kinds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cdc/cdc.h"

typedef struct buf {
    unsigned char d[4096];
    size_t n;
} buf;

static void b8(buf *b, unsigned v) { b->d[b->n++] = (unsigned char)v; }
static void bN(buf *b, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; i--) b8(b, (unsigned)((v >> (8 * i)) & 0xff));
}
static void b16(buf *b, unsigned v) { bN(b, v, 2); }
static void b32(buf *b, uint32_t v) { bN(b, v, 4); }
static void b64(buf *b, uint64_t v) { bN(b, v, 8); }
static void bstr(buf *b, const char *s) {
    size_t l = strlen(s) + 1;
    memcpy(b->d + b->n, s, l);
    b->n += l;
}
static void btext(buf *b, const char *s) {
    b8(b, 't');
    b32(b, (uint32_t)strlen(s));
    memcpy(b->d + b->n, s, strlen(s));
    b->n += strlen(s);
}

static cdc_msg parse_ok(const buf *b) {
    cdc_msg m;
    st_error err;
    int rc = cdc_msg_parse(b->d, b->n, &m, &err);
    if (rc != ST_OK) fail_msg("parse failed: %s", err.msg);
    return m;
}

/* Every proper prefix of a valid message is malformed, never a crash. */
static void prefixes_refused(const buf *b) {
    for (size_t n = 0; n < b->n; n++) {
        unsigned char *copy = malloc(n ? n : 1);   /* exact size: ASan sees overreads */
        memcpy(copy, b->d, n);
        cdc_msg m;
        st_error err;
        int rc = cdc_msg_parse(copy, n, &m, &err);
        cdc_msg_clear(&m);
        free(copy);
        if (rc != ST_EINVAL) fail_msg("prefix of %zu of %zu bytes: rc %d", n, b->n, rc);
    }
}

static void test_begin_commit(void **s) {
    (void)s;
    buf b = {0};
    b8(&b, 'B');
    b64(&b, 0x16B374D848ULL);
    b64(&b, 123456789);
    b32(&b, 4242);
    cdc_msg m = parse_ok(&b);
    assert_int_equal(m.type, CDC_MSG_BEGIN);
    assert_true(m.lsn == 0x16B374D848ULL);
    assert_int_equal(m.xid, 4242);
    cdc_msg_clear(&m);
    prefixes_refused(&b);

    buf c = {0};
    b8(&c, 'C');
    b8(&c, 0);
    b64(&c, 0x100);
    b64(&c, 0x180);
    b64(&c, 99);
    m = parse_ok(&c);
    assert_int_equal(m.type, CDC_MSG_COMMIT);
    assert_true(m.lsn == 0x100 && m.end_lsn == 0x180);
    cdc_msg_clear(&m);
    prefixes_refused(&c);
}

static buf relation_msg(void) {
    buf b = {0};
    b8(&b, 'R');
    b32(&b, 16384);
    bstr(&b, "public");
    bstr(&b, "orders");
    b8(&b, 'd');
    b16(&b, 3);
    b8(&b, 1), bstr(&b, "id"), b32(&b, 20), b32(&b, 0xffffffffu);
    b8(&b, 0), bstr(&b, "total"), b32(&b, 1700), b32(&b, (12 << 16 | 2) + 4);
    b8(&b, 0), bstr(&b, "note"), b32(&b, 25), b32(&b, 0xffffffffu);
    return b;
}

static void test_relation(void **s) {
    (void)s;
    buf b = relation_msg();
    cdc_msg m = parse_ok(&b);
    assert_int_equal(m.type, CDC_MSG_RELATION);
    assert_int_equal(m.relid, 16384);
    assert_string_equal(m.nspname, "public");
    assert_string_equal(m.relname, "orders");
    assert_int_equal(m.replident, 'd');
    assert_int_equal(m.ncols, 3);
    assert_true(m.cols[0].key && !m.cols[1].key && !m.cols[2].key);
    assert_string_equal(m.cols[1].name, "total");
    assert_int_equal(m.cols[1].type, 1700);
    assert_int_equal(m.cols[0].typmod, -1);
    assert_int_equal(m.cols[1].typmod, (12 << 16 | 2) + 4);
    cdc_msg_clear(&m);
    prefixes_refused(&b);
}

static void test_insert_kinds(void **s) {
    (void)s;
    buf b = {0};
    b8(&b, 'I');
    b32(&b, 16384);
    b8(&b, 'N');
    b16(&b, 4);
    btext(&b, "42");
    b8(&b, 'n');
    b8(&b, 'u');
    btext(&b, "");     /* an empty text is not NULL */
    cdc_msg m = parse_ok(&b);
    assert_int_equal(m.type, CDC_MSG_INSERT);
    assert_int_equal(m.relid, 16384);
    assert_int_equal(m.old_kind, 0);
    assert_int_equal(m.new_.ncols, 4);
    assert_memory_equal(m.new_.kind, "tnut", 4);
    assert_string_equal(m.new_.val[0], "42");
    assert_null(m.new_.val[1]);
    assert_null(m.new_.val[2]);
    assert_string_equal(m.new_.val[3], "");
    cdc_msg_clear(&m);
    prefixes_refused(&b);
}

static void test_update_key_and_old(void **s) {
    (void)s;
    buf b = {0};   /* a key change: 'K' with the old key, then 'N' */
    b8(&b, 'U');
    b32(&b, 7);
    b8(&b, 'K');
    b16(&b, 2);
    btext(&b, "1");
    b8(&b, 'n');
    b8(&b, 'N');
    b16(&b, 2);
    btext(&b, "1000");
    b8(&b, 'u');
    cdc_msg m = parse_ok(&b);
    assert_int_equal(m.type, CDC_MSG_UPDATE);
    assert_int_equal(m.old_kind, 'K');
    assert_string_equal(m.old.val[0], "1");
    assert_string_equal(m.new_.val[0], "1000");
    assert_int_equal(m.new_.kind[1], 'u');
    cdc_msg_clear(&m);
    prefixes_refused(&b);

    buf o = {0};   /* REPLICA IDENTITY FULL: 'O', the whole old row */
    b8(&o, 'U');
    b32(&o, 7);
    b8(&o, 'O');
    b16(&o, 1);
    btext(&o, "old");
    b8(&o, 'N');
    b16(&o, 1);
    btext(&o, "new");
    m = parse_ok(&o);
    assert_int_equal(m.old_kind, 'O');
    assert_string_equal(m.old.val[0], "old");
    assert_string_equal(m.new_.val[0], "new");
    cdc_msg_clear(&m);

    buf plain = {0};   /* no old part at all */
    b8(&plain, 'U');
    b32(&plain, 7);
    b8(&plain, 'N');
    b16(&plain, 1);
    btext(&plain, "x");
    m = parse_ok(&plain);
    assert_int_equal(m.old_kind, 0);
    assert_string_equal(m.new_.val[0], "x");
    cdc_msg_clear(&m);
}

static void test_delete_and_truncate(void **s) {
    (void)s;
    buf b = {0};
    b8(&b, 'D');
    b32(&b, 7);
    b8(&b, 'K');
    b16(&b, 2);
    btext(&b, "5");
    b8(&b, 'n');
    cdc_msg m = parse_ok(&b);
    assert_int_equal(m.type, CDC_MSG_DELETE);
    assert_int_equal(m.old_kind, 'K');
    assert_string_equal(m.old.val[0], "5");
    cdc_msg_clear(&m);
    prefixes_refused(&b);

    buf t = {0};
    b8(&t, 'T');
    b32(&t, 2);
    b8(&t, 1);   /* CASCADE */
    b32(&t, 7);
    b32(&t, 9);
    m = parse_ok(&t);
    assert_int_equal(m.type, CDC_MSG_TRUNCATE);
    assert_int_equal(m.nrels, 2);
    assert_int_equal(m.truncate_flags, 1);
    assert_int_equal(m.relids[0], 7);
    assert_int_equal(m.relids[1], 9);
    cdc_msg_clear(&m);
    prefixes_refused(&t);
}

static void test_malformed(void **s) {
    (void)s;
    cdc_msg m;
    st_error err;
    buf b = {0};
    b8(&b, 'Z');
    assert_int_equal(cdc_msg_parse(b.d, b.n, &m, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "unknown message type 0x5a"));
    cdc_msg_clear(&m);

    buf k = {0};   /* TupleData kind 'b' (binary) is never asked for */
    b8(&k, 'I');
    b32(&k, 1);
    b8(&k, 'N');
    b16(&k, 1);
    b8(&k, 'b');
    b32(&k, 0);
    assert_int_equal(cdc_msg_parse(k.d, k.n, &m, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "malformed 'I' message"));
    cdc_msg_clear(&m);

    buf d = {0};   /* a delete without its old key */
    b8(&d, 'D');
    b32(&d, 1);
    b8(&d, 'N');
    assert_int_equal(cdc_msg_parse(d.d, d.n, &m, &err), ST_EINVAL);
    cdc_msg_clear(&m);

    buf l = {0};   /* a text length past the end */
    b8(&l, 'I');
    b32(&l, 1);
    b8(&l, 'N');
    b16(&l, 1);
    b8(&l, 't');
    b32(&l, 0x7fffffff);
    assert_int_equal(cdc_msg_parse(l.d, l.n, &m, &err), ST_EINVAL);
    cdc_msg_clear(&m);

    buf o = {0};   /* Origin: nothing to apply */
    b8(&o, 'O');
    b64(&o, 1);
    bstr(&o, "origin");
    assert_int_equal(cdc_msg_parse(o.d, o.n, &m, &err), ST_OK);
    assert_int_equal(m.type, CDC_MSG_OTHER);
    cdc_msg_clear(&m);
}

static void test_slot_names(void **s) {
    (void)s;
    char a[CDC_NAME_MAX], b[CDC_NAME_MAX];
    cdc_slot_name("orders_sync", a);
    assert_int_equal(strncmp(a, "synctool_orders_sync_", 21), 0);
    assert_int_equal(strlen(a), 21 + 8);
    /* names that sanitise alike still differ */
    cdc_slot_name("Orders-Sync", b);
    assert_int_equal(strncmp(b, "synctool_orders_sync_", 21), 0);
    assert_string_not_equal(a, b);
    /* the longest pipeline name fits PostgreSQL's 63 bytes */
    char longname[101];
    memset(longname, 'x', 100);
    longname[100] = '\0';
    cdc_slot_name(longname, a);
    assert_true(strlen(a) <= 63);
    for (const char *p = a; *p; p++)
        assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
}

static void test_lsn_text(void **s) {
    (void)s;
    uint64_t v;
    char out[32];
    assert_int_equal(cdc_lsn_parse("16/B374D848", &v), ST_OK);
    assert_true(v == 0x16B374D848ULL);
    cdc_lsn_format(v, out);
    assert_string_equal(out, "16/B374D848");
    cdc_lsn_format(0, out);
    assert_string_equal(out, "0/0");
    assert_int_equal(cdc_lsn_parse("16/B374D848x", &v), ST_EINVAL);
    assert_int_equal(cdc_lsn_parse("", &v), ST_EINVAL);
    assert_int_equal(cdc_lsn_parse(NULL, &v), ST_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_begin_commit),      cmocka_unit_test(test_relation),
        cmocka_unit_test(test_insert_kinds),      cmocka_unit_test(test_update_key_and_old),
        cmocka_unit_test(test_delete_and_truncate), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_slot_names),        cmocka_unit_test(test_lsn_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
