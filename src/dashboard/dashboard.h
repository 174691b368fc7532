/*
 * dashboard — the web dashboard's files, compiled into the binary.
 *
 * The pages are plain HTML, CSS and JavaScript under src/dashboard/assets/
 * (no CDN, no build toolchain: they work air-gapped). The Makefile turns
 * them into C arrays with scripts/embed-assets (xxd -i), so `synctool serve`
 * needs no files next to it. The http module answers GET / and GET
 * /static/<file> with dashboard_asset(); all data comes from /api/v1.
 */
#ifndef ST_DASHBOARD_H
#define ST_DASHBOARD_H

#include <stddef.h>

/* The Content-Security-Policy sent with the page: scripts and styles only
 * from the server itself (no inline script, no eval; inline style attributes
 * are allowed for the chart legend), data only from the API, no framing. */
#define DASHBOARD_CSP                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "            \
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "      \
    "frame-ancestors 'none'"

/* Looks up a request path: "/" and "/index.html" give the page,
 * "/static/<name>" a file of src/dashboard/assets/. Returns 0 and sets
 * *body (not NUL-terminated, static), *len and *content_type when found;
 * -1 otherwise (including any path with "..", a query or a subfolder). */
int dashboard_asset(const char *path, const char **body, size_t *len,
                    const char **content_type);

#endif
