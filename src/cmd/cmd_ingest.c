/* retain ingest: CSV exports -> transaction store (docs/ingest.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/ingest.h"
#include "retain/log.h"
#include "retain/store.h"

const char rtn_usage_ingest[] =
    "usage: retain ingest (--format NAME | --mapping FILE) --key KEYFILE --out STORE\n"
    "                     [--rejects FILE] [--buckets B] [--max-reject-rate R]\n"
    "                     [--keep-duplicates] [--append-to OLD_STORE] INPUT...\n"
    "       retain ingest --add KIND --mapping FILE --key KEYFILE --append-to STORE\n"
    "                     --out NEW_STORE [--rejects FILE] [--max-reject-rate R]\n"
    "                     [--keep-duplicates] INPUT...\n"
    "\n"
    "Turns CSV exports into a transaction store. Customer identifiers are replaced by keyed\n"
    "pseudonyms (HMAC-SHA256); raw identifiers are never stored. Rows that cannot be used\n"
    "are listed in the rejects CSV with their original line number and a reason code.\n"
    "\n"
    "  --format NAME         built-in layout: online-retail (UCI Online Retail), cdnow\n"
    "                        (CDNOW_master.txt)\n"
    "  --mapping FILE        INI mapping of columns and value formats (docs/ingest.md)\n"
    "  --key KEYFILE         pseudonymization key: >= 32 bytes, raw or hex; must not be\n"
    "                        readable by group or others (docs/privacy.md)\n"
    "  --out STORE           the store to write (HDF5)\n"
    "  --rejects FILE        rejects CSV (default STORE.rejects.csv); written on success and\n"
    "                        when the reject rate is exceeded\n"
    "  --buckets B           customer buckets (default 1024; appends keep the old store's)\n"
    "  --max-reject-rate R   fail (exit 5, no store) when more than this fraction of rows is\n"
    "                        rejected (default: the mapping's, else 0.05; online-retail 0.30)\n"
    "  --keep-duplicates     keep exact duplicate rows (default: remove and list them)\n"
    "  --remove-duplicates   remove duplicates even when the mapping keeps them (cdnow)\n"
    "  --append-to OLD       merge the rows of the existing store OLD with the new inputs into\n"
    "                        STORE (same key and currency; OLD's CSVs are not needed)\n"
    "  --add KIND            add a members, events or feedback export to a copy of the store\n"
    "                        given by --append-to, written as --out: same key, same buckets\n"
    "                        (docs/ingest.md \"Sources\"); rejects default to\n"
    "                        NEW_STORE.KIND.rejects.csv\n"
    "\n"
    "Exit status: 0 ok, 2 usage, 3 i/o, 4 malformed file, 5 data (reject rate, no rows),\n"
    "6 mapping or key problem.\n";

rtn_status rtn_cmd_ingest(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("ingest");
    static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                         {"mapping", required_argument, 0, 'm'},
                                         {"key", required_argument, 0, 'k'},
                                         {"out", required_argument, 0, 'o'},
                                         {"rejects", required_argument, 0, 'r'},
                                         {"buckets", required_argument, 0, 'b'},
                                         {"max-reject-rate", required_argument, 0, 'x'},
                                         {"keep-duplicates", no_argument, 0, 'd'},
                                         {"remove-duplicates", no_argument, 0, 'D'},
                                         {"append-to", required_argument, 0, 'a'},
                                         {"add", required_argument, 0, 'A'},
                                         {0, 0, 0, 0}};
    const char *format = NULL, *mapping = NULL, *add = NULL;
    rtn_ingest_options o;
    memset(&o, 0, sizeof o);
    o.max_reject_rate = -1;
    o.keep_duplicates = -1;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 'm': mapping = optarg; break;
        case 'k': o.key_path = optarg; break;
        case 'o': o.out = optarg; break;
        case 'r': o.rejects = optarg; break;
        case 'a': o.append_to = optarg; break;
        case 'A': add = optarg; break;
        case 'd': o.keep_duplicates = 1; break;
        case 'D': o.keep_duplicates = 0; break;
        case 'b': {
            uint64_t v;
            if (rtn_parse_u64("--buckets", optarg, 1, RTN_STORE_MAX_BUCKETS, &v))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            o.nbuckets = (uint32_t)v;
            break;
        }
        case 'x':
            if (rtn_parse_double("--max-reject-rate", optarg, 0, 1, &o.max_reject_rate))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            break;
        default:
            return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (add) {
        if (!rtn_ingest_source_kind_known(add))
            return rtn_usage_error(self, "--add '%s': unknown kind (known: %s)", add, rtn_ingest_source_kinds());
        if (format || !mapping) return rtn_usage_error(self, "--add %s needs --mapping FILE (no --format)", add);
        if (!o.append_to) return rtn_usage_error(self, "--add %s needs --append-to STORE (the store to add to)", add);
        if (o.nbuckets) return rtn_usage_error(self, "--add keeps the buckets of --append-to; drop --buckets");
    }
    if (!format == !mapping) return rtn_usage_error(self, "give exactly one of --format and --mapping");
    if (!o.key_path) return rtn_usage_error(self, "--key KEYFILE is required (docs/privacy.md)");
    if (!o.out) return rtn_usage_error(self, "--out STORE is required");
    if (optind >= argc) return rtn_usage_error(self, "no INPUT files");
    if (o.append_to && strcmp(o.append_to, o.out) == 0)
        return rtn_usage_error(self, "--out must differ from --append-to (the old store is read "
                               "while the new one is written)");
    o.inputs = (const char *const *)(argv + optind);
    o.n_inputs = argc - optind;
    if (add) {
        rtn_source_ingest_options so = {add, o.inputs, o.n_inputs, mapping, o.append_to, o.out,
                                        o.rejects, o.key_path, o.max_reject_rate, o.keep_duplicates};
        return rtn_ingest_source_run(comm, &so);
    }

    rtn_status st = format ? rtn_ingest_mapping_preset(&o.mapping, format)
                           : rtn_ingest_mapping_load(&o.mapping, mapping);
    if (st == RTN_ERR_USAGE) return rtn_usage_error(self, "%s", rtn_errmsg());
    st = rtn_agree(comm, st);
    if (st) return st;
    return rtn_ingest_run(comm, &o);
}
