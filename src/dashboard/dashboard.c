/*
 * dashboard — path lookup over the embedded assets (see dashboard.h).
 *
 * The table `dashboard_embedded` is generated at build time from the files
 * of src/dashboard/assets/ (scripts/embed-assets). Lookup is by exact file
 * name against that table, so there is no file system access and no way
 * for a request path to reach anything but those files. The content type
 * comes from the extension; text types say charset=utf-8.
 */
#include "dashboard.h"

#include <string.h>

struct dashboard_embedded {
    const char *name;
    const unsigned char *data;
    size_t len;
};
extern const struct dashboard_embedded dashboard_embedded[];
extern const size_t dashboard_embedded_count;

static const char *type_of(const char *name) {
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

int dashboard_asset(const char *path, const char **body, size_t *len,
                    const char **content_type) {
    if (path == NULL) return -1;
    const char *name = NULL;
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
        name = "index.html";
    else if (strncmp(path, "/static/", 8) == 0)
        name = path + 8;
    if (name == NULL || name[0] == '\0' || strchr(name, '/') || strstr(name, ".."))
        return -1;
    for (size_t i = 0; i < dashboard_embedded_count; i++) {
        if (strcmp(dashboard_embedded[i].name, name) != 0) continue;
        *body = (const char *)dashboard_embedded[i].data;
        *len = dashboard_embedded[i].len;
        *content_type = type_of(name);
        return 0;
    }
    return -1;
}
