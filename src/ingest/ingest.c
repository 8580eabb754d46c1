/* `retain ingest` (include/retain/ingest.h, docs/ingest.md): the run, from the files
 * to the store. The steps live beside it: mapping.c (mapping files), parse.c (numbers,
 * dates, row conversion, splitting the files and parsing), order.c (dictionaries,
 * shuffle, sort, de-duplication), output.c (rejects file, store). */
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

/* ------------------------------------------------------------ run */

static json_t *reasons_json(const uint64_t *by)
{
    json_t *o = json_object();
    for (int i = 1; i < RTN_REJ_NREASONS; i++)
        if (i != RTN_REJ_DUPLICATE) json_object_set_new(o, rtn_reject_names[i], json_integer((json_int_t)by[i]));
    return o;
}

rtn_status rtn_ingest_run(MPI_Comm comm, const rtn_ingest_options *opt)
{
    ictx c;
    memset(&c, 0, sizeof c);
    c.comm = comm;
    c.opt = opt;
    MPI_Comm_rank(comm, &c.rank);
    MPI_Comm_size(comm, &c.size);
    c.B = opt->nbuckets ? opt->nbuckets : RTN_STORE_DEFAULT_BUCKETS;
    rtn_status st = RTN_OK;
    rtn_store *oldh = NULL;
    old_store os_, *old = NULL;
    memset(&os_, 0, sizeof os_);
    json_t *old_prov = NULL;
    gdict g[3];
    memset(g, 0, sizeof g);
    row_stats_t stats = {0};
    uint64_t *recv_cnt = NULL; /* rows of each of this rank's buckets after the shuffle */
    char fp[17] = "";
    const char *rejects = opt->rejects;
    char rejects_buf[RTN_PATH_MAX];
    if (!rejects) {
        snprintf(rejects_buf, sizeof rejects_buf, "%s.rejects.csv", opt->out);
        rejects = rejects_buf;
    }
    int keep_dups = opt->keep_duplicates >= 0 ? opt->keep_duplicates : opt->mapping.keep_duplicates;
    double max_rate = opt->max_reject_rate >= 0 ? opt->max_reject_rate
                      : opt->mapping.max_reject_rate >= 0 ? opt->mapping.max_reject_rate : 0.05;

    /* key */
    {
        unsigned char *key = NULL;
        size_t klen = 0;
        st = rtn_key_load(opt->key_path, &key, &klen);
        if (st == RTN_OK) st = rtn_pseudo_new(&c.pz, key, klen);
        rtn_key_free(key, klen);
        if (st == RTN_OK) rtn_pseudo_fingerprint(c.pz, fp);
    }
    st = rtn_agree(comm, st);
    if (st) goto out;

    c.nfiles = opt->n_inputs;
    c.files = calloc((size_t)opt->n_inputs + 1, sizeof *c.files);
    if (!c.files || opt->n_inputs > 65534) st = rtn_fail(RTN_ERR_USAGE, "too many input files");
    st = rtn_agree(comm, st);
    if (st) goto out;
    c.files[0].path = opt->append_to ? opt->append_to : "";
    for (int i = 0; i < opt->n_inputs; i++) c.files[i + 1].path = opt->inputs[i];

    /* appended store: same key, currency and bucket count */
    if (opt->append_to) {
        old_info oi;
        rtn_phase_begin("open-append");
        st = ing_read_old_provenance(&c, opt->append_to, &oi, &old_prov);
        if (st == RTN_OK) st = rtn_store_open(&oldh, comm, opt->append_to);
        rtn_phase_end("open-append");
        if (st) goto out;
        const rtn_store_info *in = rtn_store_get_info(oldh);
        if (!oi.fingerprint[0])
            st = rtn_fail(RTN_ERR_DATA, "--append-to '%s': the store records no key fingerprint "
                          "(it was not made by retain ingest), so its customers cannot be "
                          "matched with new pseudonyms", opt->append_to);
        else if (strcmp(oi.fingerprint, fp) != 0)
            st = rtn_fail(RTN_ERR_DATA, "--append-to '%s' was pseudonymized with a different key "
                          "(fingerprint %s, this key %s); customers would not line up",
                          opt->append_to, oi.fingerprint, fp);
        else if (strcmp(in->currency, opt->mapping.currency) != 0 ||
                 in->currency_exponent != opt->mapping.currency_exponent)
            st = rtn_fail(RTN_ERR_DATA, "--append-to '%s' holds %s amounts in 10^-%d units, the "
                          "mapping gives %s in 10^-%d units", opt->append_to, in->currency,
                          in->currency_exponent, opt->mapping.currency,
                          opt->mapping.currency_exponent);
        else if (opt->nbuckets && opt->nbuckets != in->nbuckets)
            st = rtn_fail(RTN_ERR_USAGE, "--buckets %u differs from the %u buckets of --append-to "
                          "'%s'", opt->nbuckets, in->nbuckets, opt->append_to);
        c.B = in->nbuckets;
        /* keep what is needed and close the parallel handle at once (rows are read later
         * through serial handles, see load_old_rows) */
        old = &os_;
        old->path = opt->append_to;
        old->nbuckets = in->nbuckets;
        old->n_rows = in->n_rows;
        snprintf(old->digest, sizeof old->digest, "%s", in->digest);
        old->off = malloc(sizeof(uint64_t) * ((size_t)in->nbuckets + 1));
        if (!old->off && st == RTN_OK) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
        if (st == RTN_OK) memcpy(old->off, in->bucket_offsets, sizeof(uint64_t) * ((size_t)in->nbuckets + 1));
        if (st == RTN_OK) st = ing_copy_strdict(&old->dict[0], &in->dict_item);
        if (st == RTN_OK) st = ing_copy_strdict(&old->dict[1], &in->dict_category);
        if (st == RTN_OK) st = ing_copy_strdict(&old->dict[2], &in->dict_store);
        st = rtn_agree(comm, st);
        rtn_store_close(oldh);
        oldh = NULL;
        if (st) goto out;
    }

    /* parse */
    c.bucket_cnt = calloc(c.B ? c.B : 1, sizeof *c.bucket_cnt);
    st = rtn_agree(comm, c.bucket_cnt ? RTN_OK : rtn_fail(RTN_ERR_NOMEM, "out of memory"));
    if (st) goto out;
    rtn_phase_begin("parse");
    {
        double total = 0;
        for (int i = 1; i <= c.nfiles; i++) {
            struct stat sb;
            if (stat(c.files[i].path, &sb) == 0) total += (double)sb.st_size;
        }
        rtn_progress_begin(&c.prog, "ingest: parsing", "bytes", total / c.size);
    }
    for (int i = 1; i <= c.nfiles && st == RTN_OK; i++) st = ing_process_file(&c, (uint16_t)i);
    rtn_progress_end(&c.prog, c.bytes_done);
    rtn_phase_end("parse");
    if (st) goto out;

    counters gt = c.tot;
    MPI_Allreduce(MPI_IN_PLACE, &gt, NCOUNTERS, MPI_UINT64_T, MPI_SUM, comm);
    uint64_t rejected = 0;
    for (int i = 1; i < RTN_REJ_NREASONS; i++)
        if (i != RTN_REJ_DUPLICATE) rejected += gt.by_reason[i];
    uint64_t bytes_in = 0;
    for (int i = 1; i <= c.nfiles; i++) {
        uint64_t v[2] = {c.files[i].rows_read, c.files[i].rejected};
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_SUM, comm);
        c.files[i].rows_read = v[0];
        c.files[i].rejected = v[1];
        bytes_in += c.files[i].len;
    }
    rtn_summary_set_int("ingest", "files", c.nfiles);
    rtn_summary_set_int("ingest", "bytes", (int64_t)bytes_in);
    rtn_summary_set_int("ingest", "rows_read", (int64_t)gt.rows_read);
    rtn_summary_set_int("ingest", "rows_rejected", (int64_t)rejected);
    rtn_summary_set_int("ingest", "blank_lines", (int64_t)gt.blank);
    rtn_summary_set_int("ingest", "returns", (int64_t)gt.returns);
    rtn_summary_set_int("ingest", "amounts_rounded", (int64_t)gt.rounded);
    json_object_set_new(rtn_summary_section("ingest"), "rejected_by_reason", reasons_json(gt.by_reason));
    rtn_summary_set_str("ingest", "rejects_file", rejects);
    rtn_summary_set_str("ingest", "mapping", opt->mapping.name);
    rtn_info("ingest: %" PRIu64 " rows read from %d file(s), %" PRIu64 " rejected (%.2f%%)",
             gt.rows_read, c.nfiles, rejected,
             gt.rows_read ? 100.0 * (double)rejected / (double)gt.rows_read : 0.0);
    for (int i = 1; i < RTN_REJ_NREASONS; i++)
        if (gt.by_reason[i]) rtn_info("  rejected %-20s %" PRIu64, rtn_reject_names[i], gt.by_reason[i]);

    if (gt.rows_read > 0 && (double)rejected > max_rate * (double)gt.rows_read) {
        st = ing_write_rejects(&c, rejects);
        if (st == RTN_OK)
            st = rtn_fail(RTN_ERR_DATA, "%" PRIu64 " of %" PRIu64 " rows rejected (%.2f%%), more "
                          "than --max-reject-rate %g; no store written; rejected rows are in '%s'",
                          rejected, gt.rows_read, 100.0 * (double)rejected / (double)gt.rows_read,
                          max_rate, rejects);
        goto out;
    }
    if (gt.accepted == 0 && !old) {
        st = ing_write_rejects(&c, rejects);
        if (st == RTN_OK)
            st = rtn_fail(RTN_ERR_DATA, "no rows accepted (%" PRIu64 " read, %" PRIu64 " rejected); "
                          "no store written%s%s", gt.rows_read, rejected,
                          rejected ? "; see " : "", rejected ? rejects : "");
        goto out;
    }

    /* dictionaries */
    rtn_phase_begin("dictionaries");
    {
        const rtn_strdict *od[3] = {old ? &old->dict[0] : NULL, old ? &old->dict[1] : NULL,
                                    old ? &old->dict[2] : NULL};
        unsigned char *used[3];
        for (int k = 0; k < 3; k++) used[k] = calloc(c.dict[k].n ? c.dict[k].n : 1, 1);
        if (!used[0] || !used[1] || !used[2]) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
        if (st == RTN_OK && !c.discarded) {
            /* every interned string came from a row that was kept */
            for (int k = 0; k < 3; k++) memset(used[k], 1, c.dict[k].n);
        }
        for (size_t i = 0; st == RTN_OK && c.discarded && i < c.nrows; i++) {
            const ing_row *r = &c.rows[i];
            if (r->item >= 0) used[0][r->item] = 1;
            if (r->category >= 0) used[1][r->category] = 1;
            if (r->store >= 0) used[2][r->store] = 1;
        }
        st = rtn_agree(comm, st);
        for (int k = 0; k < 3 && st == RTN_OK; k++) st = ing_build_dict(comm, &c.dict[k], od[k], &g[k], used[k]);
        for (int k = 0; k < 3; k++) free(used[k]);
        /* the rows' local codes become global codes while the shuffle packs them */
    }
    rtn_phase_end("dictionaries");
    if (st) goto out;

    /* shuffle to bucket owners, add the appended store's rows, sort, de-duplicate */
    uint32_t b0 = 0, b1 = 0;
    rtn_phase_begin("shuffle");
    st = ing_shuffle(&c, old ? old->off : NULL, g, &b0, &b1, &recv_cnt);
    rtn_phase_end("shuffle");
    if (st) goto out;
    uint64_t from_old = 0;
    if (old) {
        rtn_phase_begin("read-append");
        size_t before = c.nrows;
        st = ing_load_old_rows(&c, old, b0, b1, g);
        from_old = c.nrows - before;
        st = rtn_agree(comm, st);
        rtn_phase_end("read-append");
        if (st) goto out;
        MPI_Allreduce(MPI_IN_PLACE, &from_old, 1, MPI_UINT64_T, MPI_SUM, comm);
    }
    rtn_phase_begin("sort");
    st = ing_sort_rows(&c, b0, b1, recv_cnt);
    uint64_t dups[2] = {0, 0};
    stats.off = calloc((size_t)c.B + 1, sizeof *stats.off);
    stats.tmin = INT64_MAX;
    stats.tmax = INT64_MIN;
    if (st == RTN_OK && !stats.off) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (bucket offsets)");
    if (st == RTN_OK && !keep_dups) st = ing_dedup(&c, &dups[0], &dups[1], &stats);
    else if (st == RTN_OK) ing_row_stats(&c, &stats);
    st = rtn_agree(comm, st);
    rtn_phase_end("sort");
    if (st) goto out;
    MPI_Allreduce(MPI_IN_PLACE, dups, 2, MPI_UINT64_T, MPI_SUM, comm);
    rtn_summary_set_int("ingest", "duplicates_removed", (int64_t)(dups[0] + dups[1]));
    rtn_summary_set_int("ingest", "rows_accepted", (int64_t)(gt.accepted - dups[0]));
    if (old) {
        rtn_summary_set_int("ingest", "rows_from_appended_store", (int64_t)from_old);
        rtn_summary_set_int("ingest", "appended_store_duplicates_removed", (int64_t)dups[1]);
    }
    if (dups[0] + dups[1])
        rtn_info("ingest: %" PRIu64 " exact duplicate rows removed", dups[0] + dups[1]);

    /* rejects file (parse rejects and removed duplicates) */
    rtn_phase_begin("rejects");
    st = ing_write_rejects(&c, rejects);
    rtn_phase_end("rejects");
    if (st) goto out;

    /* provenance and the store */
    char *prov_txt = NULL;
    {
        json_t *p = json_object();
        json_object_set_new(p, "created_by", json_string("retain ingest"));
        json_object_set_new(p, "mapping", json_string(opt->mapping.name));
        json_object_set_new(p, "key_fingerprint", json_string(fp));
        json_t *ins = json_array();
        for (int i = 1; i <= c.nfiles; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "path", json_string(c.files[i].path));
            json_object_set_new(o, "bytes", json_integer((json_int_t)c.files[i].len));
            json_object_set_new(o, "rows_read", json_integer((json_int_t)c.files[i].rows_read));
            json_object_set_new(o, "rows_rejected", json_integer((json_int_t)c.files[i].rejected));
            json_array_append_new(ins, o);
        }
        json_object_set_new(p, "inputs", ins);
        json_object_set_new(p, "rows_read", json_integer((json_int_t)gt.rows_read));
        json_object_set_new(p, "rows_rejected", json_integer((json_int_t)rejected));
        json_object_set_new(p, "duplicates_removed", json_integer((json_int_t)(dups[0] + dups[1])));
        json_object_set_new(p, "rejected_by_reason", reasons_json(gt.by_reason));
        const rtn_ingest_mapping *m = &opt->mapping;
        json_object_set_new(p, "time_zone", json_string(m->tz_kind == RTN_TZ_NAME ? m->tz_name
                                                        : m->tz_kind == RTN_TZ_OFFSET ? "fixed offset"
                                                        : "UTC"));
        if (m->tz_kind == RTN_TZ_OFFSET)
            json_object_set_new(p, "time_zone_offset_seconds", json_integer(m->tz_offset));
        if (opt->append_to) {
            json_t *a = json_object();
            json_object_set_new(a, "path", json_string(opt->append_to));
            json_object_set_new(a, "content_digest", json_string(old->digest));
            json_object_set_new(a, "rows", json_integer((json_int_t)old->n_rows));
            if (old_prov) json_object_set(a, "provenance", old_prov);
            json_object_set_new(p, "appended_to", a);
        }
        prov_txt = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(p);
    }
    uint64_t n_rows = 0, n_cust = 0;
    rtn_phase_begin("write");
    st = ing_write_store(&c, b0, b1, g, prov_txt ? prov_txt : "{}", &stats, &n_rows, &n_cust);
    rtn_phase_end("write");
    free(prov_txt);
    if (st == RTN_OK) {
        rtn_summary_set_int("ingest", "rows_written", (int64_t)n_rows);
        rtn_summary_set_int("ingest", "customers", (int64_t)n_cust);
        rtn_summary_set_int("ingest", "buckets", c.B);
        rtn_summary_set_str("ingest", "store", opt->out);
        rtn_summary_set_str("ingest", "key_fingerprint", fp);
        rtn_info("ingest: wrote '%s': %" PRIu64 " rows, %" PRIu64 " customers, %zu items, "
                 "%zu categories, %zu stores", opt->out, n_rows, n_cust, g[0].n, g[1].n, g[2].n);
    }

out:
    if (oldh) rtn_store_close(oldh);
    ing_old_store_free(&os_);
    json_decref(old_prov);
    for (int k = 0; k < 3; k++) ing_gdict_free(&g[k]);
    for (int i = 0; c.files && i <= c.nfiles; i++)
        if (c.files[i].map) munmap((void *)c.files[i].map, c.files[i].len);
    free(c.files);
    free(c.rows);
    free(c.spare);
    free(stats.off);
    free(recv_cnt);
    free(c.bucket_cnt);
    free(c.rej);
    ing_st_free(&c.cust);
    for (int k = 0; k < 3; k++) ing_st_free(&c.dict[k]);
    rtn_csv_record_free(&c.rec);
    rtn_pseudo_free(c.pz);
    ing_tz_restore();
    return st;
}
