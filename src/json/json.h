/*
 * json — a small JSON writer and reader for command output (--json) and
 * `state export` / `state import`.
 *
 * Writer: a growable buffer with explicit begin/end calls; it tracks commas
 * itself so callers never emit separators. Strings are escaped per RFC 8259
 * (control characters as \u00XX); output is compact, one document per call.
 *
 * Reader: json_parse() builds a tree of json_value nodes owned by the root;
 * json_free(root) releases it. jansson parses (json_read.c); errors give the
 * byte offset, line and column and what was expected. Numbers are kept as
 * double and as int64 when integral.
 *
 * The writer stays our own, for measured reasons (json_write.c's header).
 */
#ifndef ST_JSON_H
#define ST_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../error/st_error.h"

/* --- writer --- */
typedef struct json_writer {
    char *buf;
    size_t len, cap;
    int depth;
    bool need_comma[64];
    bool failed;   /* out of memory */
} json_writer;

void json_init(json_writer *w);
void json_release(json_writer *w);     /* frees buf */
void json_begin_object(json_writer *w);
void json_end_object(json_writer *w);
void json_begin_array(json_writer *w);
void json_end_array(json_writer *w);
void json_key(json_writer *w, const char *key);
void json_string(json_writer *w, const char *s);   /* NULL writes null */
void json_int(json_writer *w, int64_t v);
void json_double(json_writer *w, double v);
void json_bool(json_writer *w, bool v);
void json_null(json_writer *w);
/* Instant as ISO-8601 string, or null for ST_TIME_NONE. */
void json_time(json_writer *w, int64_t t);
/* Shorthands: key + value. */
void json_kv_string(json_writer *w, const char *key, const char *s);
void json_kv_int(json_writer *w, const char *key, int64_t v);
void json_kv_bool(json_writer *w, const char *key, bool v);
void json_kv_time(json_writer *w, const char *key, int64_t t);
/* A string that is null when NULL or empty: unknown is null, never "". */
void json_kv_text(json_writer *w, const char *key, const char *s);
/* A duration in seconds with millisecond precision (4.637); null when
 * negative or not finite (unknown). The shared `duration_s` format. */
void json_kv_seconds(json_writer *w, const char *key, double seconds);

/* --- reader --- */
typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    bool boolean;
    double number;
    int64_t integer;     /* valid when is_integer */
    bool is_integer;
    char *string;        /* JSON_STRING */
    size_t n;            /* array / object size */
    json_value **items;  /* array items or object values */
    char **keys;         /* object keys, parallel to items */
};

int json_parse(json_value **out, const char *text, size_t len, st_error *err);
void json_free(json_value *v);
/* Object member by key, NULL if absent or v is not an object. */
const json_value *json_get(const json_value *v, const char *key);

#endif
