/*
 * json reader — RFC 8259 text into a tree of json_value nodes, parsed by
 * jansson (libjansson, Debian's well-kept JSON library; issue 22).
 *
 * jansson does the parsing and the strictness RFC 8259 asks for: no
 * comments, trailing commas, single quotes, leading zeros, NaN/Infinity or
 * bare control characters; invalid UTF-8 and lone surrogates refused;
 * nothing but whitespace after the value (JSON_DECODE_ANY lets a scalar be
 * the document). On top of it this file adds what jansson cannot be told:
 *   - duplicate object keys are refused (JSON_REJECT_DUPLICATES): import
 *     files are data an operator wrote, and "the second one silently wins"
 *     hides mistakes;
 *   - a NUL byte anywhere is refused up front with its offset (jansson
 *     stops reading there and reports a confusing "end of file expected");
 *     \u0000 is refused by jansson because our strings are C strings;
 *   - nesting deeper than JSON_MAX_DEPTH (256) is refused while the tree is
 *     copied, so no caller that walks it recursively can exhaust the stack
 *     (jansson's own limit, 2048, is fixed when the library is built);
 *   - an integer that does not fit int64 is refused ("too big integer"),
 *     never silently turned into an approximate double.
 * Errors read "json: at byte N (line L, column C): <jansson's text>".
 *
 * The tree callers see is still json.h's json_value (fields read directly
 * all over the CLI, the API and the state backends): jansson's json_t is
 * copied into it and released at once. The copy is cheap next to parsing
 * and keeps every caller unchanged.
 *
 * Names: jansson.h and json.h both declare `json_type`, the constants
 * JSON_NULL/JSON_STRING/JSON_ARRAY/JSON_OBJECT and the functions
 * json_string() and json_null(). This is the only file that includes both:
 * jansson's type tags are copied into JT_* first, then json.h's names are
 * mapped onto st_-prefixed ones for this file only (same enum order, so the
 * same values every other file sees). Never call jansson's json_string()
 * or json_null(): libsynctool's writer exports functions of the same names,
 * and in a synctool binary those win at link time (jansson's own internal
 * calls are bound inside libjansson and are not affected).
 *
 * Speed: this is about half as fast as the hand-written parser it replaced
 * (commit 5e7f566's, measured side by side in one process on the shared VM
 * at load 5-9: a 40 MB history document 4.0-4.4 s against 2.1-2.3 s;
 * 100,000 one-line log records 0.32-0.74 s against 0.19-0.32 s; nearly all
 * of it in json_loadb, the copy below is small). No reading path is hot —
 * the largest inputs are `why`'s log lines and a page of Redis history —
 * so the measured cost does not outweigh 400 fewer lines of parser to keep.
 *
 * Ownership: json_parse() returns a root that owns every node, key and
 * string below it; json_free(root) releases all of it (NULL is a no-op).
 */
#include <jansson.h>

enum {
    JT_OBJECT = JSON_OBJECT, JT_ARRAY = JSON_ARRAY, JT_STRING = JSON_STRING,
    JT_INTEGER = JSON_INTEGER, JT_REAL = JSON_REAL, JT_TRUE = JSON_TRUE,
    JT_FALSE = JSON_FALSE, JT_NULL = JSON_NULL
};

#define json_type st_json_type
#define JSON_NULL ST_JSON_NULL
#define JSON_BOOL ST_JSON_BOOL
#define JSON_NUMBER ST_JSON_NUMBER
#define JSON_STRING ST_JSON_STRING
#define JSON_ARRAY ST_JSON_ARRAY
#define JSON_OBJECT ST_JSON_OBJECT
#define json_string st_json_writer_string
#define json_null st_json_writer_null
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 256

/* jansson's type tag as a plain int, comparable with JT_*. */
static int jt(const json_t *j) { return (int)json_typeof(j); }

void json_free(json_value *v) {
    if (v == NULL) return;
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
}

static int oom(st_error *err) { return st_error_set(err, ST_ENOMEM, "json: out of memory"); }

static int copy_node(json_value **out, const json_t *j, int depth, st_error *err);

/* Allocates room for n members (keys too for an object). */
static int reserve(json_value *v, size_t n) {
    if (n == 0) return ST_OK;
    if ((v->items = calloc(n, sizeof *v->items)) == NULL) return ST_ENOMEM;
    if (v->type == JSON_OBJECT && (v->keys = calloc(n, sizeof *v->keys)) == NULL) return ST_ENOMEM;
    return ST_OK;
}

/* Object members in document order (jansson keeps insertion order). */
static int copy_object(json_value *v, const json_t *j, int depth, st_error *err) {
    if (reserve(v, json_object_size(j)) != ST_OK) return oom(err);
    const char *key;
    json_t *item;
    json_object_foreach((json_t *)j, key, item) {
        if ((v->keys[v->n] = strdup(key)) == NULL) return oom(err);
        v->n++;   /* counted now: json_free releases the key on failure */
        int rc = copy_node(&v->items[v->n - 1], item, depth + 1, err);
        if (rc != ST_OK) return rc;
    }
    return ST_OK;
}

static int copy_array(json_value *v, const json_t *j, int depth, st_error *err) {
    if (reserve(v, json_array_size(j)) != ST_OK) return oom(err);
    size_t i;
    json_t *item;
    json_array_foreach(j, i, item) {
        int rc = copy_node(&v->items[v->n++], item, depth + 1, err);
        if (rc != ST_OK) return rc;
    }
    return ST_OK;
}

static void copy_number(json_value *v, const json_t *j) {
    if (jt(j) == JT_INTEGER) {
        v->integer = json_integer_value(j);
        v->number = (double)v->integer;
        v->is_integer = true;
        return;
    }
    v->number = json_real_value(j);
    if (v->number == floor(v->number) && fabs(v->number) < 9007199254740992.0) {
        v->is_integer = true;
        v->integer = (int64_t)v->number;
    }
}

static json_type type_of(const json_t *j) {
    switch (jt(j)) {
    case JT_OBJECT: return JSON_OBJECT;
    case JT_ARRAY: return JSON_ARRAY;
    case JT_STRING: return JSON_STRING;
    case JT_INTEGER: case JT_REAL: return JSON_NUMBER;
    case JT_TRUE: case JT_FALSE: return JSON_BOOL;
    default: return JSON_NULL;
    }
}

/* One jansson node (and everything below it) into *out. */
static int copy_node(json_value **out, const json_t *j, int depth, st_error *err) {
    json_value *v = calloc(1, sizeof *v);
    if ((*out = v) == NULL) return oom(err);
    v->type = type_of(j);
    if ((v->type == JSON_OBJECT || v->type == JSON_ARRAY) && depth >= JSON_MAX_DEPTH)
        return st_error_set(err, ST_EINVAL, "json: nesting deeper than %d levels", JSON_MAX_DEPTH);
    switch (v->type) {
    case JSON_OBJECT: return copy_object(v, j, depth, err);
    case JSON_ARRAY: return copy_array(v, j, depth, err);
    case JSON_STRING:
        return (v->string = strdup(json_string_value(j))) ? ST_OK : oom(err);
    case JSON_NUMBER: copy_number(v, j); return ST_OK;
    case JSON_BOOL: v->boolean = jt(j) == JT_TRUE; return ST_OK;
    default: return ST_OK;
    }
}

int json_parse(json_value **out, const char *text, size_t len, st_error *err) {
    *out = NULL;
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL)
        return st_error_set(err, ST_EINVAL, "json: at byte %zu: NUL byte in input",
                            (size_t)(nul - text));
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        if (json_error_code(&je) == json_error_out_of_memory) return oom(err);
        return st_error_set(err, ST_EINVAL, "json: at byte %d (line %d, column %d): %s",
                            je.position, je.line, je.column, je.text);
    }
    json_value *v = NULL;
    int rc = copy_node(&v, root, 0, err);
    json_decref(root);
    if (rc != ST_OK) {
        json_free(v);
        return rc;
    }
    *out = v;
    return ST_OK;
}

const json_value *json_get(const json_value *v, const char *key) {
    if (v == NULL || v->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0) return v->items[i];
    return NULL;
}
