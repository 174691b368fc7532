/*
 * cdc_names — the names synctool gives a pipeline's replication slot and
 * publication, and LSN text (cdc.h).
 *
 * PostgreSQL slot names allow only lower-case letters, digits and '_' and
 * at most 63 bytes; pipeline names allow more and up to CONFIG_NAME_MAX.
 * The name is "synctool_" + the sanitised pipeline name cut to 40 bytes +
 * "_" + 8 hex digits of md5(pipeline name): two pipelines whose names
 * sanitise or cut to the same text still get different slots, and
 * `synctool check` tells synctool's slots ("synctool_" prefix) from others.
 */
#include "cdc.h"
#include "../store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void cdc_slot_name(const char *pipeline, char out[CDC_NAME_MAX]) {
    char clean[41];
    size_t k = 0;
    for (const char *p = pipeline; *p && k < 40; p++) {
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        clean[k++] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch : '_';
    }
    clean[k] = '\0';
    char hex[33];
    store_md5_hex(pipeline, strlen(pipeline), hex);
    snprintf(out, CDC_NAME_MAX, "synctool_%s_%.8s", clean, hex);
}

int cdc_lsn_parse(const char *s, uint64_t *out) {
    unsigned int hi, lo;
    int used = 0;
    if (s == NULL || sscanf(s, "%X/%X%n", &hi, &lo, &used) != 2 || s[used] != '\0')
        return ST_EINVAL;
    *out = ((uint64_t)hi << 32) | lo;
    return ST_OK;
}

void cdc_lsn_format(uint64_t lsn, char out[32]) {
    snprintf(out, 32, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
}

bool cdc_source_supported(const config_datastore *ds) {
    return ds != NULL && ds->type == CONFIG_DS_POSTGRES;
}
