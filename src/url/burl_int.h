/*
 * burl_int — what the url module's files share: the PostgreSQL form's
 * parser, redactor and secret formatter (backend_url_pg.c) and the two
 * bounded appenders both formatters use.
 */
#ifndef ST_BURL_INT_H
#define ST_BURL_INT_H

#include "backend_url.h"

int burl_parse_pg(backend_url *u, const char *text, st_error *err);
void burl_redact_pg(const backend_url *u, char *buf, size_t n);
int burl_format_pg(const backend_url *u, char *buf, size_t n);

/* Copies [p, end) into dst (n bytes) decoding %XX; -1 on a bad escape or
 * when it does not fit. */
int burl_pct_decode(char *dst, size_t n, const char *p, const char *end);

/* Append s to buf (n bytes) at *o; false when it does not fit. */
bool burl_put_text(char *buf, size_t n, size_t *o, const char *s);
/* The same, %-encoding all but RFC 3986's unreserved characters. */
bool burl_put_encoded(char *buf, size_t n, size_t *o, const char *s);

#endif
