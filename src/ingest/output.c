/* `retain ingest`'s outputs: the rejects file, the store, and what is kept of a store
 * that is appended to (docs/ingest.md, docs/formats.md). */
#include "retain/ingest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "retain/atomic.h"
#include "retain/buckets.h"
#include "retain/cli.h"
#include "retain/h5.h"
#include "retain/log.h"
#include "retain/pseudonym.h"
#include "retain/store.h"

#include "ingest_private.h"

/* ------------------------------------------------------------ rejects file */

static int rej_cmp(const void *a, const void *b)
{
    const ing_reject *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return (int)x->reason - (int)y->reason;
}

static void csv_quoted(FILE *fp, const char *s, size_t n, int sanitize)
{
    fputc('"', fp);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (sanitize && ((unsigned char)ch >= 0x80 || ch == 0)) ch = '?';
        if (ch == '"') fputc('"', fp);
        fputc(ch, fp);
    }
    fputc('"', fp);
}

/* Gathers every rank's rejects on rank 0, orders them by (file, line) and writes the
 * rejects CSV atomically. Collective. */
rtn_status ing_write_rejects(ictx *c, const char *path)
{
    rtn_status st = RTN_OK;
    size_t bytes = c->nrej * sizeof(ing_reject);
    if (bytes > INT_MAX) st = rtn_fail(RTN_ERR_DATA, "too many rejects on one rank (%zu)", c->nrej);
    st = rtn_agree(c->comm, st);
    if (st) return st;
    int mine = (int)bytes;
    int *counts = NULL, *displs = NULL;
    ing_reject *all = NULL;
    size_t total = 0;
    if (c->rank == 0) {
        counts = malloc(sizeof(int) * (size_t)c->size);
        displs = malloc(sizeof(int) * (size_t)c->size);
        if (!counts || !displs) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (rejects)");
    }
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, c->comm);
    if (c->rank == 0) {
        for (int q = 0; q < c->size; q++) {
            if (total > INT_MAX) break;
            displs[q] = (int)total;
            total += (size_t)counts[q];
        }
        if (total > INT_MAX) st = rtn_fail(RTN_ERR_DATA, "too many rejects to gather (%zu bytes)", total);
        else if (!(all = malloc(total ? total : 1))) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (rejects)");
    }
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    MPI_Gatherv(c->rej, mine, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, c->comm);
    if (c->rank == 0) {
        size_t n = total / sizeof(ing_reject);
        qsort(all, n, sizeof *all, rej_cmp);
        rtn_atomic_file af;
        st = rtn_atomic_open(&af, path);
        const char *const *names = c->reason_names ? c->reason_names : rtn_reject_names;
        if (st == RTN_OK) {
            fputs("file,line,reason,detail,raw\n", af.fp);
            for (size_t i = 0; i < n; i++) {
                const ing_reject *j = &all[i];
                const in_file *f = &c->files[j->file];
                csv_quoted(af.fp, f->path, strlen(f->path), 0);
                fprintf(af.fp, ",%" PRIu64 ",%s,", j->line, names[j->reason]);
                csv_quoted(af.fp, j->detail, strnlen(j->detail, sizeof j->detail), 1);
                fputc(',', af.fp);
                const char *raw = f->map && j->off < f->len ? f->map + j->off : "";
                size_t rl = f->map && j->off < f->len ? j->rawlen : 0;
                if (rl > f->len - j->off) rl = f->len - j->off;
                csv_quoted(af.fp, raw, rl, rtn_utf8_check(raw, rl) != 0);
                fputc('\n', af.fp);
            }
            st = rtn_atomic_close(&af);
        }
    }
    st = rtn_agree(c->comm, st);
done:
    free(counts);
    free(displs);
    free(all);
    return st;
}

/* ------------------------------------------------------------ store output */

rtn_status ing_write_store(ictx *c, uint32_t b0, uint32_t b1, const gdict g[3],
                           const char *provenance, row_stats_t *stats, uint64_t *n_rows,
                           uint64_t *n_cust)
{
    const uint32_t B = c->B;
    rtn_status st = RTN_OK;
    uint64_t *off = stats->off;
    rtn_txn_block blk = {0};
    const size_t chunk = RTN_H5_CHUNK_ROWS;
    st = rtn_txn_block_reserve(&blk, chunk, RTN_COLS_ALL);
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    /* offsets[b+1] - offsets[b] = rows of bucket b, known only to its owner */
    MPI_Allreduce(MPI_IN_PLACE, off + 1, (int)B, MPI_UINT64_T, MPI_SUM, c->comm);
    for (uint32_t b = 0; b < B; b++) off[b + 1] += off[b];
    uint64_t loc[1] = {stats->customers};
    int64_t tmin = stats->tmin, tmax = stats->tmax;
    MPI_Allreduce(MPI_IN_PLACE, loc, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    MPI_Allreduce(MPI_IN_PLACE, &tmin, 1, MPI_INT64_T, MPI_MIN, c->comm);
    MPI_Allreduce(MPI_IN_PLACE, &tmax, 1, MPI_INT64_T, MPI_MAX, c->comm);
    *n_rows = off[B];
    *n_cust = loc[0];
    rtn_strdict d[3];
    for (int k = 0; k < 3; k++) d[k] = (rtn_strdict){g[k].n, g[k].s};
    rtn_store_meta meta = {.nbuckets = B,
                           .bucket_offsets = off,
                           .n_customers = loc[0],
                           .time_min = tmin,
                           .time_max = tmax,
                           .currency = c->opt->mapping.currency,
                           .currency_exponent = c->opt->mapping.currency_exponent,
                           .created_by = rtn_command_line(),
                           .provenance = provenance,
                           .dict_item = &d[0],
                           .dict_category = &d[1],
                           .dict_store = &d[2]};
    rtn_store_writer *w;
    st = rtn_store_create(&w, c->comm, c->opt->out, &meta);
    if (st) goto done;
    uint64_t nblk = (c->nrows + chunk - 1) / chunk;
    MPI_Allreduce(MPI_IN_PLACE, &nblk, 1, MPI_UINT64_T, MPI_MAX, c->comm);
    const uint64_t row0 = off[b0];
    (void)b1;
    for (uint64_t k = 0; k < nblk && st == RTN_OK; k++) {
        size_t i0 = (size_t)(k * chunk) < c->nrows ? (size_t)(k * chunk) : c->nrows;
        size_t i1 = i0 + chunk < c->nrows ? i0 + chunk : c->nrows;
        blk.n = i1 - i0;
        for (size_t i = i0; i < i1; i++) {
            const ing_row *r = &c->rows[i];
            size_t j = i - i0;
            blk.customer[j] = r->customer;
            blk.time[j] = r->time;
            blk.amount[j] = r->amount;
            blk.quantity[j] = r->quantity;
            blk.item[j] = r->item;
            blk.category[j] = r->category;
            blk.store[j] = r->store;
            blk.channel[j] = r->channel;
            blk.basket[j] = r->basket;
        }
        st = rtn_store_write(w, row0 + i0, &blk);
    }
    st = rtn_store_finish(w, st);
done:
    rtn_txn_block_free(&blk);
    return st;
}

/* ------------------------------------------------------------ appended store */


/* Rank 0 reads the appended store's provenance (key fingerprint) before the collective
 * open; the text is broadcast so every rank writes the same provenance attribute. */
rtn_status ing_read_old_provenance(ictx *c, const char *path, old_info *oi, json_t **prov)
{
    rtn_status st = RTN_OK;
    memset(oi, 0, sizeof *oi);
    *prov = NULL;
    char *txt = NULL;
    if (c->rank == 0) {
        hid_t f;
        st = rtn_h5_open_read_local(path, &f);
        if (st == RTN_OK) {
            if (rtn_h5_read_attr_str_alloc(f, "provenance", &txt) != RTN_OK) txt = NULL;
            rtn_clear_error();
            H5Fclose(f);
        }
    }
    st = rtn_agree(c->comm, st);
    if (st) {
        free(txt);
        return rtn_fail_context(st, "--append-to");
    }
    uint64_t n = txt ? strlen(txt) + 1 : 0;
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, c->comm);
    if (n > INT_MAX) n = 0;
    if (n && c->rank != 0) txt = malloc(n);
    st = (n && !txt) ? rtn_fail(RTN_ERR_NOMEM, "out of memory") : RTN_OK;
    st = rtn_agree(c->comm, st);
    if (st) {
        free(txt);
        return st;
    }
    if (n) MPI_Bcast(txt, (int)n, MPI_CHAR, 0, c->comm);
    if (n) {
        json_t *j = json_loads(txt, 0, NULL);
        const char *fp = j ? json_string_value(json_object_get(j, "key_fingerprint")) : NULL;
        if (fp) snprintf(oi->fingerprint, sizeof oi->fingerprint, "%s", fp);
        *prov = j;
    }
    free(txt);
    return RTN_OK;
}
