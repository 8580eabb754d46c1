/* score_customers: score customers from a CSV file with a retain model bundle, through
 * libretain (docs/embedding.md).
 *
 *   score_customers BUNDLE [CSV]        (CSV omitted or "-": standard input)
 *
 * The CSV's first line names its columns. Every feature of the bundle must be one of them,
 * in any order; the optional columns clv_x, clv_t_x, clv_T and clv_mean_repeat_spend add
 * the lifetime value, and a column `customer` is echoed. Plain numeric fields, no quoting.
 * Output, one line per customer:
 *   customer,churn_probability,risk_tier,segment_id,segment_name,clv
 *
 * Build: cc score_customers.c $(pkg-config --cflags --libs retain)
 *    or: find_package(retain) + target_link_libraries(... retain::retain) (CMakeLists.txt) */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <retain/retain.h>

#define MAX_COLS 256
#define MAX_LINE 65536

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: score_customers BUNDLE [CSV]\n");
        return 2;
    }
    char err[1024];
    rtn_bundle *b = rtn_bundle_open(argv[1], err, sizeof err);
    if (!b) {
        fprintf(stderr, "score_customers: %s\n", err);
        return 1;
    }
    FILE *in = argc == 3 && strcmp(argv[2], "-") != 0 ? fopen(argv[2], "r") : stdin;
    if (!in) {
        fprintf(stderr, "score_customers: cannot open %s\n", argv[2]);
        rtn_bundle_close(b);
        return 1;
    }
    static char line[MAX_LINE];
    static const char *const clv_names[RTN_CLV_IN_N] = {"clv_x", "clv_t_x", "clv_T",
                                                        "clv_mean_repeat_spend"};
    size_t d = rtn_bundle_n_features(b);
    /* where each CSV column goes: a feature index, a CLV input (-2 - i), the customer (-10)
     * or nowhere (-1) */
    int target[MAX_COLS], ncols = 0, n_feat_found = 0, n_clv_found = 0;
    if (!fgets(line, sizeof line, in)) {
        fprintf(stderr, "score_customers: empty input\n");
        return 1;
    }
    line[strcspn(line, "\r\n")] = '\0';
    for (char *save = NULL, *tok = strtok_r(line, ",", &save); tok && ncols < MAX_COLS;
         tok = strtok_r(NULL, ",", &save)) {
        int t = rtn_bundle_feature_index(b, tok);
        if (t >= 0) n_feat_found++;
        for (int i = 0; t < 0 && i < RTN_CLV_IN_N; i++)
            if (strcmp(tok, clv_names[i]) == 0) {
                t = -2 - i;
                n_clv_found++;
            }
        if (t == -1 && strcmp(tok, "customer") == 0) t = -10;
        target[ncols++] = t;
    }
    if ((size_t)n_feat_found != d) {
        fprintf(stderr, "score_customers: the CSV header names %d of the bundle's %zu features:",
                n_feat_found, d);
        for (size_t j = 0; j < d; j++) fprintf(stderr, " %s", rtn_bundle_feature_name(b, j));
        fprintf(stderr, "\n");
        return 1;
    }
    int with_clv = n_clv_found == RTN_CLV_IN_N;
    double *x = malloc(sizeof(double) * (d ? d : 1)), clv[RTN_CLV_IN_N];
    char customer[64];
    printf("customer,churn_probability,risk_tier,segment_id,segment_name,clv\n");
    long row = 1;
    int status = 0;
    while (x && fgets(line, sizeof line, in)) {
        row++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        snprintf(customer, sizeof customer, "%ld", row - 1);
        int col = 0;
        for (char *p = line, *next; p && col < ncols; p = next, col++) {
            next = strchr(p, ',');
            if (next) *next++ = '\0';
            if (target[col] >= 0) x[target[col]] = strtod(p, NULL);
            else if (target[col] <= -2 && target[col] >= -1 - RTN_CLV_IN_N) clv[-2 - target[col]] = strtod(p, NULL);
            else if (target[col] == -10) snprintf(customer, sizeof customer, "%.63s", p);
        }
        rtn_customer_score s;
        if (rtn_bundle_score(b, x, with_clv ? clv : NULL, &s, err, sizeof err) != 0) {
            fprintf(stderr, "score_customers: line %ld: %s\n", row, err);
            status = 1;
            continue;
        }
        printf("%s,%.17g,%s,%d,%s,", customer, s.churn_probability, s.risk_tier_name, s.segment_id,
               s.segment_name);
        if (!isnan(s.clv)) printf("%.17g", s.clv);
        printf("\n");
    }
    free(x);
    if (in != stdin) fclose(in);
    rtn_bundle_close(b);
    return status;
}
