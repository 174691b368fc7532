/* config — placeholder until the loader lands: every load says "not implemented". */
#include "config.h"

#include <stdlib.h>

int config_load(config **out, const char *dir, config_problems *problems, st_error *err) {
    (void)dir;
    *out = NULL;
    if (problems) problems->n = 0;
    return st_error_set(err, ST_ENOTIMPL, "config loading: not implemented");
}

void config_problems_clear(config_problems *p) {
    if (p == NULL) return;
    for (size_t i = 0; i < p->n; i++) free(p->items[i]);
    free(p->items);
    p->items = NULL;
    p->n = 0;
}

void config_free(config *cfg) { (void)cfg; }
const config_pipeline *config_pipeline_find(const config *cfg, const char *name) { (void)cfg; (void)name; return NULL; }
const config_strategy *config_strategy_find(const config_pipeline *p, const char *name) { (void)p; (void)name; return NULL; }
const config_datastore *config_datastore_find(const config *cfg, const char *name) { (void)cfg; (void)name; return NULL; }
const char *config_strategy_type_name(config_strategy_type t) { (void)t; return "?"; }
