/* The BLAS that GSL's routines call is OpenBLAS, not GSL's reference gslcblas (Debian's
 * libgsl depends on libgslcblas, so it is loaded; its symbols must never win). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <gsl/gsl_blas.h>
#include <string.h>

#include "rtn_test.h"

int main(void)
{
    Dl_info info;
    const char *syms[] = {"cblas_ddot", "cblas_dgemm", "cblas_dnrm2", "cblas_daxpy"};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *p = dlsym(RTLD_DEFAULT, syms[i]);
        CHECK(p != NULL);
        if (p && dladdr(p, &info) && info.dli_fname) {
            int ok = strstr(info.dli_fname, "openblas") != NULL;
            if (!ok) fprintf(stderr, "%s comes from %s\n", syms[i], info.dli_fname);
            CHECK(ok);
        }
    }
    /* and GSL computes with it */
    double a[3] = {1, 2, 3}, b[3] = {4, 5, 6}, r = 0;
    gsl_vector_view va = gsl_vector_view_array(a, 3), vb = gsl_vector_view_array(b, 3);
    CHECK(gsl_blas_ddot(&va.vector, &vb.vector, &r) == 0);
    CHECK_NEAR(r, 32.0, 0);
    return rtn_test_finish("test_blas");
}
