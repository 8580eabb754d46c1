/* Minimal assertion helpers for C tests: a failed check prints file:line and the values,
 * and the test exits non-zero at the end (or at once with RTN_REQUIRE). */
#ifndef RTN_TEST_H
#define RTN_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int rtn_test_failures;
static int rtn_test_checks;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        rtn_test_checks++;                                                                \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
            rtn_test_failures++;                                                          \
        }                                                                                 \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                \
    do {                                                                                  \
        long long va_ = (long long)(a), vb_ = (long long)(b);                             \
        rtn_test_checks++;                                                                \
        if (va_ != vb_) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s = %lld, %s = %lld\n", __FILE__, \
                    __LINE__, #a, va_, #b, vb_);                                          \
            rtn_test_failures++;                                                          \
        }                                                                                 \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                             \
    do {                                                                                  \
        double va_ = (double)(a), vb_ = (double)(b);                                      \
        rtn_test_checks++;                                                                \
        if (!(fabs(va_ - vb_) <= (tol))) {                                                \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.17g, %s = %.17g (tol %g)\n",  \
                    __FILE__, __LINE__, #a, va_, #b, vb_, (double)(tol));                 \
            rtn_test_failures++;                                                          \
        }                                                                                 \
    } while (0)

#define REQUIRE(cond)                                                                     \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);   \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

/* Returns the exit code; also fails a test that checked nothing. */
static inline int rtn_test_finish(const char *name)
{
    if (rtn_test_checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    if (rtn_test_failures) {
        fprintf(stderr, "%s: %d of %d checks failed\n", name, rtn_test_failures, rtn_test_checks);
        return 1;
    }
    printf("%s: %d checks passed\n", name, rtn_test_checks);
    return 0;
}

#endif
