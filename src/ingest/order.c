/* `retain ingest`, after parsing: the global dictionaries, the shuffle of rows to the
 * ranks owning their buckets, the sort and the de-duplication (docs/ingest.md). */
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

/* ------------------------------------------------------------ dictionaries */


static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int32_t *row_code(ing_row *r, int k)
{
    return k == 0 ? &r->item : k == 1 ? &r->category : &r->store;
}

static int32_t code_of(const gdict *g, const char *s)
{
    char *key = (char *)s;
    char **hit = bsearch(&key, g->s, g->n, sizeof *g->s, cmp_str);
    return hit ? (int32_t)(hit - g->s) : -1;
}

/* Global dictionary k: the bytewise-sorted distinct strings used by any accepted row
 * (plus the appended store's), so codes do not depend on how rows were spread. */
rtn_status ing_build_dict(MPI_Comm comm, const strtab *t, const rtn_strdict *old, gdict *g,
                          const unsigned char *used)
{
    int size;
    MPI_Comm_size(comm, &size);
    rtn_status st = RTN_OK;
    char *mine = NULL;
    int *counts = NULL, *displs = NULL;
    size_t bytes = 0;
    if (st == RTN_OK) {
        for (size_t i = 0; i < t->n; i++)
            if (used[i]) bytes += t->e[i].len + 1;
        mine = malloc(bytes ? bytes : 1);
        counts = malloc(sizeof(int) * (size_t)size);
        displs = malloc(sizeof(int) * (size_t)size);
        if (!mine || !counts || !displs) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionary)");
        else if (bytes > INT_MAX) st = rtn_fail(RTN_ERR_DATA, "dictionary too large (%zu bytes)", bytes);
    }
    if (st == RTN_OK) {
        size_t o = 0;
        for (size_t i = 0; i < t->n; i++)
            if (used[i]) {
                memcpy(mine + o, t->arena + t->e[i].off, t->e[i].len + 1);
                o += t->e[i].len + 1;
            }
    }
    st = rtn_agree(comm, st);
    if (st) goto done;
    int ib = (int)bytes;
    MPI_Allgather(&ib, 1, MPI_INT, counts, 1, MPI_INT, comm);
    size_t total = 0;
    for (int q = 0; q < size; q++) {
        if (total > INT_MAX) break;
        displs[q] = (int)total;
        total += (size_t)counts[q];
    }
    if (total > INT_MAX) st = rtn_fail(RTN_ERR_DATA, "dictionary too large (%zu bytes)", total);
    if (st == RTN_OK && !(g->buf = malloc(total ? total : 1)))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionary)");
    st = rtn_agree(comm, st);
    if (st) goto done;
    MPI_Allgatherv(mine, ib, MPI_CHAR, g->buf, counts, displs, MPI_CHAR, comm);
    size_t nstr = old ? old->n : 0;
    for (size_t i = 0; i < total; i++) nstr += g->buf[i] == 0;
    g->s = malloc(sizeof(char *) * (nstr ? nstr : 1));
    g->local_map = malloc(sizeof(int32_t) * (t->n ? t->n : 1));
    g->old_map = malloc(sizeof(int32_t) * (old && old->n ? old->n : 1));
    if (!g->s || !g->local_map || !g->old_map) {
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionary)");
    } else {
        size_t n = 0;
        for (size_t i = 0; i < total; i += strlen(g->buf + i) + 1) g->s[n++] = g->buf + i;
        for (size_t i = 0; old && i < old->n; i++) g->s[n++] = old->s[i];
        qsort(g->s, n, sizeof *g->s, cmp_str);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
            if (u == 0 || strcmp(g->s[u - 1], g->s[i]) != 0) g->s[u++] = g->s[i];
        g->n = u;
        if (u > INT32_MAX) st = rtn_fail(RTN_ERR_DATA, "more than 2^31 dictionary values");
        for (size_t i = 0; st == RTN_OK && i < t->n; i++)
            g->local_map[i] = used[i] ? code_of(g, t->arena + t->e[i].off) : -1;
        for (size_t i = 0; st == RTN_OK && old && i < old->n; i++)
            g->old_map[i] = code_of(g, old->s[i]);
    }
    st = rtn_agree(comm, st);
done:
    free(mine);
    free(counts);
    free(displs);
    return st;
}

void ing_gdict_free(gdict *g)
{
    free(g->buf);
    free(g->s);
    free(g->local_map);
    free(g->old_map);
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------ shuffle, sort */

static int row_cmp(const void *a, const void *b)
{
    const ing_row *x = a, *y = b;
#define CMP(f)                                                                             \
    if (x->f != y->f) return x->f < y->f ? -1 : 1
    CMP(bucket);
    CMP(customer);
    CMP(time);
    CMP(amount);
    CMP(quantity);
    CMP(item);
    CMP(category);
    CMP(store);
    CMP(channel);
    CMP(basket);
    CMP(file);
    CMP(line);
#undef CMP
    return 0;
}

static int same_stored(const ing_row *x, const ing_row *y)
{
    return x->customer == y->customer && x->time == y->time && x->amount == y->amount &&
           x->quantity == y->quantity && x->item == y->item && x->category == y->category &&
           x->store == y->store && x->channel == y->channel && x->basket == y->basket;
}

/* Sends every row to the rank owning its bucket, replacing the local dictionary codes
 * by the global ones on the way. Bucket ranges are chosen from the global per-bucket row
 * counts (plus the appended store's) with rtn_partition_buckets. On return c->rows holds
 * this rank's rows with room for the appended store's rows of its buckets, and
 * *recv_cnt[b - b0] the number of rows of bucket b it will hold (both sources). */
rtn_status ing_shuffle(ictx *c, const uint64_t *old_off, const gdict g[3], uint32_t *b0,
                       uint32_t *b1, uint64_t **recv_cnt)
{
    const uint32_t B = c->B;
    const int P = c->size;
    rtn_status st = RTN_OK;
    uint64_t *cnt = calloc((size_t)B + 1, sizeof *cnt);
    uint64_t *mine = calloc((size_t)B + 1, sizeof *mine);
    int *owner = malloc(sizeof(int) * B);
    size_t *sc = calloc((size_t)P, sizeof *sc), *pos = calloc((size_t)P, sizeof *pos);
    int *isc = malloc(sizeof(int) * (size_t)P * 4);
    ing_row *sendbuf = NULL, *recvbuf = NULL;
    if (!cnt || !mine || !owner || !sc || !pos || !isc)
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle)");
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    if (c->discarded) { /* the parse's counts include dropped rows */
        for (size_t i = 0; i < c->nrows; i++) mine[c->rows[i].bucket]++;
    } else {
        memcpy(mine, c->bucket_cnt, sizeof *mine * B);
    }
    MPI_Allreduce(mine, cnt, (int)B, MPI_UINT64_T, MPI_SUM, c->comm);
    {
        uint64_t acc = 0;
        for (uint32_t b = 0; b < B; b++) {
            uint64_t n = cnt[b] + (old_off ? old_off[b + 1] - old_off[b] : 0);
            cnt[b] = acc;
            acc += n;
        }
        cnt[B] = acc;
    }
    for (int q = 0; q < P; q++) {
        uint32_t x0, x1;
        rtn_partition_buckets(cnt, B, P, q, &x0, &x1);
        for (uint32_t b = x0; b < x1; b++) owner[b] = q, sc[q] += mine[b];
        if (q == c->rank) *b0 = x0, *b1 = x1;
    }
    /* cnt holds prefix sums (with the appended store's rows): what each bucket holds */
    if (!(*recv_cnt = malloc(sizeof(uint64_t) * ((size_t)(*b1 - *b0) + 1))))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle)");
    for (uint32_t b = *b0; *recv_cnt && b < *b1; b++) (*recv_cnt)[b - *b0] = cnt[b + 1] - cnt[b];
    if (c->nrows > INT_MAX)
        st = rtn_fail(RTN_ERR_DATA, "more than 2^31 rows parsed on one rank; use more ranks");
    if (st == RTN_OK && !ing_rows_reserve(&c->spare, &c->capspare, c->nrows, 0))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle send buffer, %zu rows)", c->nrows);
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    sendbuf = c->spare;
    {
        size_t a = 0;
        for (int q = 0; q < P; q++) pos[q] = a, a += sc[q];
        const int32_t *m0 = g[0].local_map, *m1 = g[1].local_map, *m2 = g[2].local_map;
        for (size_t i = 0; i < c->nrows; i++) {
            ing_row *d = &sendbuf[pos[owner[c->rows[i].bucket]]++];
            *d = c->rows[i];
            if (d->item >= 0) d->item = m0[d->item];
            if (d->category >= 0) d->category = m1[d->category];
            if (d->store >= 0) d->store = m2[d->store];
        }
    }
    c->nrows = 0;
    int *isd = isc + P, *irc = isc + 2 * P, *ird = isc + 3 * P;
    for (int q = 0; q < P; q++) isc[q] = (int)sc[q];
    MPI_Alltoall(isc, 1, MPI_INT, irc, 1, MPI_INT, c->comm);
    size_t nrecv = 0, a = 0;
    for (int q = 0; q < P; q++) {
        isd[q] = (int)a;
        a += sc[q];
        if (nrecv > INT_MAX) break;
        ird[q] = (int)nrecv;
        nrecv += (size_t)irc[q];
    }
    size_t extra = old_off ? (size_t)(old_off[*b1] - old_off[*b0]) : 0;
    if (nrecv > INT_MAX)
        st = rtn_fail(RTN_ERR_DATA, "more than 2^31 rows on one rank; use more ranks");
    /* received into the parse array (its rows are in the send buffer now) */
    if (st == RTN_OK && !ing_rows_reserve(&c->rows, &c->caprows, nrecv + extra + 1, 0))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle receive buffer, %zu rows)",
                      nrecv + extra);
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    recvbuf = c->rows;
    MPI_Datatype rt;
    MPI_Type_contiguous((int)sizeof(ing_row), MPI_BYTE, &rt);
    MPI_Type_commit(&rt);
    MPI_Alltoallv(sendbuf, isc, isd, rt, recvbuf, irc, ird, rt, c->comm);
    MPI_Type_free(&rt);
    c->nrows = nrecv;
done:
    free(cnt);
    free(mine);
    free(owner);
    free(sc);
    free(pos);
    free(isc);
    return st;
}


void ing_old_store_free(old_store *o)
{
    free(o->off);
    for (int k = 0; k < 3; k++) rtn_strdict_free(&o->dict[k]);
    memset(o, 0, sizeof *o);
}

rtn_status ing_copy_strdict(rtn_strdict *dst, const rtn_strdict *src)
{
    dst->n = 0;
    dst->s = calloc(src->n ? src->n : 1, sizeof *dst->s);
    if (!dst->s) return rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionary)");
    for (size_t i = 0; i < src->n; i++) {
        if (!(dst->s[i] = strdup(src->s[i]))) return rtn_fail(RTN_ERR_NOMEM, "out of memory");
        dst->n = i + 1;
    }
    return RTN_OK;
}

/* Appends the appended store's rows of buckets [b0, b1) (codes remapped). Each rank reads
 * its own row range through a serial HDF5 handle: the ranges differ in size, and the
 * parallel handle makes metadata reads collective. */
rtn_status ing_load_old_rows(ictx *c, const old_store *o, uint32_t b0, uint32_t b1,
                             const gdict g[3])
{
    uint64_t r0 = o->off[b0], r1 = o->off[b1];
    if (r0 == r1) return RTN_OK;
    hid_t f;
    RTN_TRY(rtn_h5_open_read_local(o->path, &f));
    hid_t types[RTN_NCOLS] = {H5T_NATIVE_UINT64, H5T_NATIVE_INT64, H5T_NATIVE_INT64,
                              H5T_NATIVE_INT32,  H5T_NATIVE_INT32, H5T_NATIVE_INT32,
                              H5T_NATIVE_INT32,  H5T_NATIVE_INT8,  H5T_NATIVE_UINT64};
    hid_t d[RTN_NCOLS];
    rtn_status st = RTN_OK;
    for (int k = 0; k < RTN_NCOLS; k++) {
        char name[64];
        snprintf(name, sizeof name, "/transactions/%s", rtn_column_names[k]);
        d[k] = H5Dopen2(f, name, H5P_DEFAULT);
        if (d[k] < 0 && st == RTN_OK)
            st = rtn_fail(RTN_ERR_FORMAT, "store '%s': cannot open %s", o->path, name);
    }
    rtn_txn_block blk = {0};
    for (uint64_t r = r0; r < r1 && st == RTN_OK;) {
        size_t n = (size_t)(r1 - r < (1u << 20) ? r1 - r : (1u << 20));
        st = rtn_txn_block_reserve(&blk, n, RTN_COLS_ALL);
        for (int k = 0; k < RTN_NCOLS && st == RTN_OK; k++)
            st = rtn_h5_read_rows(d[k], types[k], r, n, rtn_txn_block_column(&blk, (rtn_column)k));
        for (size_t i = 0; st == RTN_OK && i < n; i++) {
            ing_row x;
            memset(&x, 0, sizeof x);
            x.customer = blk.customer[i];
            x.time = blk.time[i];
            x.amount = blk.amount[i];
            x.quantity = blk.quantity[i];
            int32_t codes[3] = {blk.item[i], blk.category[i], blk.store[i]};
            for (int k = 0; k < 3; k++) {
                if (codes[k] >= (int32_t)o->dict[k].n || codes[k] < -1) {
                    st = rtn_fail(RTN_ERR_FORMAT, "store '%s', row %" PRIu64 ": dictionary code "
                                  "%d out of range", o->path, r + i, codes[k]);
                    break;
                }
                *row_code(&x, k) = codes[k] >= 0 ? g[k].old_map[codes[k]] : -1;
            }
            x.channel = blk.channel[i];
            x.basket = blk.basket[i];
            x.file = 0;
            x.line = r + i + 1;
            x.bucket = rtn_bucket_of(x.customer, c->B);
            if (x.bucket < b0 || x.bucket >= b1)
                st = rtn_fail(RTN_ERR_FORMAT, "store '%s', row %" PRIu64 ": customer in the wrong "
                              "bucket (damaged store?)", o->path, r + i);
            c->rows[c->nrows++] = x;
        }
        r += n;
    }
    rtn_txn_block_free(&blk);
    for (int k = 0; k < RTN_NCOLS; k++)
        if (d[k] >= 0) H5Dclose(d[k]);
    H5Fclose(f);
    return st;
}

/* Sort key of a row inside its bucket: (customer, time), then the row's index. */
typedef struct {
    uint64_t cust;
    int64_t time;
    size_t idx;
} skey;

static inline int skey_lt(const skey *a, const skey *b)
{
    return a->cust < b->cust || (a->cust == b->cust && a->time < b->time);
}

/* Stable bottom-up merge sort (insertion-sorted runs of 16); result in a. */
static void skey_sort(skey *a, skey *tmp, size_t n)
{
    for (size_t lo = 0; lo < n; lo += 16) {
        size_t hi = lo + 16 < n ? lo + 16 : n;
        for (size_t i = lo + 1; i < hi; i++) {
            skey x = a[i];
            size_t j = i;
            while (j > lo && skey_lt(&x, &a[j - 1])) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
    }
    skey *src = a, *dst = tmp;
    for (size_t w = 16; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = skey_lt(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        skey *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Groups rows by bucket (counting sort), then orders each bucket by (customer, time)
 * with compact keys and breaks the remaining ties with the full key (row_cmp), which
 * gives the same total order as sorting by row_cmp alone. */
rtn_status ing_sort_rows(ictx *c, uint32_t b0, uint32_t b1, const uint64_t *cnt)
{
    size_t nb = (size_t)(b1 - b0);
    size_t *start = calloc(nb + 1, sizeof *start);
    /* the scatter goes into the spare array (the shuffle's send buffer, pages touched) */
    if (!start || !ing_rows_reserve(&c->spare, &c->capspare, c->nrows, 0)) {
        free(start);
        return rtn_fail(RTN_ERR_NOMEM, "out of memory sorting %zu rows", c->nrows);
    }
    ing_row *tmp = c->spare;
    /* bucket sizes from the shuffle's counts; checked against the rows as they are placed */
    size_t maxb = 0;
    for (size_t b = 0; b < nb; b++) {
        if (cnt[b] > maxb) maxb = (size_t)cnt[b];
        start[b + 1] = start[b] + (size_t)cnt[b];
    }
    size_t *lim = malloc((nb + 1) * sizeof *lim); /* where each bucket ends */
    if (!lim) {
        free(start);
        return rtn_fail(RTN_ERR_NOMEM, "out of memory sorting %zu rows", c->nrows);
    }
    memcpy(lim, start + 1, nb * sizeof *lim);
    int bad = start[nb] != c->nrows;
    for (size_t i = 0; i < c->nrows && !bad; i++) {
        uint32_t b = c->rows[i].bucket;
        if (b < b0 || b >= b1 || start[b - b0] >= lim[b - b0]) {
            bad = 1;
            break;
        }
        tmp[start[b - b0]++] = c->rows[i];
    }
    free(lim);
    if (bad) {
        free(start);
        return rtn_fail(RTN_ERR_INTERNAL, "rows on the rank owning buckets [%u, %u) do not match "
                        "the bucket counts", b0, b1);
    }
    /* start[b] now ends bucket b; each bucket is gathered back into c->rows in order */
    skey *k = malloc((maxb ? maxb : 1) * sizeof *k), *kt = malloc((maxb ? maxb : 1) * sizeof *kt);
    if (!k || !kt) {
        free(start);
        free(k);
        free(kt);
        return rtn_fail(RTN_ERR_NOMEM, "out of memory sorting a bucket of %zu rows", maxb);
    }
    size_t s0 = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t n = start[b] - s0;
        const ing_row *in = tmp + s0;
        ing_row *r = c->rows + s0;
        for (size_t i = 0; i < n; i++) k[i] = (skey){in[i].customer, in[i].time, i};
        skey_sort(k, kt, n);
        for (size_t i = 0; i < n; i++) r[i] = in[k[i].idx];
        /* rows with the same (customer, time), typically one basket: full order (row_cmp
         * is a total order, so any sorting method gives the same result) */
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && r[j].customer == r[i].customer && r[j].time == r[i].time) j++;
            if (j - i > 32) {
                qsort(r + i, j - i, sizeof *r, row_cmp);
            } else {
                for (size_t x = i + 1; x < j; x++) {
                    ing_row v = r[x];
                    size_t y = x;
                    while (y > i && row_cmp(&v, &r[y - 1]) < 0) {
                        r[y] = r[y - 1];
                        y--;
                    }
                    r[y] = v;
                }
            }
            i = j;
        }
        s0 = start[b];
    }
    free(start);
    free(k);
    free(kt);
    return RTN_OK;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}


static inline void stats_add(row_stats_t *s, const ing_row *prev, const ing_row *r)
{
    s->off[r->bucket + 1]++;
    if (!prev || prev->customer != r->customer) s->customers++;
    if (r->time < s->tmin) s->tmin = r->time;
    if (r->time > s->tmax) s->tmax = r->time;
}

void ing_row_stats(const ictx *c, row_stats_t *s)
{
    for (size_t i = 0; i < c->nrows; i++) stats_add(s, i ? &c->rows[i - 1] : NULL, &c->rows[i]);
}

rtn_status ing_dedup(ictx *c, uint64_t *dup_new, uint64_t *dup_old, row_stats_t *stats)
{
    size_t w = 0;
    char detail[112];
    for (size_t i = 0; i < c->nrows; i++) {
        if (w > 0 && same_stored(&c->rows[w - 1], &c->rows[i])) {
            const ing_row *keep = &c->rows[w - 1], *d = &c->rows[i];
            snprintf(detail, sizeof detail, "same stored values as %s %" PRIu64 " of %s",
                     keep->file ? "line" : "row", keep->line,
                     base_name(c->files[keep->file].path));
            if (!ing_push_reject(c, d->file, d->line, d->off, d->rawlen, RTN_REJ_DUPLICATE, detail))
                return rtn_fail(RTN_ERR_NOMEM, "out of memory listing duplicates");
            if (d->file) (*dup_new)++;
            else (*dup_old)++;
            continue;
        }
        if (w != i) c->rows[w] = c->rows[i];
        stats_add(stats, w ? &c->rows[w - 1] : NULL, &c->rows[w]);
        w++;
    }
    c->nrows = w;
    return RTN_OK;
}
