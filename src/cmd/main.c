/* retain: one binary, one subcommand per pipeline stage. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/h5.h"
#include "retain/cli.h"
#include "retain/log.h"
#include "retain/signals.h"
#include "retain/status.h"
#include "retain/version.h"

static void print_help(FILE *out)
{
    fprintf(out,
            "retain %s - customer-retention intelligence from transaction data\n\n"
            "usage: retain COMMAND [options]       (under mpirun/srun for several ranks)\n"
            "       retain help [COMMAND] | retain COMMAND --help | retain --version\n\n"
            "commands:\n",
            RTN_VERSION_STRING);
    for (int i = 0; i < rtn_n_commands; i++)
        fprintf(out, "  %-10s %s\n", rtn_commands[i].name, rtn_commands[i].synopsis);
    fprintf(out,
            "\noptions accepted by every command:\n"
            "  --summary FILE     write a JSON run summary (counts, timings, status)\n"
            "  --log-level LEVEL  error | warn | info (default) | debug\n"
            "  --quiet            same as --log-level warn\n"
            "\nexit status: 0 ok, 2 usage, 3 i/o, 4 file format, 5 data, 6 configuration,\n"
            "7 memory, 8 MPI, 9 numerical, 10 internal, 75 interrupted at a checkpoint.\n"
            "Documentation: docs/cli.md\n");
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return RTN_ERR_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("retain %s\n", RTN_VERSION_STRING);
        return 0;
    }
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        if (argc >= 3 && strcmp(name, "help") == 0) {
            const rtn_command *c = rtn_find_command(argv[2]);
            if (!c) {
                fprintf(stderr, "retain: unknown command '%s'\n\n", argv[2]);
                print_help(stderr);
                return RTN_ERR_USAGE;
            }
            rtn_command_usage(c, stdout);
            return 0;
        }
        print_help(stdout);
        return 0;
    }
    const rtn_command *cmd = rtn_find_command(name);
    if (!cmd) {
        fprintf(stderr, "retain: unknown command '%s'\n\n", name);
        print_help(stderr);
        return RTN_ERR_USAGE;
    }
    if (wants_help(argc, argv)) {
        rtn_command_usage(cmd, stdout);
        return 0;
    }

    /* Common options are taken out before the command parses its own. */
    const char *summary_path = NULL;
    int level = RTN_LOG_INFO;
    int cargc = 0;
    char **cargv = calloc((size_t)argc + 1, sizeof *cargv);
    if (!cargv) return RTN_ERR_NOMEM;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--summary") == 0 || strcmp(a, "--log-level") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "retain %s: %s needs a value\n\n", name, a);
                rtn_command_usage(cmd, stderr);
                free(cargv);
                return RTN_ERR_USAGE;
            }
            if (a[2] == 's') {
                summary_path = argv[++i];
            } else {
                level = rtn_log_parse_level(argv[++i]);
                if (level < 0) {
                    fprintf(stderr, "retain %s: --log-level: '%s' is not one of error, warn, "
                                    "info, debug\n", name, argv[i]);
                    free(cargv);
                    return RTN_ERR_USAGE;
                }
            }
        } else if (strncmp(a, "--summary=", 10) == 0) {
            summary_path = a + 10;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            level = RTN_LOG_WARN;
        } else {
            cargv[cargc++] = argv[i];
        }
    }

    /* before MPI_Init too, so an early SIGUSR1/SIGTERM is a stop request, not a kill */
    rtn_signals_install();
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    rtn_log_init(comm, (rtn_log_level)level);
    rtn_signals_install();
    rtn_set_command_line(argc, argv);
    char program[64];
    snprintf(program, sizeof program, "retain %s", name);
    rtn_set_program_name(program);
    rtn_summary_set_str("run", "command", name);
    rtn_summary_set_str("run", "command_line", rtn_command_line());
    rtn_summary_set_str("run", "version", RTN_VERSION_STRING);

    rtn_status st = cmd->run(comm, cargc, cargv);
    st = rtn_agree(comm, st);
    /* the command's own error is the one to report, not a later failure to write the
     * summary of the failed run (on a full disk both fail) */
    static char cmd_error[2048];
    snprintf(cmd_error, sizeof cmd_error, "%s", rtn_errmsg());
    rtn_status sst = rtn_summary_finish(comm, st, summary_path);
    if (st == RTN_OK && sst != RTN_OK) st = sst;
    else if (st != RTN_OK) {
        rtn_clear_error();
        rtn_fail(st, "%s", cmd_error);
    }
    if (st != RTN_OK && st != RTN_ERR_USAGE && rank == 0)
        fprintf(stderr, "retain %s: error: %s\n", name, rtn_errmsg()[0] ? rtn_errmsg()
                                                                     : rtn_status_name(st));
    free(cargv);
    int damaged = rtn_h5_library_damaged(), any_damaged = 0;
    MPI_Allreduce(&damaged, &any_damaged, 1, MPI_INT, MPI_MAX, comm);
    if (any_damaged) {
        /* The message is out and the temporary files are gone; a normal MPI_Finalize
         * would run HDF5's shutdown over a file whose close failed, and crash. */
        MPI_Abort(comm, st != RTN_OK ? (int)st : RTN_ERR_IO);
    }
    MPI_Finalize();
    return (int)st;
}
