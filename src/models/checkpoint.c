#include "retain/checkpoint.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retain/atomic.h"
#include "retain/h5.h"
#include "retain/log.h"

/* ---- writing (rank 0, serial HDF5) ---------------------------------------------------- */

typedef struct {
    hid_t file;
    const char *path;
    rtn_status st;
} ck_writer;

static void put_f64(ck_writer *w, const char *name, const double *v, size_t rows, size_t cols)
{
    if (w->st) return;
    hsize_t dims[2] = {rows, cols};
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t sp = H5Screate_simple(cols ? 2 : 1, dims, NULL);
    errno = 0;
    hid_t d = H5Dcreate2(w->file, name, H5T_IEEE_F64LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || (rows && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0))
        w->st = rtn_fail(RTN_ERR_IO, "dataset %s: %s", name, errno ? strerror(errno) : "HDF5 error");
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Pclose(lcpl);
}

static void put_i64(ck_writer *w, hid_t obj, const char *name, int64_t v)
{
    if (w->st == RTN_OK) w->st = rtn_h5_attr_i64(obj, name, v);
}

static void put_real(ck_writer *w, hid_t obj, const char *name, double v)
{
    if (w->st == RTN_OK) w->st = rtn_h5_attr_f64(obj, name, v);
}

static void put_str(ck_writer *w, hid_t obj, const char *name, const char *v)
{
    if (w->st == RTN_OK) w->st = rtn_h5_attr_str(obj, name, v);
}

static hid_t new_group(ck_writer *w, const char *name)
{
    if (w->st) return H5I_INVALID_HID;
    hid_t g = H5Gcreate2(w->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) w->st = rtn_fail(RTN_ERR_IO, "creating group %s", name);
    return g;
}

/* a dataset path below a group: "/churn" + "/x" */
static const char *below(char *buf, size_t n, const char *group, const char *name)
{
    snprintf(buf, n, "%s/%s", group, name);
    return buf;
}

static void write_logreg(ck_writer *w, const char *group, const rtn_logreg_state *s)
{
    char p[128];
    hid_t g = new_group(w, group);
    if (w->st) return;
    size_t n = s->n, m = (size_t)s->memory;
    put_i64(w, g, "n", (int64_t)n);
    put_i64(w, g, "memory", s->memory);
    put_i64(w, g, "iteration", s->iteration);
    put_i64(w, g, "evaluations", s->evaluations);
    put_i64(w, g, "npairs", s->npairs);
    put_i64(w, g, "newest", s->newest);
    put_i64(w, g, "have_L0", s->have_L0);
    put_i64(w, g, "history_cap", s->history_cap);
    put_real(w, g, "objective", s->objective);
    put_i64(w, g, "finished", s->finished);
    put_i64(w, g, "converged", s->converged);
    put_str(w, g, "stop_reason", s->stop_reason);
    H5Gclose(g);
    put_f64(w, below(p, sizeof p, group, "x"), s->x, n, 0);
    put_f64(w, below(p, sizeof p, group, "g"), s->g, n, 0);
    put_f64(w, below(p, sizeof p, group, "S"), s->S, m, n);
    put_f64(w, below(p, sizeof p, group, "Y"), s->Y, m, n);
    put_f64(w, below(p, sizeof p, group, "rho"), s->rho, m, 0);
    put_f64(w, below(p, sizeof p, group, "L0"), s->L0, n, n);
    put_f64(w, below(p, sizeof p, group, "history"), s->history, (size_t)s->n_history, 0);
}

static void write_kmeans(ck_writer *w, const char *group, const rtn_kmeans_state *s)
{
    char p[128];
    hid_t g = new_group(w, group);
    if (w->st) return;
    size_t k = (size_t)s->k, d = s->d;
    put_i64(w, g, "job", s->job);
    put_i64(w, g, "k", s->k);
    put_i64(w, g, "d", (int64_t)d);
    put_i64(w, g, "restart", s->restart);
    put_i64(w, g, "iteration", s->iteration);
    put_i64(w, g, "total_iterations", s->total_iterations);
    put_i64(w, g, "total_runs", s->total_runs);
    put_i64(w, g, "have_best", s->have_best);
    put_i64(w, g, "finished", s->finished);
    put_i64(w, g, "n_scores", s->n_scores);
    if (s->have_best) {
        put_real(w, g, "best_inertia", s->best.inertia);
        put_i64(w, g, "best_iterations", s->best.n_iter);
        put_i64(w, g, "best_converged", s->best.converged);
        put_i64(w, g, "best_init", s->best.best_init);
        put_real(w, g, "best_lloyd_seconds", s->best.lloyd_seconds);
    }
    H5Gclose(g);
    put_f64(w, below(p, sizeof p, group, "centroids"), s->centroids, k, d);
    put_f64(w, below(p, sizeof p, group, "previous"), s->previous, k, d);
    if (s->have_best) {
        put_f64(w, below(p, sizeof p, group, "best_centroids"), s->best.centroids, k, d);
        put_f64(w, below(p, sizeof p, group, "best_sizes"), s->best.sizes, k, 0);
        put_f64(w, below(p, sizeof p, group, "best_label_centroids"), s->best_label_centroids, k, d);
    }
    /* k scan rows: k, inertia, silhouette, iterations, sampled rows */
    double scan[64 * 5];
    for (int i = 0; i < s->n_scores && i < 64; i++) {
        const rtn_kmeans_k_score *c = &s->scores[i];
        double row[5] = {c->k, c->inertia, c->silhouette, c->n_iter, (double)c->sample_rows};
        memcpy(scan + 5 * i, row, sizeof row);
    }
    put_f64(w, below(p, sizeof p, group, "k_scan"), scan, (size_t)s->n_scores, 5);
}

static rtn_status write_file(const char *tmp, const char *key, const rtn_solver_state *slots,
                             size_t n)
{
    rtn_h5_quiet();
    errno = 0;
    ck_writer w = {H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), tmp, RTN_OK};
    if (w.file < 0) {
        const char *problem = rtn_atomic_create_problem(tmp, errno);
        return rtn_fail(RTN_ERR_IO, "cannot create '%s': %s", tmp, problem ? problem : "HDF5 error");
    }
    put_str(&w, w.file, "format", RTN_CHECKPOINT_FORMAT);
    put_i64(&w, w.file, "format_version", RTN_CHECKPOINT_FORMAT_VERSION);
    put_str(&w, w.file, "key", key);
    for (size_t i = 0; i < n; i++) {
        if (!rtn_solver_state_valid(&slots[i])) continue;
        if (slots[i].solver == RTN_SOLVER_LOGREG) write_logreg(&w, slots[i].group, &slots[i].logreg);
        if (slots[i].solver == RTN_SOLVER_KMEANS) write_kmeans(&w, slots[i].group, &slots[i].kmeans);
    }
    return rtn_h5_close_output(w.file, tmp, tmp, w.st, MPI_COMM_NULL);
}

rtn_status rtn_checkpoint_write(MPI_Comm comm, const char *path, const char *key,
                                const rtn_solver_state *slots, size_t n)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    rtn_status st = RTN_OK;
    if (rank == 0) {
        char tmp[RTN_PATH_MAX];
        st = rtn_atomic_tmpname(path, tmp, sizeof tmp);
        if (st == RTN_OK) st = write_file(tmp, key, slots, n);
        if (st == RTN_OK) st = rtn_atomic_commit(tmp, path);
        else rtn_atomic_discard(tmp);
        if (st) rtn_fail_context(st, "writing checkpoint '%s'", path);
    }
    return rtn_agree(comm, st);
}

/* ---- reading (every rank) -------------------------------------------------------------- */

typedef struct {
    hid_t file;
    const char *path;
    rtn_status st;
} ck_reader;

static rtn_status damaged(ck_reader *r, const char *what)
{
    if (r->st == RTN_OK)
        r->st = rtn_fail(RTN_ERR_FORMAT, "checkpoint '%s' is damaged (%s); remove it to train "
                         "from the beginning", r->path, what);
    return r->st;
}

static int64_t get_i64(ck_reader *r, hid_t obj, const char *name, int64_t lo, int64_t hi)
{
    int64_t v = 0;
    if (r->st) return 0;
    if (rtn_h5_read_attr_i64(obj, name, &v) != RTN_OK || v < lo || v > hi) {
        rtn_clear_error();
        damaged(r, name);
        return 0;
    }
    return v;
}

static double get_real(ck_reader *r, hid_t obj, const char *name)
{
    double v = 0;
    if (r->st) return 0;
    if (rtn_h5_read_attr_f64(obj, name, &v) != RTN_OK) {
        rtn_clear_error();
        damaged(r, name);
    }
    return v;
}

/* A new array of rows x max(cols,1) doubles read from `name`, whose shape must match. */
static double *get_f64(ck_reader *r, const char *name, size_t rows, size_t cols)
{
    if (r->st) return NULL;
    size_t count = rows * (cols ? cols : 1);
    double *v = calloc(count + 1, sizeof(double));
    hid_t d = H5Dopen2(r->file, name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    int nd = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
    int ok = v && nd == (cols ? 2 : 1) && dims[0] == rows && (!cols || dims[1] == cols);
    if (ok && count)
        ok = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (!ok) {
        free(v);
        damaged(r, name);
        return NULL;
    }
    return v;
}

static void read_logreg(ck_reader *r, const char *group, rtn_logreg_state *s)
{
    char p[128];
    hid_t g = H5Gopen2(r->file, group, H5P_DEFAULT);
    if (g < 0) return;
    memset(s, 0, sizeof *s);
    s->n = (size_t)get_i64(r, g, "n", 1, 65);
    s->memory = (int)get_i64(r, g, "memory", 1, 1000);
    s->history_cap = (int)get_i64(r, g, "history_cap", 1, 1000001);
    s->iteration = (int)get_i64(r, g, "iteration", 0, s->history_cap - 1);
    s->evaluations = (int)get_i64(r, g, "evaluations", 0, INT32_MAX);
    s->npairs = (int)get_i64(r, g, "npairs", 0, s->memory);
    s->newest = (int)get_i64(r, g, "newest", -1, s->memory - 1);
    s->have_L0 = (int)get_i64(r, g, "have_L0", 0, 1);
    s->objective = get_real(r, g, "objective");
    s->finished = (int)get_i64(r, g, "finished", 0, 1);
    s->converged = (int)get_i64(r, g, "converged", 0, 1);
    if (r->st == RTN_OK &&
        rtn_h5_read_attr_str(g, "stop_reason", s->stop_reason, sizeof s->stop_reason) != RTN_OK) {
        rtn_clear_error();
        damaged(r, "stop_reason");
    }
    H5Gclose(g);
    size_t n = s->n, m = (size_t)s->memory;
    s->n_history = s->iteration + 1;
    s->x = get_f64(r, below(p, sizeof p, group, "x"), n, 0);
    s->g = get_f64(r, below(p, sizeof p, group, "g"), n, 0);
    s->S = get_f64(r, below(p, sizeof p, group, "S"), m, n);
    s->Y = get_f64(r, below(p, sizeof p, group, "Y"), m, n);
    s->rho = get_f64(r, below(p, sizeof p, group, "rho"), m, 0);
    s->L0 = get_f64(r, below(p, sizeof p, group, "L0"), n, n);
    double *h = get_f64(r, below(p, sizeof p, group, "history"), (size_t)s->n_history, 0);
    if (h) { /* the solver appends up to history_cap entries */
        s->history = calloc((size_t)s->history_cap, sizeof(double));
        if (s->history) memcpy(s->history, h, (size_t)s->n_history * sizeof(double));
        else damaged(r, "history");
        free(h);
    }
    s->valid = r->st == RTN_OK;
}

static void read_kmeans(ck_reader *r, const char *group, rtn_kmeans_state *s)
{
    char path[128];
    hid_t g = H5Gopen2(r->file, group, H5P_DEFAULT);
    if (g < 0) return;
    memset(s, 0, sizeof *s);
    int job = (int)get_i64(r, g, "job", 0, 1000);
    int k = (int)get_i64(r, g, "k", 1, 64);
    size_t d = (size_t)get_i64(r, g, "d", 1, 64);
    if (r->st == RTN_OK && rtn_kmeans_state_start(s, job, k, d) != RTN_OK) damaged(r, "memory");
    s->restart = (int)get_i64(r, g, "restart", 0, 1000);
    s->iteration = (int)get_i64(r, g, "iteration", 0, INT32_MAX);
    s->total_iterations = get_i64(r, g, "total_iterations", 0, INT64_MAX);
    s->total_runs = get_i64(r, g, "total_runs", 0, INT64_MAX);
    s->have_best = (int)get_i64(r, g, "have_best", 0, 1);
    s->finished = (int)get_i64(r, g, "finished", 0, 1);
    s->n_scores = (int)get_i64(r, g, "n_scores", 0, 64);
    if (s->have_best) {
        s->best.k = k;
        s->best.d = d;
        s->best.inertia = get_real(r, g, "best_inertia");
        s->best.n_iter = (int)get_i64(r, g, "best_iterations", 0, INT32_MAX);
        s->best.converged = (int)get_i64(r, g, "best_converged", 0, 2);
        s->best.best_init = (int)get_i64(r, g, "best_init", 0, 1000);
        s->best.lloyd_seconds = get_real(r, g, "best_lloyd_seconds");
    }
    H5Gclose(g);
    size_t kk = (size_t)k;
    double *c = get_f64(r, below(path, sizeof path, group, "centroids"), kk, d);
    double *p = get_f64(r, below(path, sizeof path, group, "previous"), kk, d);
    if (c && p && s->centroids) {
        memcpy(s->centroids, c, kk * d * sizeof(double));
        memcpy(s->previous, p, kk * d * sizeof(double));
    }
    free(c);
    free(p);
    if (s->have_best) {
        s->best.centroids = get_f64(r, below(path, sizeof path, group, "best_centroids"), kk, d);
        s->best.sizes = get_f64(r, below(path, sizeof path, group, "best_sizes"), kk, 0);
        double *l = get_f64(r, below(path, sizeof path, group, "best_label_centroids"), kk, d);
        if (l && s->best_label_centroids) memcpy(s->best_label_centroids, l, kk * d * sizeof(double));
        free(l);
    }
    double *scan = get_f64(r, below(path, sizeof path, group, "k_scan"), (size_t)s->n_scores, 5);
    for (int i = 0; scan && i < s->n_scores; i++) {
        const double *row = scan + 5 * i;
        rtn_kmeans_k_score sc = {(int)row[0], row[1], row[2], (int)row[3], (size_t)row[4]};
        s->scores[i] = sc;
    }
    free(scan);
    if (r->st) rtn_kmeans_state_free(s);
}

rtn_status rtn_checkpoint_read(MPI_Comm comm, const char *path, int *exists, char *key,
                               rtn_solver_state *slots, size_t n)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    int there = 0;
    if (rank == 0) there = access(path, F_OK) == 0;
    MPI_Bcast(&there, 1, MPI_INT, 0, comm);
    *exists = there;
    if (!there) return RTN_OK;
    ck_reader r = {H5I_INVALID_HID, path, RTN_OK};
    if (rtn_h5_open_read_local(path, &r.file) != RTN_OK) {
        rtn_clear_error();
        r.file = H5I_INVALID_HID;
        damaged(&r, "not an HDF5 file");
    }
    char fmt[64] = "";
    if (r.st == RTN_OK && (rtn_h5_read_attr_str(r.file, "format", fmt, sizeof fmt) != RTN_OK ||
                           strcmp(fmt, RTN_CHECKPOINT_FORMAT) != 0)) {
        rtn_clear_error();
        r.st = rtn_fail(RTN_ERR_FORMAT, "'%s' is not a retain training checkpoint", path);
    }
    int64_t version = 0;
    if (r.st == RTN_OK && (rtn_h5_read_attr_i64(r.file, "format_version", &version) != RTN_OK ||
                           version != RTN_CHECKPOINT_FORMAT_VERSION)) {
        rtn_clear_error();
        r.st = rtn_fail(RTN_ERR_FORMAT, "checkpoint '%s' has format version %lld, this retain "
                        "reads version %d", path, (long long)version, RTN_CHECKPOINT_FORMAT_VERSION);
    }
    if (r.st == RTN_OK && rtn_h5_read_attr_str(r.file, "key", key, 65) != RTN_OK) {
        rtn_clear_error();
        damaged(&r, "key");
    }
    for (size_t i = 0; i < n && r.st == RTN_OK; i++) {
        /* a group the file lacks: that kind had not started */
        if (H5Lexists(r.file, slots[i].group, H5P_DEFAULT) <= 0) continue;
        if (slots[i].solver == RTN_SOLVER_LOGREG) read_logreg(&r, slots[i].group, &slots[i].logreg);
        if (slots[i].solver == RTN_SOLVER_KMEANS) read_kmeans(&r, slots[i].group, &slots[i].kmeans);
    }
    if (r.file >= 0) H5Fclose(r.file);
    if (r.st)
        for (size_t i = 0; i < n; i++) rtn_solver_state_free(&slots[i]);
    return rtn_agree(comm, r.st);
}

int rtn_solver_state_valid(const rtn_solver_state *s)
{
    return (s->solver == RTN_SOLVER_LOGREG && s->logreg.valid) ||
           (s->solver == RTN_SOLVER_KMEANS && s->kmeans.valid);
}

void rtn_solver_state_describe(const rtn_solver_state *s, char *buf, size_t n)
{
    const rtn_logreg_state *lr = &s->logreg;
    const rtn_kmeans_state *km = &s->kmeans;
    if (!rtn_solver_state_valid(s))
        snprintf(buf, n, "not started");
    else if (s->solver == RTN_SOLVER_LOGREG)
        snprintf(buf, n, lr->finished ? "done (%d iterations)" : "at iteration %d", lr->iteration);
    else if (km->finished)
        snprintf(buf, n, "fit %d (k=%d) done", km->job + 1, km->k);
    else
        snprintf(buf, n, "fit %d (k=%d) run %d, Lloyd iteration %d", km->job + 1, km->k,
                 km->restart + 1, km->iteration);
}

void rtn_solver_state_free(rtn_solver_state *s)
{
    rtn_logreg_state_free(&s->logreg);
    rtn_kmeans_state_free(&s->kmeans);
}

void rtn_checkpoint_remove(MPI_Comm comm, const char *path)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0 && unlink(path) != 0 && errno != ENOENT)
        rtn_warn("cannot remove checkpoint '%s': %s", path, strerror(errno));
    MPI_Barrier(comm);
}
