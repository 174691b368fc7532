/*
 * store_dtoa — shortest round-trip decimal digits of a double, in one pass.
 *
 * The canonical text of a REAL (store.h) is its shortest decimal that
 * reads back as the same double, as PostgreSQL's float8out (Ryu) prints
 * it. The old way (one snprintf("%.*e") + strtod per precision, 1 to 17
 * times per value) was half of the CPU of a SQLite sync.
 *
 * The algorithm is Ryu's (Ulf Adams, "Ryū: fast float-to-string
 * conversion", PLDI 2018), written from the paper's description: the
 * value v = m * 2^e and the two halfway points to its neighbours, (m -
 * 1/2) and (m + 1/2) * 2^e, are scaled by a power of ten 10^k so that they
 * have 18 or 19 decimal digits; then decimal digits are removed from all
 * three at once while the scaled bounds still differ in the removed
 * position. What remains is the shortest digit string inside the
 * interval; the last removed digit (and whether everything removed was
 * zero) rounds it to the closest one, ties to even. Bounds are inside the
 * interval only when m is even (round-half-even reads them back as v).
 *
 * Where Ryu multiplies by 128-bit approximations of 10^k from a table and
 * proves the error harmless, this file computes the scaled values exactly
 * with unsigned __int128: 10^k = 5^k * 2^k, and 4m * 5^k < 2^128 for
 * k <= 31, so the product is exact and the power of two is a shift whose
 * dropped bits say exactly whether the value was an integer. For k < 0
 * the division by 10^-k is exact integer division. That covers every
 * double from about 1e-14 to 2^70 (every price, amount, measure, epoch
 * or ratio a table holds); outside it (and for subnormals) the digits come
 * from the printf search, which is exact but slow. Nothing else: no
 * tables, no approximations. test_store.c checks it against the search on
 * a million values of every shape.
 */
#include "store_canon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* %.*e digits: fills d with the significant digits (trailing zeros
 * dropped) and the exponent; returns 1 if they read back as v. */
static int printf_digits(double v, int prec, char *d, int *exp10) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
    int ok = strtod(tmp, NULL) == v;
    int k = 0;
    const char *q = tmp;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') d[k++] = *q;
    while (k > 1 && d[k - 1] == '0') k--;
    d[k] = '\0';
    *exp10 = atoi(q + 1);
    return ok;
}

static int search_digits(double a, char *d, int *exp10) {
    for (int p = 1; p < 17; p++)
        if (printf_digits(a, p, d, exp10)) return (int)strlen(d);
    printf_digits(a, 17, d, exp10);
    return (int)strlen(d);
}

/* x * 2^e * 10^k, floored, and whether it was exact. 0 if out of range. */
static int scale_exact(uint64_t x, int e, int k, uint64_t *out, int *exact) {
    u128 n = x;
    if (k >= 0) {
        for (int i = 0; i < k; i++) n *= 5;
        int s = k + e;
        if (s >= 0) {
            if (s > 20) return 0;
            n <<= s;
            *exact = 1;
        } else {
            if (-s >= 128) return 0;
            *exact = (n & (((u128)1 << -s) - 1)) == 0;
            n >>= -s;
        }
    } else {
        if (e < 0 || e > 70) return 0;
        n <<= e;
        u128 p = 1;
        for (int i = 0; i < -k; i++) p *= 10;
        *exact = n % p == 0;
        n /= p;
    }
    if (n >> 64) return 0;
    *out = (uint64_t)n;
    return 1;
}

/* The digits of r * 10^-s (r > 0), trailing zeros dropped. */
static int int_digits(uint64_t r, int s, char *d, int *exp10) {
    char tmp[24];
    int n = 0;
    for (; r > 0; r /= 10) tmp[n++] = (char)('0' + r % 10);
    int lo = 0;
    while (lo < n - 1 && tmp[lo] == '0') lo++;
    int len = 0;
    for (int i = n - 1; i >= lo; i--) d[len++] = tmp[i];
    d[len] = '\0';
    *exp10 = n - 1 - s;
    return len;
}

/* Few decimals (prices, amounts: what a NUMERIC column holds as a SQLite
 * REAL): when a is the double nearest to r / 10^s for an integer r, and
 * a * 10^s < 2^50, r / 10^s (trailing zeros dropped) IS the shortest
 * round-trip string: any two multiples of 10^-s are more than one ulp
 * apart there, so no other decimal with at most s fraction digits reads
 * back as a, and one with fewer significant digits has fewer fraction
 * digits (or is smaller than a's leading power of ten by more than
 * 10^-s). The check is exact: r < 2^50 is a double and r / 10^s one
 * correctly rounded division. 0: not such a value (Ryu decides). */
static int few_decimals(double a, char *d, int *exp10) {
    static const double p4 = 10000.0;
    if (a < 0x1p50 / p4) {
        double r = nearbyint(a * p4);
        if (r > 0 && r / p4 == a) return int_digits((uint64_t)r, 4, d, exp10);
    } else if (a < 0x1p50 && a == floor(a)) {
        return int_digits((uint64_t)a, 0, d, exp10);
    }
    return 0;
}

int store_dtoa_shortest(double v, char d[STORE_DTOA_DIGITS], int *exp10) {
    double a = fabs(v);
    if (a == 0 || !isfinite(a)) {
        strcpy(d, "0");
        *exp10 = 0;
        return 1;
    }
    int few = few_decimals(a, d, exp10);
    if (few > 0) return few;
    if (a < 1e-14 || a >= 1e21) return search_digits(a, d, exp10);
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    uint64_t frac = bits & ((UINT64_C(1) << 52) - 1);
    int bexp = (int)(bits >> 52);
    if (bexp == 0) return search_digits(a, d, exp10);
    uint64_t m = frac | (UINT64_C(1) << 52);
    int e = bexp - 1075;
    /* v = 4m * 2^(e-2); halfway points 4m +- 2 (the lower one 4m - 1 when
     * m is a power of two: the gap below is half as wide) */
    int lower_close = frac == 0 && bexp > 1;
    uint64_t mv = 4 * m, mp = 4 * m + 2, mm = 4 * m - 1 - (lower_close ? 0 : 1);
    int e2 = e - 2;
    int k = 18 - (int)floor(log10(a));
    if (k > 31) k = 31;
    uint64_t vr, vp, vm;
    int vr_exact, vp_exact, vm_exact;
    if (!scale_exact(mv, e2, k, &vr, &vr_exact) || !scale_exact(mp, e2, k, &vp, &vp_exact) ||
        !scale_exact(mm, e2, k, &vm, &vm_exact))
        return search_digits(a, d, exp10);
    int accept = (m & 1) == 0;   /* the bounds themselves read back as v */
    if (!accept && vp_exact) vp--;
    int vm_zeros = vm_exact && accept;  /* the lower bound is a candidate */
    int vr_zeros = vr_exact;            /* everything below vr's last digit is 0 */
    int last = 0, removed = 0;
    while (vp / 10 > vm / 10) {
        vm_zeros &= vm % 10 == 0;
        vr_zeros &= last == 0;
        last = (int)(vr % 10);
        vr /= 10;
        vp /= 10;
        vm /= 10;
        removed++;
    }
    if (vm_zeros) {
        while (vm % 10 == 0 && vm > 0) {
            vr_zeros &= last == 0;
            last = (int)(vr % 10);
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed++;
        }
    }
    if (vr_zeros && last == 5 && vr % 2 == 0) last = 4;   /* exact tie: to even */
    uint64_t out = vr + ((vr == vm && !vm_zeros) || last >= 5);
    return int_digits(out, k - removed, d, exp10);
}
