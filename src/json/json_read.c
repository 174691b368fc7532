/* json reader — placeholder until the parser lands. */
#include "json.h"

int json_parse(json_value **out, const char *text, size_t len, st_error *err) { (void)text; (void)len; *out = NULL; return st_error_set(err, ST_ENOTIMPL, "json parse: not implemented"); }
void json_free(json_value *v) { (void)v; }
const json_value *json_get(const json_value *v, const char *key) { (void)v; (void)key; return NULL; }
