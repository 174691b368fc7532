/*
 * store_dtoa — shortest round-trip decimal digits of a double, in one pass
 * for the values databases hold.
 *
 * The canonical text of a REAL (store.h) is its shortest decimal that
 * reads back as the same double, as PostgreSQL's float8out (Ryu) prints
 * it. The old way (one snprintf("%.*e") + strtod per precision, 1 to 17
 * times per value) was half of the CPU of a SQLite sync. Here:
 *
 *   1. integers below 2^53: the integer's own digits. Every double in
 *      that range is an integer with ulp <= 1, so no shorter decimal lies
 *      within half an ulp of it.
 *   2. the integer-scaled path, for 1e-15 <= |v| < 1e15 (prices, amounts,
 *      measurements: decimals of small scale): for s = 0, 1, 2, ... the
 *      candidate m = round(|v| * 10^s) is accepted when m < 10^15 and
 *      m / 10^s == |v| exactly in IEEE arithmetic (m and 10^s are exact
 *      doubles, the division is correctly rounded, so equality proves the
 *      decimal m * 10^-s reads back as v). Any two different decimals of
 *      at most 15 significant digits read back as different doubles
 *      (DBL_DIG = 15), so the first accepted candidate is the only decimal
 *      of <= 15 digits that reads back as v, hence the shortest (with s
 *      minimal, no trailing zeros). The product |v| * 10^s is off from the
 *      true m by far less than 0.5 while m < 2^50, so a decimal of scale s
 *      is always found at s. Cost: at most 16 multiply/round/divide steps.
 *   3. everything else (16-17 significant digits: computed results like
 *      0.1 + 0.2; magnitudes outside the band; subnormals): %.15e (16
 *      digits) and, if that does not read back, %.16e (17 digits, always
 *      exact) — at most two snprintf, and only when step 2 proved that 15
 *      digits cannot do. Outside the band the general search from 1 digit.
 *
 * No digit tables, no big integers: exact by the argument above, checked
 * against the printf search on millions of values in test_store.c.
 */
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Digits of m (> 0) into d, trailing zeros dropped; returns the count and
 * sets *ndig_int to the number of digits of m. */
static int u64_digits(uint64_t m, char *d, int *ndig_int) {
    char tmp[24];
    int k = 0;
    while (m > 0) { tmp[k++] = (char)('0' + m % 10); m /= 10; }
    *ndig_int = k;
    int lo = 0;
    while (lo < k - 1 && tmp[lo] == '0') lo++;
    int n = 0;
    for (int i = k - 1; i >= lo; i--) d[n++] = tmp[i];
    d[n] = '\0';
    return n;
}

/* %.*e digits: fills d with the significant digits (trailing zeros kept
 * off) and the exponent; returns 1 if they read back as v. */
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

int store_dtoa_shortest(double v, char d[STORE_DTOA_DIGITS], int *exp10) {
    double a = fabs(v);
    if (a == 0 || !isfinite(a)) {
        strcpy(d, "0");
        *exp10 = 0;
        return 1;
    }
    int nint;
    if (a < 9007199254740992.0 && a == floor(a)) {
        int n = u64_digits((uint64_t)a, d, &nint);
        *exp10 = nint - 1;
        return n;
    }
    if (a >= 1e-15 && a < 1e15) {
        for (int s = 1; s <= 22; s++) {
            double m = nearbyint(a * pow10_tab[s]);
            if (m >= 1e15) break;
            if (m > 0 && m / pow10_tab[s] == a) {
                int n = u64_digits((uint64_t)m, d, &nint);
                *exp10 = nint - 1 - s;
                return n;
            }
        }
        for (int p = 16; p <= 17; p++)
            if (printf_digits(a, p, d, exp10) || p == 17) return (int)strlen(d);
    }
    for (int p = 1; p <= 17; p++)
        if (printf_digits(a, p, d, exp10) || p == 17) break;
    return (int)strlen(d);
}
