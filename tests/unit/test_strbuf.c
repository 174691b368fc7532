/*
 * test_strbuf — growable NUL-terminated strings, and reading a whole
 * descriptor or file into one (strbuf_read_fd / strbuf_read_file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/strbuf/strbuf.h"

static void test_appends_and_terminates(void **s) {
    (void)s;
    strbuf b = {0};
    assert_int_equal(strbuf_put(&b, "", 0), ST_OK);
    assert_string_equal(b.s, "");
    assert_int_equal(strbuf_put(&b, "abc", 3), ST_OK);
    assert_int_equal(strbuf_put(&b, "defXX", 3), ST_OK);
    assert_string_equal(b.s, "abcdef");
    assert_int_equal(b.len, 6);
    strbuf_release(&b);
    assert_null(b.s);
    assert_int_equal(b.len, 0);
    strbuf_release(NULL);
}

static void test_grows_past_many_doublings(void **s) {
    (void)s;
    strbuf b = {0};
    char chunk[100];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 1000; i++) assert_int_equal(strbuf_put(&b, chunk, sizeof chunk), ST_OK);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.s[b.len], '\0');
    assert_int_equal(strlen(b.s), 100000);
    strbuf_release(&b);
}

/* A pipe holding `text` (small enough for the pipe buffer), write end closed. */
static int pipe_with(const char *text, size_t n) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], text, n), (ssize_t)n);
    close(fds[1]);
    return fds[0];
}

static void test_read_fd(void **s) {
    (void)s;
    strbuf b = {0};
    int fd = pipe_with("", 0);
    assert_int_equal(strbuf_read_fd(&b, fd, 0), ST_OK);
    close(fd);
    assert_non_null(b.s); /* empty input is "", never NULL */
    assert_string_equal(b.s, "");
    fd = pipe_with("a\0b", 3); /* appends; binary-safe */
    assert_int_equal(strbuf_put(&b, "x", 1), ST_OK);
    assert_int_equal(strbuf_read_fd(&b, fd, 0), ST_OK);
    close(fd);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.s, "xa\0b", 5);
    strbuf_release(&b);
    /* the cap counts the bytes read, not what the buffer held before */
    fd = pipe_with("12345", 5);
    assert_int_equal(strbuf_put(&b, "ab", 2), ST_OK);
    assert_int_equal(strbuf_read_fd(&b, fd, 5), ST_OK);
    close(fd);
    assert_string_equal(b.s, "ab12345");
    strbuf_release(&b);
    fd = pipe_with("123456", 6);
    assert_int_equal(strbuf_read_fd(&b, fd, 5), ST_EINVAL);
    close(fd);
    assert_true(b.len <= 6);
    strbuf_release(&b);
    assert_int_equal(strbuf_read_fd(&b, -1, 0), ST_EUNAVAIL);
    assert_int_equal(errno, EBADF);
    strbuf_release(&b);
}

static void test_read_file(void **s) {
    (void)s;
    char path[] = "/tmp/test_strbuf.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = 300000; /* several read chunks */
    char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++) data[i] = (char)('a' + i % 26);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    strbuf b = {0};
    assert_int_equal(strbuf_read_file(&b, path, 0), ST_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.s, data, n);
    assert_int_equal(b.s[n], '\0');
    strbuf_release(&b);
    assert_int_equal(strbuf_read_file(&b, path, n), ST_OK);
    strbuf_release(&b);
    assert_int_equal(strbuf_read_file(&b, path, n - 1), ST_EINVAL);
    assert_true(b.len <= n);
    strbuf_release(&b);
    unlink(path);
    free(data);
    assert_int_equal(strbuf_read_file(&b, path, 0), ST_EUNAVAIL);
    assert_int_equal(errno, ENOENT);
    assert_null(b.s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends_and_terminates),
        cmocka_unit_test(test_grows_past_many_doublings),
        cmocka_unit_test(test_read_fd),
        cmocka_unit_test(test_read_file),
    };
    return cmocka_run_group_tests_name("strbuf", tests, NULL, NULL);
}
