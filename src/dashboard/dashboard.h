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

/* Looks up a request path: "/" and "/index.html" give the page,
 * "/static/<name>" a file of src/dashboard/assets/. Returns 0 and sets
 * *body (not NUL-terminated, static), *len and *content_type when found;
 * -1 otherwise (including any path with "..", a query or a subfolder). */
int dashboard_asset(const char *path, const char **body, size_t *len,
                    const char **content_type);

#endif
