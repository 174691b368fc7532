/*
 * test_cdc_figures — what a cdc run records about its slot (src/cdc/
 * cdc_figures.c) over a real SQLite state store: recorded figures read back;
 * nothing recorded reads as unknown; a strategy without a saved position
 * (never run, or its slot dropped by `synctool cdc drop`, which empties the
 * watermark) reads as unknown whatever an older run recorded, so no surface
 * shows (and no alert fires on) a slot that no longer exists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../src/cdc/cdc.h"
#include "../../src/time/st_time.h"
#include "support/state_tmp.h"

typedef struct fx {
    state_tmp t;
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (f == NULL || state_tmp_open(&f->t, "/tmp/test_cdc_figures.XXXXXX") != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    int rc = state_tmp_close(&f->t);
    free(f);
    return rc;
}

static void assert_unknown(const cdc_figures *g) {
    assert_int_equal(g->retained, -1);
    assert_int_equal(g->lag, -1);
    assert_true(g->confirmed_at == ST_TIME_NONE);
}

static void test_recorded_figures_read_back(void **state) {
    fx *f = *state;
    cdc_figures g;
    cdc_figures_read(f->t.st, "orders", "cdc", &g);
    assert_unknown(&g);                                   /* never ran */
    assert_int_equal(state_meta_put(f->t.st, "orders", "cdc", "watermark", "0/16B3748", NULL),
                     ST_OK);
    cdc_figures_read(f->t.st, "orders", "cdc", &g);
    assert_unknown(&g);                                   /* a slot, nothing recorded yet */
    assert_int_equal(cdc_figures_record(f->t.st, "orders", "cdc", 1234567, 89, NULL), ST_OK);
    cdc_figures_read(f->t.st, "orders", "cdc", &g);
    assert_int_equal(g.retained, 1234567);
    assert_int_equal(g.lag, 89);
    assert_true(g.confirmed_at == ST_TIME_NONE);          /* no run applied everything yet */
    int64_t at = 1760522760LL * ST_USEC;
    assert_int_equal(cdc_figures_confirmed(f->t.st, "orders", "cdc", at, NULL), ST_OK);
    cdc_figures_read(f->t.st, "orders", "cdc", &g);
    assert_true(g.confirmed_at == at);
    /* a negative figure (a slot ahead of the position read) is recorded as 0 */
    assert_int_equal(cdc_figures_record(f->t.st, "orders", "cdc", -5, -1, NULL), ST_OK);
    cdc_figures_read(f->t.st, "orders", "cdc", &g);
    assert_int_equal(g.retained, 0);
    assert_int_equal(g.lag, 0);
    /* another strategy's figures are its own */
    cdc_figures_read(f->t.st, "orders", "cdc2", &g);
    assert_unknown(&g);
}

static void test_dropped_slot_reads_unknown(void **state) {
    fx *f = *state;
    assert_int_equal(state_meta_put(f->t.st, "orders", "cdc", "watermark", "0/16B3748", NULL),
                     ST_OK);
    assert_int_equal(cdc_figures_record(f->t.st, "orders", "cdc", 1 << 30, 1 << 20, NULL), ST_OK);
    assert_int_equal(cdc_figures_confirmed(f->t.st, "orders", "cdc", 42, NULL), ST_OK);
    /* `synctool cdc drop` empties the watermark */
    assert_int_equal(state_meta_put(f->t.st, "orders", "cdc", "watermark", "", NULL), ST_OK);
    cdc_figures g;
    cdc_figures_read(f->t.st, "orders", "cdc", &g);
    assert_unknown(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recorded_figures_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_slot_reads_unknown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
