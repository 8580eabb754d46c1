/* retain model show BUNDLE | retain model diff OLD NEW: the model bundle for people. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/model.h"
#include "retain/model_kind.h"

const char rtn_usage_model[] =
    "usage: retain model show BUNDLE\n"
    "       retain model diff OLD NEW\n"
    "\n"
    "show: provenance, churn-model quality (validation and test), the coefficient table in\n"
    "standardized and original units (largest effects first), segments with their profiles,\n"
    "and the lifetime-value parameters.\n"
    "diff: the quarterly review of two bundles side by side: metrics, coefficients, segments\n"
    "matched by their stable ids, lifetime-value parameters.\n";

static void show(const char *path, const rtn_model *m)
{
    printf("model bundle     %s\n", path);
    printf("content id       %s\n", m->content_id);
    printf("created          %s by retain %s\n", m->created_at, m->creator_version);
    printf("training data    cutoff %s, horizon %lld days, %llu customers, %s\n", m->cutoff_iso,
           (long long)m->horizon_days, (unsigned long long)m->n_customers, m->currency);
    printf("features digest  %s\n", m->features_digest);
    printf("store digest     %s\n", m->store_digest);
    for (size_t k = 0; k < rtn_n_model_kinds; k++)
        if (rtn_model_kinds[k]->present(m)) rtn_model_kinds[k]->show(stdout, m);
}

static void diff(const rtn_model *a, const rtn_model *b)
{
    printf("%-28s %-20s %-20s\n", "", "OLD", "NEW");
    printf("%-28s %-20.16s %-20.16s\n", "content id", a->content_id, b->content_id);
    printf("%-28s %-20s %-20s\n", "cutoff", a->cutoff_iso, b->cutoff_iso);
    printf("%-28s %-20llu %-20llu\n", "customers", (unsigned long long)a->n_customers,
           (unsigned long long)b->n_customers);
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        if (kind->present(a) && kind->present(b)) kind->diff(stdout, a, b);
    }
}

rtn_status rtn_cmd_model(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("model");
    if (argc < 2) return rtn_usage_error(self, "expected show or diff");
    int rank;
    MPI_Comm_rank(comm, &rank);
    int is_show = strcmp(argv[1], "show") == 0, is_diff = strcmp(argv[1], "diff") == 0;
    if (!is_show && !is_diff) return rtn_usage_error(self, "unknown subcommand '%s'", argv[1]);
    if ((is_show && argc != 3) || (is_diff && argc != 4))
        return rtn_usage_error(self, is_show ? "show takes one BUNDLE" : "diff takes OLD and NEW");
    rtn_model a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    rtn_status st = rtn_model_load(argv[2], &a);
    if (st == RTN_OK && is_diff) st = rtn_model_load(argv[3], &b);
    st = rtn_agree(comm, st);
    if (st == RTN_OK && rank == 0) {
        if (is_show) show(argv[2], &a);
        else diff(&a, &b);
        fflush(stdout);
    }
    rtn_model_free(&a);
    rtn_model_free(&b);
    return st;
}
