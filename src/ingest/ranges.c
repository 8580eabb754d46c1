/* Parallel parsing of one mapped CSV file (docs/ingest.md, "Parallel parsing"): each rank
 * takes an equal byte range, guesses where its first record starts from the quote parity
 * of the bytes before it, parses, and the guesses are verified against the records that
 * were actually parsed; a wrong guess (stray quotes) is re-parsed from the true boundary,
 * so the result always equals a sequential parse. Used by every CSV kind of ingest. */
#include <inttypes.h>
#include <stdlib.h>

#include "ingest_private.h"

rtn_status ing_parse_ranges(MPI_Comm comm, const char *buf, size_t len, size_t data_start,
                            char quote, const ing_range_parser *rp, const char *path,
                            size_t *range_s, size_t *range_e)
{
    int P, r;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &r);
    const size_t D = len - data_start;
#define RANGE_S(q) (data_start + (size_t)((unsigned __int128)D * (unsigned)(q) / (unsigned)P))
    const size_t s = RANGE_S(r), e = RANGE_S(r + 1);
    uint64_t nq = quote ? rtn_csv_count(buf + s, e - s, quote) : 0, qbefore = 0;
    MPI_Exscan(&nq, &qbefore, 1, MPI_UINT64_T, MPI_SUM, comm);
    if (r == 0) qbefore = 0;
    const size_t NONE = SIZE_MAX;
    size_t p = r == 0 ? data_start : rtn_csv_first_start(buf, s, e, (int)(qbefore & 1), quote);
    if (p != NONE && p >= len) p = NONE;
    *range_s = s;
    *range_e = e;

    rtn_status st = RTN_OK;
    size_t E = NONE;
    if (p != NONE) st = rp->parse(rp->ctx, p, e, &E);
    st = rtn_agree(comm, st);
    if (st) return st;

    uint64_t *all = rtn_malloc(sizeof(uint64_t) * 2 * (size_t)P, "boundaries");
    st = rtn_agree(comm, all ? RTN_OK : RTN_ERR_NOMEM);
    if (st) {
        free(all);
        return st;
    }
    int reparses = 0;
    for (;;) {
        uint64_t mine[2] = {p, E};
        MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, comm);
        /* rank q must start where the last rank before it with records stopped */
        size_t expect = all[0] == NONE ? len : all[1];
        int bad = -1;
        size_t want = NONE;
        for (int q = 1; q < P; q++) {
            size_t eq = RANGE_S(q + 1);
            want = (expect < len && expect <= eq) ? expect : NONE;
            if (all[2 * q] != want) {
                bad = q;
                break;
            }
            if (want != NONE) expect = all[2 * q + 1];
        }
        if (bad < 0) break;
        reparses++;
        if (r == bad) {
            rp->discard(rp->ctx);
            p = want;
            E = NONE;
            if (p != NONE) st = rp->parse(rp->ctx, p, e, &E);
        }
        st = rtn_agree(comm, st);
        if (st) {
            free(all);
            return st;
        }
    }
#undef RANGE_S
    free(all);
    if (reparses) rtn_debug("input '%s': %d range boundaries re-parsed (stray quotes)", path, reparses);
    return RTN_OK;
}
