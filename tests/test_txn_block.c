/* Row blocks: every column a block holds has room for the block's capacity, also a column
 * added after the block grew (a scan that copies a different column set from one block to
 * the next relies on it; the sanitizer build catches a write past a column's end). */
#include <stdint.h>
#include <string.h>

#include "retain/store.h"
#include "rtn_test.h"

static void fill(rtn_txn_block *b, size_t n)
{
    for (int c = 0; c < RTN_NCOLS; c++) {
        if (!(b->cols & RTN_COL(c))) continue;
        memset(rtn_txn_block_column(b, (rtn_column)c), 0xA5, n * rtn_column_sizes[c]);
    }
}

int main(void)
{
    rtn_txn_block b = {0};
    /* a big block of one column, then a small request for another column */
    CHECK(rtn_txn_block_reserve(&b, 100000, RTN_COL(RTN_COL_TIME)) == RTN_OK);
    CHECK(b.cap >= 100000);
    CHECK(rtn_txn_block_reserve(&b, 1000, RTN_COL(RTN_COL_CATEGORY)) == RTN_OK);
    CHECK(b.cap >= 100000);
    CHECK((b.cols & RTN_COL(RTN_COL_TIME)) && (b.cols & RTN_COL(RTN_COL_CATEGORY)));
    fill(&b, b.cap); /* every held column, all b.cap rows */
    /* growth keeps the invariant for columns not re-requested */
    CHECK(rtn_txn_block_reserve(&b, 300000, RTN_COL(RTN_COL_AMOUNT)) == RTN_OK);
    CHECK(b.cap >= 300000);
    fill(&b, b.cap);
    rtn_txn_block_free(&b);
    return rtn_test_finish("core.txn_block");
}
