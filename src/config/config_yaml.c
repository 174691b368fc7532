/*
 * config_yaml — libyaml event stream to a positioned node tree.
 *
 * libyaml's document API would do the same job, but its nodes live in one
 * array per document and are addressed by index; a tiny tree of our own is
 * easier to walk and lets us keep exactly what validation needs: the kind,
 * the scalar text, whether a plain scalar means null, and the 1-based
 * line/column of each node (libyaml marks are 0-based).
 *
 * The builder is recursive over the events of one node, with a depth limit
 * so a hostile file cannot exhaust the stack. Anchors are ignored and
 * aliases are refused (a config file has no need for them, and sharing
 * nodes would give the tree two owners). Only the first document of a
 * stream is used; a second one is a problem. Syntax errors are reported at
 * libyaml's problem mark; reader errors (bad UTF-8) carry a byte offset,
 * which we turn into a line and column by scanning the text ourselves.
 *
 * Every allocation failure sets ld->oom and unwinds; the caller reports it.
 */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_YAML_MAX_DEPTH 64

typedef struct yaml_builder {
    config_loader *ld;
    yaml_parser_t parser;
    const char *text;
    size_t len;
} yaml_builder;

/* --- nodes --- */

void config_node_free(config_node *n) {
    if (n == NULL) return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys) config_node_free(n->keys[i]);
        config_node_free(n->vals[i]);
    }
    free(n->keys);
    free(n->vals);
    free(n->value);
    free(n);
}

static config_node *node_new(yaml_builder *b, config_node_kind kind, yaml_mark_t m) {
    config_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        b->ld->oom = true;
        return NULL;
    }
    n->kind = kind;
    n->line = (int)m.line + 1;
    n->col = (int)m.column + 1;
    return n;
}

/* Appends (key, val) to a map, or val to a sequence (key NULL). */
static int node_append(yaml_builder *b, config_node *parent, config_node *key,
                       config_node *val) {
    config_node **vals = realloc(parent->vals, (parent->n + 1) * sizeof *vals);
    if (vals == NULL) goto oom;
    parent->vals = vals;
    if (parent->kind == CONFIG_NODE_MAP) {
        config_node **keys = realloc(parent->keys, (parent->n + 1) * sizeof *keys);
        if (keys == NULL) goto oom;
        parent->keys = keys;
        keys[parent->n] = key;
    }
    vals[parent->n++] = val;
    return 0;
oom:
    b->ld->oom = true;
    config_node_free(key);
    config_node_free(val);
    return ST_ENOMEM;
}

static bool plain_is_null(const char *v) {
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* --- errors --- */

/* Line and column (1-based) of byte `off` in the text. */
static void offset_position(const yaml_builder *b, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < b->len; i++) {
        if (b->text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)b->text[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

static int syntax_error(yaml_builder *b) {
    yaml_parser_t *p = &b->parser;
    if (p->error == YAML_MEMORY_ERROR) {
        b->ld->oom = true;
        return ST_ENOMEM;
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_position(b, p->problem_offset, &line, &col);
    } else {
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
    }
    if (p->context)
        config_problem_add(b->ld, line, col, "YAML syntax error: %s (%s at line %d)",
                           problem, p->context, (int)p->context_mark.line + 1);
    else
        config_problem_add(b->ld, line, col, "YAML syntax error: %s", problem);
    return ST_EINVAL;
}

static int next_event(yaml_builder *b, yaml_event_t *ev) {
    if (!yaml_parser_parse(&b->parser, ev)) return syntax_error(b);
    return 0;
}

/* --- tree building --- */

static int build_node(yaml_builder *b, yaml_event_t *ev, int depth, config_node **out);

static int build_scalar(yaml_builder *b, yaml_event_t *ev, config_node **out) {
    config_node *n = node_new(b, CONFIG_NODE_SCALAR, ev->start_mark);
    if (n == NULL) return ST_ENOMEM;
    size_t len = ev->data.scalar.length;
    n->value = malloc(len + 1);
    if (n->value == NULL) {
        b->ld->oom = true;
        free(n);
        return ST_ENOMEM;
    }
    memcpy(n->value, ev->data.scalar.value, len);
    n->value[len] = '\0';
    n->is_null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                 ev->data.scalar.tag == NULL && plain_is_null(n->value);
    *out = n;
    return 0;
}

/* Reads one entry of a collection: a sequence item, or a map key and value.
 * Sets *end when the collection's end event came instead. */
static int build_entry(yaml_builder *b, bool is_map, yaml_event_type_t end_type, int depth,
                       config_node **key, config_node **val, bool *end) {
    yaml_event_t ev;
    *end = false;
    int rc = next_event(b, &ev);
    if (rc != 0) return rc;
    if (ev.type == end_type) {
        yaml_event_delete(&ev);
        *end = true;
        return 0;
    }
    rc = build_node(b, &ev, depth + 1, is_map ? key : val);
    if (rc != 0 || !is_map) return rc;
    rc = next_event(b, &ev);
    if (rc == 0) rc = build_node(b, &ev, depth + 1, val);
    if (rc != 0) {
        config_node_free(*key);
        *key = NULL;
    }
    return rc;
}

/* Builds the children of a sequence or mapping whose start event was `start`,
 * consuming events up to and including the matching end event. */
static int build_collection(yaml_builder *b, yaml_event_t *start, int depth,
                            config_node **out) {
    bool is_map = start->type == YAML_MAPPING_START_EVENT;
    yaml_event_type_t end_type = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    config_node *n = node_new(b, is_map ? CONFIG_NODE_MAP : CONFIG_NODE_SEQ,
                              start->start_mark);
    if (n == NULL) return ST_ENOMEM;
    if (depth >= CONFIG_YAML_MAX_DEPTH) {
        config_problem_add(b->ld, n->line, n->col, "nesting deeper than %d levels",
                           CONFIG_YAML_MAX_DEPTH);
        free(n);
        return ST_EINVAL;
    }
    for (;;) {
        config_node *key = NULL, *val = NULL;
        bool end;
        int rc = build_entry(b, is_map, end_type, depth, &key, &val, &end);
        if (rc == 0 && end) break;
        if (rc == 0) rc = node_append(b, n, key, val);
        if (rc != 0) {
            config_node_free(n);
            return rc;
        }
    }
    *out = n;
    return 0;
}

/* Builds the node that starts with `ev` (which it deletes). */
static int build_node(yaml_builder *b, yaml_event_t *ev, int depth, config_node **out) {
    int rc;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        rc = build_scalar(b, ev, out);
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        rc = build_collection(b, ev, depth, out);
        break;
    case YAML_ALIAS_EVENT:
        config_problem_add(b->ld, (int)ev->start_mark.line + 1,
                           (int)ev->start_mark.column + 1,
                           "YAML aliases (*%s) are not supported", ev->data.alias.anchor);
        rc = ST_EINVAL;
        break;
    default:
        config_problem_add(b->ld, (int)ev->start_mark.line + 1,
                           (int)ev->start_mark.column + 1, "unexpected YAML event");
        rc = ST_EINVAL;
        break;
    }
    yaml_event_delete(ev);
    return rc;
}

/* Skips to the first event after STREAM_START / DOCUMENT_START. Sets *done
 * when the stream holds no document. */
static int read_document_start(yaml_builder *b, yaml_event_t *ev, bool *done) {
    *done = false;
    for (;;) {
        int rc = next_event(b, ev);
        if (rc != 0) return rc;
        if (ev->type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(ev);
            *done = true;
            return 0;
        }
        if (ev->type != YAML_STREAM_START_EVENT && ev->type != YAML_DOCUMENT_START_EVENT)
            return 0;
        yaml_event_delete(ev);
    }
}

/* After the root node: DOCUMENT_END, then STREAM_END or a refused 2nd document. */
static int read_document_end(yaml_builder *b) {
    yaml_event_t ev;
    int rc = next_event(b, &ev);
    if (rc != 0) return rc;
    yaml_event_delete(&ev); /* DOCUMENT_END */
    rc = next_event(b, &ev);
    if (rc != 0) return rc;
    if (ev.type == YAML_DOCUMENT_START_EVENT) {
        config_problem_add(b->ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                           "only one YAML document per file is allowed");
        rc = ST_EINVAL;
    }
    yaml_event_delete(&ev);
    return rc;
}

int config_yaml_parse(config_loader *ld, const char *text, size_t len, config_node **out) {
    yaml_builder b = {.ld = ld, .text = text, .len = len};
    *out = NULL;
    if (!yaml_parser_initialize(&b.parser)) {
        ld->oom = true;
        return ST_ENOMEM;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
    yaml_event_t ev;
    bool empty;
    config_node *root = NULL;
    int rc = read_document_start(&b, &ev, &empty);
    if (rc == 0 && !empty) {
        rc = build_node(&b, &ev, 0, &root);
        if (rc == 0) rc = read_document_end(&b);
    }
    yaml_parser_delete(&b.parser);
    if (rc != 0) {
        config_node_free(root);
        return rc;
    }
    *out = root;
    return 0;
}
