/* Unit tests of the ingest building blocks: CSV records, UTF-8, exact decimals, dates and
 * zones, identifier normalization, HMAC (RFC 4231 vectors), key files and mappings. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "retain/csv.h"
#include "retain/ingest.h"
#include "retain/pseudonym.h"
#include "rtn_test.h"

static int field_is(const rtn_csv_record *r, size_t i, const char *s)
{
    return i < r->nfields && r->f[i].len == strlen(s) && memcmp(r->f[i].p, s, r->f[i].len) == 0;
}

static void test_csv(void)
{
    rtn_csv_dialect d = {',', '"', 0};
    rtn_csv_record r = {0};
    const char *t = "a,\"b,\"\"x\"\"\",c\r\n\"multi\nline\",,\n\nlast,\"q\"";
    size_t len = strlen(t), pos = 0;
    CHECK(rtn_csv_next(&d, t, len, pos, &r) == RTN_CSV_RECORD);
    CHECK_EQ_INT(r.nfields, 3);
    CHECK(field_is(&r, 0, "a"));
    CHECK(field_is(&r, 1, "b,\"x\""));
    CHECK(field_is(&r, 2, "c"));
    CHECK_EQ_INT(r.newlines, 1);
    CHECK_EQ_INT(r.raw_len, strlen("a,\"b,\"\"x\"\"\",c"));
    pos = r.end;
    CHECK(rtn_csv_next(&d, t, len, pos, &r) == RTN_CSV_RECORD);
    CHECK_EQ_INT(r.nfields, 3);
    CHECK(field_is(&r, 0, "multi\nline"));
    CHECK(field_is(&r, 1, ""));
    CHECK(field_is(&r, 2, ""));
    CHECK_EQ_INT(r.newlines, 2);
    pos = r.end;
    CHECK(rtn_csv_next(&d, t, len, pos, &r) == RTN_CSV_RECORD);
    CHECK(r.blank);
    CHECK_EQ_INT(r.newlines, 1);
    pos = r.end;
    CHECK(rtn_csv_next(&d, t, len, pos, &r) == RTN_CSV_RECORD);
    CHECK_EQ_INT(r.nfields, 2);
    CHECK(field_is(&r, 1, "q"));
    CHECK_EQ_INT(r.newlines, 0);
    CHECK_EQ_INT(r.end, len);
    CHECK(rtn_csv_next(&d, t, len, r.end, &r) == RTN_CSV_EOF);

    /* errors */
    const char *u = "x,\"open\nstill open";
    CHECK(rtn_csv_next(&d, u, strlen(u), 0, &r) == RTN_CSV_ERR_UNTERMINATED_QUOTE);
    CHECK_EQ_INT(r.end, strlen(u));
    CHECK_EQ_INT(r.newlines, 1);
    const char *bq = "\"a\"b,c\nnext\n";
    CHECK(rtn_csv_next(&d, bq, strlen(bq), 0, &r) == RTN_CSV_ERR_BAD_QUOTE);
    CHECK_EQ_INT(r.end, 7);
    CHECK(rtn_csv_next(&d, bq, strlen(bq), r.end, &r) == RTN_CSV_RECORD);
    CHECK(field_is(&r, 0, "next"));
    /* a stray quote inside an unquoted field is kept literally */
    const char *sq = "ab\"c,d\n";
    CHECK(rtn_csv_next(&d, sq, strlen(sq), 0, &r) == RTN_CSV_RECORD);
    CHECK(field_is(&r, 0, "ab\"c"));
    /* too many fields */
    char many[2 * RTN_CSV_MAX_FIELDS + 8];
    size_t o = 0;
    for (int i = 0; i < RTN_CSV_MAX_FIELDS + 2; i++) many[o++] = ',';
    many[o++] = '\n';
    CHECK(rtn_csv_next(&d, many, o, 0, &r) == RTN_CSV_ERR_TOO_MANY_FIELDS);
    CHECK_EQ_INT(r.end, o);
    /* trailing delimiter gives an empty last field; lone CR at the end ends the line */
    const char *td = "a,b,\r";
    CHECK(rtn_csv_next(&d, td, strlen(td), 0, &r) == RTN_CSV_RECORD);
    CHECK_EQ_INT(r.nfields, 3);
    CHECK(field_is(&r, 2, ""));
    CHECK_EQ_INT(r.raw_len, 4);

    /* whitespace dialect (CDNOW) */
    rtn_csv_dialect w = {0, 0, 1};
    const char *cd = " customer_id  date n  v\r\n 00001 19970101 1   11.77\r\n   \r\n";
    CHECK(rtn_csv_next(&w, cd, strlen(cd), 0, &r) == RTN_CSV_RECORD);
    CHECK_EQ_INT(r.nfields, 4);
    CHECK(field_is(&r, 0, "customer_id"));
    CHECK(rtn_csv_next(&w, cd, strlen(cd), r.end, &r) == RTN_CSV_RECORD);
    CHECK(field_is(&r, 0, "00001"));
    CHECK(field_is(&r, 3, "11.77"));
    CHECK_EQ_INT(r.raw_len, strlen(" 00001 19970101 1   11.77"));
    CHECK(rtn_csv_next(&w, cd, strlen(cd), r.end, &r) == RTN_CSV_RECORD);
    CHECK(r.blank);

    /* BOM and boundary search with quote parity */
    CHECK_EQ_INT(rtn_csv_bom("\xEF\xBB\xBFx", 4), 3);
    CHECK_EQ_INT(rtn_csv_bom("x", 1), 0);
    const char *pq = "a,\"x\ny\"\nb\n";
    /* from 2 with parity 0: the quote opens, the '\n' inside is skipped */
    CHECK_EQ_INT(rtn_csv_first_start(pq, 2, strlen(pq), 0, '"'), 8);
    CHECK_EQ_INT(rtn_csv_first_start(pq, 4, strlen(pq), 1, '"'), 8);
    CHECK(rtn_csv_first_start(pq, 0, 3, 0, '"') == SIZE_MAX);
    CHECK_EQ_INT(rtn_csv_count(pq, strlen(pq), '"'), 2);
    rtn_csv_record_free(&r);
}

/* The 16-byte fast path of rtn_csv_next against the byte loop on random text made of the
 * bytes that matter (delimiters, quotes, CR, LF, non-ASCII, NUL) and plain letters, in
 * buffers of every length up to 300 so that records end near and across the buffer end. */
static void test_csv_fast_path(void)
{
    static const char alpha[] = "ab,,,\"\r\n\n;x\xc3\xa9\0";
    static const rtn_csv_dialect ds[3] = {{',', '"', 0}, {';', 0, 0}, {'|', '\'', 0}};
    char buf[300];
    rtn_csv_record a = {0}, b = {0};
    uint64_t seed = 12345;
    size_t compared = 0, mismatches = 0;
    for (int round = 0; round < 3000; round++) {
        size_t len = (size_t)round % sizeof buf;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            unsigned v = (unsigned)(seed >> 33);
            /* mostly letters and commas so that many records take the fast path */
            buf[i] = (v & 3) ? "abcdefgh,,"[v % 10] : alpha[(v >> 2) % (sizeof alpha - 1)];
        }
        const rtn_csv_dialect *d = &ds[round % 3];
        size_t pos = 0;
        for (;;) {
            rtn_csv_result r = rtn_csv_next(d, buf, len, pos, &a);
            rtn_csv_result q = rtn_csv_next_scalar(d, buf, len, pos, &b);
            compared++;
            int same = r == q;
            if (same && r != RTN_CSV_EOF)
                same = a.start == b.start && a.end == b.end && a.raw_len == b.raw_len &&
                       a.newlines == b.newlines;
            if (same && r == RTN_CSV_RECORD) {
                same = a.nfields == b.nfields && a.blank == b.blank;
                /* a record marked ASCII has no byte >= 0x80 and no NUL */
                for (size_t i = 0; same && a.ascii && i < a.raw_len; i++)
                    same = (unsigned char)buf[a.start + i] >= 1 &&
                           (unsigned char)buf[a.start + i] < 0x80;
                for (size_t i = 0; same && i < a.nfields; i++)
                    same = a.f[i].len == b.f[i].len &&
                           memcmp(a.f[i].p, b.f[i].p, a.f[i].len) == 0;
            }
            if (!same) {
                mismatches++;
                break;
            }
            if (r == RTN_CSV_EOF) break;
            pos = a.end;
        }
    }
    CHECK(compared > 10000);
    CHECK_EQ_INT(mismatches, 0);
    rtn_csv_record_free(&a);
    rtn_csv_record_free(&b);
}

static void test_utf8(void)
{
    CHECK_EQ_INT(rtn_utf8_check("plain ascii text, long enough", 29), 0);
    CHECK_EQ_INT(rtn_utf8_check("\xC2\xA3" "5", 3), 0);                /* pound sign */
    CHECK_EQ_INT(rtn_utf8_check("ab\xF0\x9F\x98\x80", 6), 0);           /* emoji */
    CHECK_EQ_INT(rtn_utf8_check("ab\xC0\xAF", 4), 3);                   /* overlong */
    CHECK_EQ_INT(rtn_utf8_check("abc\xED\xA0\x80", 6), 4);              /* surrogate */
    CHECK_EQ_INT(rtn_utf8_check("abcdefgh\xE2\x82", 10), 9);            /* truncated */
    CHECK_EQ_INT(rtn_utf8_check("abcdefghij\0k", 12), 11);             /* NUL */
    CHECK_EQ_INT(rtn_utf8_check("\xFF", 1), 1);
    CHECK_EQ_INT(rtn_utf8_check("\xF4\x90\x80\x80", 4), 1);             /* > U+10FFFF */
}

static void test_decimal(void)
{
    int64_t m, out;
    int sc;
    CHECK(rtn_ingest_parse_decimal(" -12.50 ", 8, &m, &sc) == 0 && m == -1250 && sc == 2);
    CHECK(rtn_ingest_parse_decimal("7", 1, &m, &sc) == 0 && m == 7 && sc == 0);
    CHECK(rtn_ingest_parse_decimal(".5", 2, &m, &sc) == 0 && m == 5 && sc == 1);
    CHECK(rtn_ingest_parse_decimal("1e3", 3, &m, &sc) == -1);
    CHECK(rtn_ingest_parse_decimal("", 0, &m, &sc) == -1);
    CHECK(rtn_ingest_parse_decimal("-", 1, &m, &sc) == -1);
    CHECK(rtn_ingest_parse_decimal("1.2.3", 5, &m, &sc) == -1);
    CHECK(rtn_ingest_parse_decimal("99999999999999999999999", 23, &m, &sc) == -2);
    /* 6 x 2.55 = 15.30 GBP = 1530 pence */
    CHECK(rtn_ingest_to_minor((__int128)255 * 6, 2, 2, 1, &out) == 0 && out == 1530);
    /* 3 decimals: exact when the result is whole pence */
    CHECK(rtn_ingest_to_minor((__int128)1250 * 4, 3, 2, 0, &out) == 0 && out == 500);
    /* 0.001 GBP: half-even rounding or refusal */
    CHECK(rtn_ingest_to_minor(1, 3, 2, 1, &out) == 1 && out == 0);
    CHECK(rtn_ingest_to_minor(1, 3, 2, 0, &out) == -1);
    CHECK(rtn_ingest_to_minor(5, 3, 2, 1, &out) == 1 && out == 0);    /* 0.005 -> 0.00 */
    CHECK(rtn_ingest_to_minor(15, 3, 2, 1, &out) == 1 && out == 2);   /* 0.015 -> 0.02 */
    CHECK(rtn_ingest_to_minor(-15, 3, 2, 1, &out) == 1 && out == -2);
    CHECK(rtn_ingest_to_minor(-16, 3, 2, 1, &out) == 1 && out == -2);
    CHECK(rtn_ingest_to_minor(-14, 3, 2, 1, &out) == 1 && out == -1);
    CHECK(rtn_ingest_to_minor(7, 0, 2, 1, &out) == 0 && out == 700);
    CHECK(rtn_ingest_to_minor((__int128)INT64_MAX, 0, 2, 1, &out) == -2);
}

static void test_time(void)
{
    rtn_ingest_mapping m;
    rtn_ingest_mapping_preset(&m, "online-retail");
    int64_t t;
    CHECK(rtn_days_from_civil(1970, 1, 1) == 0);
    CHECK(rtn_days_from_civil(2000, 3, 1) == 11017);
    CHECK(rtn_days_from_civil(1969, 12, 31) == -1);
    CHECK(rtn_ingest_parse_time(&m, "2010-12-01 08:26:00", 19, &t) == 0 && t == 1291191960);
    CHECK(rtn_ingest_parse_time(&m, "2011-02-29 08:26:00", 19, &t) == -1);
    CHECK(rtn_ingest_parse_time(&m, "2012-02-29 00:00:00", 19, &t) == 0 && t == 1330473600);
    CHECK(rtn_ingest_parse_time(&m, "2010-13-01 08:26:00", 19, &t) == -1);
    CHECK(rtn_ingest_parse_time(&m, "2010-12-01 24:00:00", 19, &t) == -1);
    CHECK(rtn_ingest_parse_time(&m, "2010-12-01", 10, &t) == -1);
    CHECK(rtn_ingest_parse_time(&m, "2010-12-01 08:26:00x", 20, &t) == -1);
    CHECK(rtn_ingest_parse_time(&m, "not a date", 10, &t) == -1);
    snprintf(m.time_format, sizeof m.time_format, "%%d %%b %%Y %%I");
    /* %I is not supported: the parser refuses rather than guessing */
    CHECK(rtn_ingest_parse_time(&m, "01 Dec 2010 08", 14, &t) == -1);
    snprintf(m.time_format, sizeof m.time_format, "%%m/%%d/%%y %%H:%%M %%p");
    CHECK(rtn_ingest_parse_time(&m, "12/1/10 8:26 PM", 15, &t) == 0 && t == 1291191960 + 12 * 3600);
    snprintf(m.time_format, sizeof m.time_format, "%%d-%%b-%%Y");
    CHECK(rtn_ingest_parse_time(&m, "01-December-2010", 16, &t) == 0 && t == 1291161600);
    CHECK(rtn_ingest_parse_time(&m, "01-dec-2010", 11, &t) == 0 && t == 1291161600);
    snprintf(m.time_format, sizeof m.time_format, "%%Y-%%m-%%dT%%H:%%M:%%S.%%f%%z");
    CHECK(rtn_ingest_parse_time(&m, "2010-12-01T09:26:00.123+01:00", 29, &t) == 0 && t == 1291191960);
    CHECK(rtn_ingest_parse_time(&m, "2010-12-01T08:26:00.5Z", 22, &t) == 0 && t == 1291191960);
    snprintf(m.time_format, sizeof m.time_format, "%%s");
    CHECK(rtn_ingest_parse_time(&m, "1291191960", 10, &t) == 0 && t == 1291191960);
    snprintf(m.time_format, sizeof m.time_format, "%%Y%%m%%d");
    CHECK(rtn_ingest_parse_time(&m, "19970101", 8, &t) == 0 && t == 852076800);
    /* fixed offset and a zone name: 2011-07-01 12:00 in London is 11:00 UTC (BST) */
    snprintf(m.time_format, sizeof m.time_format, "%%Y-%%m-%%d %%H:%%M");
    m.tz_kind = RTN_TZ_OFFSET;
    m.tz_offset = -5 * 3600;
    CHECK(rtn_ingest_parse_time(&m, "2011-07-01 12:00", 16, &t) == 0 && t == 1309521600 + 5 * 3600);
    if (access("/usr/share/zoneinfo/Europe/London", R_OK) == 0) {
        m.tz_kind = RTN_TZ_NAME;
        snprintf(m.tz_name, sizeof m.tz_name, "Europe/London");
        CHECK(rtn_ingest_parse_time(&m, "2011-07-01 12:00", 16, &t) == 0 && t == 1309521600 - 3600);
        CHECK(rtn_ingest_parse_time(&m, "2011-01-01 12:00", 16, &t) == 0 && t == 1293883200);
    }
}

static void test_pseudonym(void)
{
    size_t n;
    const char *s = rtn_customer_id_normalize(" 17850.0 ", 9, &n);
    CHECK(n == 5 && memcmp(s, "17850", 5) == 0);
    s = rtn_customer_id_normalize("17850.00", 8, &n);
    CHECK(n == 5);
    s = rtn_customer_id_normalize("17850.5", 7, &n);
    CHECK(n == 7);
    s = rtn_customer_id_normalize("00042", 5, &n);
    CHECK(n == 5 && s[0] == '0');
    s = rtn_customer_id_normalize("AB.0", 4, &n);
    CHECK(n == 4);
    s = rtn_customer_id_normalize("  ", 2, &n);
    CHECK(n == 0);

    /* RFC 4231 test cases 2 and 6 */
    rtn_pseudonymizer *p;
    unsigned char mac[32];
    char hex[65];
    REQUIRE(rtn_pseudo_new(&p, (const unsigned char *)"Jefe", 4) == RTN_OK);
    const char *msg = "what do ya want for nothing?";
    rtn_pseudo_hmac(p, msg, strlen(msg), mac);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    CHECK(strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0);
    uint64_t want = 0;
    for (int i = 7; i >= 0; i--) want = want << 8 | mac[i];
    CHECK(rtn_pseudo_of(p, msg, strlen(msg)) == want);
    rtn_pseudo_free(p);
    unsigned char big[131];
    memset(big, 0xaa, sizeof big);
    REQUIRE(rtn_pseudo_new(&p, big, sizeof big) == RTN_OK);
    msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    rtn_pseudo_hmac(p, msg, strlen(msg), mac);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    CHECK(strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54") == 0);
    char fp[17];
    rtn_pseudo_fingerprint(p, fp);
    CHECK(strlen(fp) == 16);
    rtn_pseudo_free(p);
}

static void write_file(const char *path, const char *data, size_t n, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, data, n) == (ssize_t)n);
    close(fd);
    chmod(path, mode);
}

static void test_keys(const char *dir)
{
    char path[512];
    unsigned char *k;
    size_t n;
    snprintf(path, sizeof path, "%s/key", dir);
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    write_file(path, hex, strlen(hex), 0600);
    CHECK(rtn_key_load(path, &k, &n) == RTN_OK && n == 32 && k[31] == 0x1f);
    rtn_key_free(k, n);
    write_file(path, hex, strlen(hex), 0640);
    CHECK(rtn_key_load(path, &k, &n) == RTN_ERR_CONFIG);
    write_file(path, hex, strlen(hex), 0604);
    CHECK(rtn_key_load(path, &k, &n) == RTN_ERR_CONFIG);
    write_file(path, "abcd\n", 5, 0600);
    CHECK(rtn_key_load(path, &k, &n) == RTN_ERR_CONFIG); /* too short */
    unsigned char raw[40];
    for (int i = 0; i < 40; i++) raw[i] = (unsigned char)(200 + i % 50);
    write_file(path, (const char *)raw, sizeof raw, 0400);
    CHECK(rtn_key_load(path, &k, &n) == RTN_OK && n == 40 && k[0] == 200);
    rtn_key_free(k, n);
    CHECK(rtn_key_load("/nonexistent/key", &k, &n) == RTN_ERR_IO);
    unlink(path);
}

static void test_mapping(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/map.ini", dir);
    const char *ini = "; a POS export\n[input]\ndelimiter = semicolon\nheader = true\n"
                      "[columns]\ncustomer = Card\ntime = When\namount = Total\nitem = SKU\n"
                      "channel = Channel\nbasket = Receipt\n"
                      "[values]\ntime_format = %d.%m.%Y %H:%M\ntimezone = +01:00\ncurrency = EUR\n"
                      "category = general\nreturn_prefix = R\n";
    write_file(path, ini, strlen(ini), 0644);
    rtn_ingest_mapping m;
    REQUIRE(rtn_ingest_mapping_load(&m, path) == RTN_OK);
    CHECK(m.dialect.delim == ';');
    CHECK(m.tz_kind == RTN_TZ_OFFSET && m.tz_offset == 3600);
    rtn_csv_record hdr = {0}, rec = {0};
    const char *h = "Receipt;When;Card;SKU;Total;Channel\n";
    CHECK(rtn_csv_next(&m.dialect, h, strlen(h), 0, &hdr) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_mapping_resolve(&m, &hdr, "test") == RTN_OK);
    CHECK(m.col[RTN_ING_CUSTOMER] == 2 && m.col[RTN_ING_AMOUNT] == 4 && m.col[RTN_ING_QUANTITY] == -1);
    const char *row = "R17;01.07.2011 13:00;  C-9 ;SKU1;12,5;app\n";
    CHECK(rtn_csv_next(&m.dialect, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    rtn_ingest_row r;
    char detail[112];
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_BAD_AMOUNT);
    row = "R17;01.07.2011 13:00;  C-9 ;SKU1;12.5;app\n";
    CHECK(rtn_csv_next(&m.dialect, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_NONE);
    CHECK(r.customer_len == 3 && memcmp(r.customer, "C-9", 3) == 0);
    CHECK(r.amount == -1250 && r.is_return && r.quantity == -1);
    CHECK(r.time == 1309521600);
    CHECK(r.channel == 2);
    CHECK(r.category_len == 7);
    row = "B1;01.07.2011 13:00;C-9;SKU1;1;kiosk\n";
    CHECK(rtn_csv_next(&m.dialect, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_BAD_CHANNEL);
    row = "B1;31.06.2011 13:00;C-9;SKU1;1;app\n";
    CHECK(rtn_csv_next(&m.dialect, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_BAD_DATE);
    row = "B1;01.07.2011 13:00;;SKU1;1;app\n";
    CHECK(rtn_csv_next(&m.dialect, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_MISSING_CUSTOMER);
    row = "B1;01.07.2011 13:00;x;SKU1;1\n";
    CHECK(rtn_csv_next(&m.dialect, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_WRONG_COLUMN_COUNT);
    CHECK(strstr(detail, "5 fields") != NULL);
    /* a header without a mapped column */
    h = "Receipt;When;Customer;SKU;Total;Channel\n";
    CHECK(rtn_csv_next(&m.dialect, h, strlen(h), 0, &hdr) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_mapping_resolve(&m, &hdr, "test") == RTN_ERR_CONFIG);

    /* online-retail preset: quantity x price, returns, category from the stock code */
    rtn_ingest_mapping_preset(&m, "online-retail");
    rtn_csv_dialect d = m.dialect;
    h = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";
    CHECK(rtn_csv_next(&d, h, strlen(h), 0, &hdr) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_mapping_resolve(&m, &hdr, "test") == RTN_OK);
    row = "C536379,D,\"Discount, \"\"big\"\"\",-1,2010-12-01 09:41:00,27.50,14527.0,United Kingdom\n";
    CHECK(rtn_csv_next(&d, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_NONE);
    CHECK(r.amount == -2750 && r.quantity == -1 && r.is_return);
    CHECK(r.category_len == 11 && memcmp(r.category, "non-product", 11) == 0);
    CHECK(r.customer_len == 5);
    row = "536365,85123A,X,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n";
    CHECK(rtn_csv_next(&d, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_NONE);
    CHECK(r.amount == 1530 && r.quantity == 6 && !r.is_return && r.channel == 1);
    CHECK(r.category_len == 2 && memcmp(r.category, "85", 2) == 0);
    row = "536365,85123A,X,six,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n";
    CHECK(rtn_csv_next(&d, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_BAD_QUANTITY);
    row = "536365,85123A,X,6,2010-12-01 08:26:00,2.5.5,17850.0,United Kingdom\n";
    CHECK(rtn_csv_next(&d, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_BAD_PRICE);
    row = "536365,85123A,X,6.5,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n";
    CHECK(rtn_csv_next(&d, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_BAD_QUANTITY);

    /* an event log without spend: a constant amount, no amount column needed */
    const char *elog = "[columns]\ncustomer = cust\ntime = date\n[values]\ntime_format = %Y-%m-%d\n"
                       "amount = 0\n";
    write_file(path, elog, strlen(elog), 0644);
    REQUIRE(rtn_ingest_mapping_load(&m, path) == RTN_OK);
    d = m.dialect;
    h = "cust,date\n";
    CHECK(rtn_csv_next(&d, h, strlen(h), 0, &hdr) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_mapping_resolve(&m, &hdr, "test") == RTN_OK);
    row = "17,2006-12-19\n";
    CHECK(rtn_csv_next(&d, row, strlen(row), 0, &rec) == RTN_CSV_RECORD);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_NONE);
    CHECK(r.amount == 0 && r.quantity == 1 && r.category_len == 0 && r.item_len == 0);
    const char *elog5 = "[columns]\ncustomer = cust\ntime = date\n[values]\namount = 4.5\n"
                        "currency_exponent = 1\ntime_format = %Y-%m-%d\n";
    write_file(path, elog5, strlen(elog5), 0644);
    REQUIRE(rtn_ingest_mapping_load(&m, path) == RTN_OK);
    CHECK(rtn_ingest_mapping_resolve(&m, &hdr, "test") == RTN_OK);
    CHECK(rtn_ingest_convert(&m, &rec, &r, detail, sizeof detail) == RTN_REJ_NONE);
    CHECK(r.amount == 45); /* 4.5 in tenths: the exponent after the amount still applies */

    /* mapping file errors */
    const char *bad[] = {"[columns]\ncustomer = a\ntime = b\n",                        /* no amount */
                         "[columns]\ncustomer = a\ntime = b\namount = c\nshoe = d\n",  /* role */
                         "[values]\ntimezone = Mars/Olympus\n",
                         "[values]\ntime_format = %Q\n",
                         "[input]\ndelimiter = ::\n",
                         "[nonsense]\nx = 1\n",
                         "[columns]\ncustomer = a\ntime = b\namount = c\n[values]\namount = 0\n",
                         "[columns]\ncustomer = a\ntime = b\n[values]\namount = free\n",
                         "[columns]\ncustomer = a\ntime = b\n[values]\namount = 0.001\n",
                         "just text without section\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i], strlen(bad[i]), 0644);
        CHECK(rtn_ingest_mapping_load(&m, path) == RTN_ERR_CONFIG);
    }
    CHECK(rtn_ingest_mapping_load(&m, "/nonexistent/map.ini") == RTN_ERR_IO);
    CHECK(rtn_ingest_mapping_preset(&m, "no-such-preset") == RTN_ERR_USAGE);
    unlink(path);
    rtn_csv_record_free(&hdr);
    rtn_csv_record_free(&rec);
}

int main(void)
{
    char dir[] = "ingest-unit-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    test_csv();
    test_csv_fast_path();
    test_utf8();
    test_decimal();
    test_time();
    test_pseudonym();
    test_keys(dir);
    test_mapping(dir);
    rmdir(dir);
    return rtn_test_finish("ingest_unit");
}
