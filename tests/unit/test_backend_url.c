/*
 * test_backend_url — the one parser and the one redactor of the backend
 * URL (src/url): parts and defaults, %XX decoding, passwords holding
 * '/', '@', ':' and '%', IPv6 hosts, SQLite paths, rediss:// flagged, bad
 * URLs refused with a message that never quotes the text, the redactor
 * never printing a password, and the secret form handed to a child process
 * parsing back to the same value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../src/url/backend_url.h"

static backend_url parse_ok(const char *text) {
    backend_url u;
    st_error err;
    if (burl_parse(&u, text, &err) != ST_OK) fail_msg("%s: %s", text, err.msg);
    return u;
}

static const char *shown(const backend_url *u) {
    static char buf[600];
    return burl_redact(u, buf, sizeof buf);
}

static void test_redis_defaults_and_parts(void **s) {
    (void)s;
    backend_url u = parse_ok("redis://localhost");
    assert_int_equal(u.kind, BURL_REDIS);
    assert_false(u.tls);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(shown(&u), "redis://localhost:6379/0");
    u = parse_ok("redis://bob:s3cret@10.0.0.1:7000/5");
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 5);
    assert_string_equal(shown(&u), "redis://***@10.0.0.1:7000/5");
    u = parse_ok("redis://justpw@h");
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "justpw");
    assert_string_equal(shown(&u), "redis://***@h:6379/0");
    u = parse_ok("redis://h:1/");
    assert_int_equal(u.db, 0);
    u = parse_ok("redis://h/3");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 3);
}

/* The userinfo ends at the LAST '@'; %XX is decoded; the redactor shows
 * none of it. */
static void test_passwords_with_separators_and_escapes(void **s) {
    (void)s;
    static const struct { const char *url, *user, *password; } cases[] = {
        {"redis://default:pa/ss@w:rd%25x@127.0.0.1:6380/0", "default", "pa/ss@w:rd%x"},
        {"redis://:p@ss@h:1/", "", "p@ss"},
        {"redis://:a/b/c@h:1/2", "", "a/b/c"},
        {"redis://u%40x:p%3Aw%2Fd%25@h:1/0", "u@x", "p:w/d%"},
        {"redis://:%7e%41@h:1/0", "", "~A"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        backend_url u = parse_ok(cases[i].url);
        assert_string_equal(u.user, cases[i].user);
        assert_string_equal(u.password, cases[i].password);
        assert_int_equal(u.port, strstr(cases[i].url, "6380") ? 6380 : 1);
        const char *text = shown(&u);
        assert_null(strstr(text, cases[i].password));
        if (cases[i].user[0]) assert_null(strstr(text, cases[i].user));
        assert_non_null(strstr(text, "***@"));
        assert_null(strstr(text, "%"));
    }
}

static void test_ipv6_host(void **s) {
    (void)s;
    backend_url u = parse_ok("redis://[::1]");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6379);
    assert_string_equal(shown(&u), "redis://[::1]:6379/0");
    u = parse_ok("redis://:pw@[fe80::1]:7001/4");
    assert_string_equal(u.host, "fe80::1");
    assert_int_equal(u.port, 7001);
    assert_int_equal(u.db, 4);
    assert_string_equal(shown(&u), "redis://***@[fe80::1]:7001/4");
}

static void test_sqlite_paths(void **s) {
    (void)s;
    backend_url u = parse_ok("sqlite:/var/lib/synctool/state.db");
    assert_int_equal(u.kind, BURL_SQLITE);
    assert_string_equal(u.path, "/var/lib/synctool/state.db");
    assert_string_equal(shown(&u), "sqlite:/var/lib/synctool/state.db");
    u = parse_ok("sqlite:./state/st.db");   /* the config makes it absolute */
    assert_string_equal(u.path, "./state/st.db");
    u = parse_ok("sqlite:relative.db");
    assert_string_equal(u.path, "relative.db");
    u = parse_ok("sqlite:///abs/x.db");
    assert_string_equal(u.path, "/abs/x.db");
}

static void test_rediss_is_flagged(void **s) {
    (void)s;
    backend_url u = parse_ok("rediss://default:s3cret@127.0.0.1:6380/0");
    assert_int_equal(u.kind, BURL_REDIS);
    assert_true(u.tls);
    assert_string_equal(shown(&u), "rediss://***@127.0.0.1:6380/0");
}

static void test_bad_urls_refused_without_echo(void **s) {
    (void)s;
    static const char usage[] =
        "unsupported state URL (expected sqlite:PATH, redis://HOST:PORT/DB or "
        "postgresql://USER@HOST:PORT/DB)";
    static const struct { const char *url, *msg; } cases[] = {
        {"http://h:1/0", usage},
        {"pw-garbage", usage},
        {"", usage},
        {"mysql://x", usage},
        {"Redis://h", usage},
        {"sqlite:", "bad SQLite URL: no path"},
        {"redis:///0", "bad Redis URL: no host"},
        {"redis://:pw@:1/0", "bad Redis URL: no host"},
        {"redis://::1/0", "bad Redis URL: no host"},
        {"redis://[::1/0", "bad Redis URL: unclosed [ in the host"},
        {"redis://[::1]x/0", "bad Redis URL: bad host"},
        {"redis://h pw:1/0", "bad Redis URL: bad host"},
        {"redis://h:0/0", "bad Redis URL: bad port"},
        {"redis://h:65536/0", "bad Redis URL: bad port"},
        {"redis://h:12x/0", "bad Redis URL: bad port"},
        {"redis://h:/0", "bad Redis URL: bad port"},
        {"redis://h:1/x", "bad Redis URL: bad database number"},
        {"redis://h:1/-1", "bad Redis URL: bad database number"},
        {"redis://h:1/0?pw", "bad Redis URL: bad database number"},
        {"redis://u:pw%zz@h:1/0", "bad Redis URL: user or password is badly %-encoded or too long"},
        {"redis://u:pw%2@h:1/0", "bad Redis URL: user or password is badly %-encoded or too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        backend_url u;
        st_error err;
        assert_int_equal(burl_parse(&u, cases[i].url, &err), ST_EINVAL);
        assert_string_equal(err.msg, cases[i].msg);
        assert_null(strstr(err.msg, "pw"));
        assert_int_equal(u.kind, BURL_NONE);
        assert_string_equal(u.password, "");
    }
    backend_url u;
    st_error err;
    assert_int_equal(burl_parse(&u, NULL, &err), ST_EINVAL);
    assert_string_equal(err.msg, usage);
}

/* A field longer than its buffer is refused, never shortened. */
static void test_too_long_refused(void **s) {
    (void)s;
    char url[1400], pw[300];
    memset(pw, 'p', sizeof pw - 1);
    pw[sizeof pw - 1] = '\0';
    snprintf(url, sizeof url, "redis://:%s@h:1/0", pw);
    backend_url u;
    st_error err;
    assert_int_equal(burl_parse(&u, url, &err), ST_EINVAL);
    assert_null(strstr(err.msg, "ppp"));
    char path[1200] = "sqlite:/";
    memset(path + 8, 'd', 1100);
    path[1108] = '\0';
    assert_int_equal(burl_parse(&u, path, &err), ST_EINVAL);
    assert_string_equal(err.msg, "bad SQLite URL: path too long");
}

/* The hand-off form parses back to the same value. */
static void test_secret_form_round_trips(void **s) {
    (void)s;
    static const char *const urls[] = {
        "redis://default:pa/ss@w:rd%25x@127.0.0.1:6380/0", "redis://:%20sp ace@[::1]:1/9",
        "redis://u%3Ax@h", "rediss://h:2/1", "redis://h", "sqlite:/tmp/a b/state.db",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        backend_url a = parse_ok(urls[i]), b;
        char text[2048];
        assert_int_equal(burl_format_secret(&a, text, sizeof text), 0);
        b = parse_ok(text);
        assert_true(burl_equal(&a, &b));
    }
    backend_url a = parse_ok("redis://:pw@h:1/0");
    char small[10];
    assert_int_equal(burl_format_secret(&a, small, sizeof small), -1);
    assert_string_equal(small, "");
    backend_url none = {0};
    char text[16];
    assert_int_equal(burl_format_secret(&none, text, sizeof text), 0);
    assert_string_equal(text, "");
}

static void test_equal(void **s) {
    (void)s;
    backend_url a = parse_ok("redis://:pw@h:1/0"), b = parse_ok("redis://:pw@h:1"),
                c = parse_ok("redis://:other@h:1/0"), d = parse_ok("redis://h:1/1");
    assert_true(burl_equal(&a, &b));
    assert_false(burl_equal(&a, &c));
    assert_false(burl_equal(&a, &d));
}

/* postgresql:// (issue 24): libpq parses it; schema is ours; other
 * parameters pass through; the redactor masks the credentials. */
static void test_postgres_parts_and_defaults(void **s) {
    (void)s;
    backend_url u = parse_ok("postgresql://alice@db.example:6543/coord");
    assert_int_equal(u.kind, BURL_POSTGRES);
    assert_true(burl_distributed(&u));
    assert_string_equal(u.host, "db.example");
    assert_int_equal(u.port, 6543);
    assert_string_equal(u.user, "alice");
    assert_string_equal(u.password, "");
    assert_string_equal(u.dbname, "coord");
    assert_string_equal(u.schema, "synctool");
    assert_int_equal(u.nparams, 0);
    assert_string_equal(shown(&u), "postgresql://***@db.example:6543/coord?schema=synctool");
    u = parse_ok("postgres://h/d?schema=sync_2&sslmode=require&connect_timeout=3");
    assert_int_equal(u.port, 5432);
    assert_string_equal(u.schema, "sync_2");
    assert_int_equal(u.nparams, 2);   /* in libpq's order of keywords */
    assert_string_equal(u.param_key[0], "connect_timeout");
    assert_string_equal(u.param_val[0], "3");
    assert_string_equal(u.param_key[1], "sslmode");
    assert_string_equal(u.param_val[1], "require");
    assert_string_equal(shown(&u),
                        "postgresql://h:5432/d?schema=sync_2&connect_timeout=3&sslmode=require");
    backend_url r = parse_ok("redis://h");
    assert_true(burl_distributed(&r));
    backend_url q = parse_ok("sqlite:/x.db");
    assert_false(burl_distributed(&q));
}

static void test_postgres_password_never_shown(void **s) {
    (void)s;
    backend_url u = parse_ok("postgresql://bob:p%40ss%2Fw%3Ard@[::1]:5433/db?schema=s");
    assert_string_equal(u.password, "p@ss/w:rd");
    assert_string_equal(u.host, "::1");
    assert_string_equal(shown(&u), "postgresql://***@[::1]:5433/db?schema=s");
    char buf[1200];
    assert_int_equal(burl_format_secret(&u, buf, sizeof buf), 0);
    backend_url back = parse_ok(buf);
    assert_true(burl_equal(&u, &back));
    backend_url sock = parse_ok("postgresql://me@%2Fvar%2Frun%2Fpostgresql/db");
    assert_string_equal(sock.host, "/var/run/postgresql");
    assert_int_equal(burl_format_secret(&sock, buf, sizeof buf), 0);
    back = parse_ok(buf);
    assert_true(burl_equal(&sock, &back));
}

static void refused(const char *text, const char *want, const char *secret) {
    backend_url u;
    st_error err;
    assert_int_equal(burl_parse(&u, text, &err), ST_EINVAL);
    if (strstr(err.msg, want) == NULL) fail_msg("%s: got \"%s\", want \"%s\"", text, err.msg, want);
    if (secret != NULL && strstr(err.msg, secret) != NULL) fail_msg("secret echoed: %s", err.msg);
    assert_int_equal(u.kind, BURL_NONE);
    assert_string_equal(u.password, "");
}

static void test_postgres_bad_urls(void **s) {
    (void)s;
    refused("postgresql://h/d?schema=Bad-Name", "schema must be a plain lower-case identifier",
            NULL);
    refused("postgresql://h:99999/d", "bad PostgreSQL URL", NULL);
    refused("postgresql://u:hunter2@h/d?bogus=1", "bad PostgreSQL URL", "hunter2");
    refused("postgresql://u:hunter2@h/d?bogus=1", "libpq cannot parse it", "hunter2");
    refused("postgresql://h/d?nosuchkey=1", "nosuchkey", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_defaults_and_parts),
        cmocka_unit_test(test_passwords_with_separators_and_escapes),
        cmocka_unit_test(test_ipv6_host),
        cmocka_unit_test(test_sqlite_paths),
        cmocka_unit_test(test_rediss_is_flagged),
        cmocka_unit_test(test_bad_urls_refused_without_echo),
        cmocka_unit_test(test_too_long_refused),
        cmocka_unit_test(test_secret_form_round_trips),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_postgres_parts_and_defaults),
        cmocka_unit_test(test_postgres_password_never_shown),
        cmocka_unit_test(test_postgres_bad_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
