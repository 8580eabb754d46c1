/* Command-line plumbing shared by all `retain` subcommands. */
#ifndef RETAIN_CLI_H
#define RETAIN_CLI_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "retain/status.h"

/* A subcommand: runs on every rank after MPI_Init; returns a status (= exit code).
 * argv[0] is the command name. Options common to all commands (--summary FILE,
 * --log-level L, --quiet) are removed before the command sees argv. */
typedef rtn_status (*rtn_command_fn)(MPI_Comm comm, int argc, char **argv);

typedef struct {
    const char *name;
    rtn_command_fn run;
    const char *synopsis;   /* one line for `retain help` */
    const char *usage;      /* full text for `retain CMD --help` (or its first part) */
    void (*usage_rest)(FILE *out); /* the rest, built from a table; NULL: none */
} rtn_command;

/* Prints the command's full usage text. */
void rtn_command_usage(const rtn_command *cmd, FILE *out);

/* Prints a usage error on rank 0 and returns RTN_ERR_USAGE. */
rtn_status rtn_usage_error(const rtn_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Number parsing with clear errors ("--customers: 'abc' is not a whole number"). */
rtn_status rtn_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
rtn_status rtn_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
rtn_status rtn_parse_double(const char *opt, const char *s, double lo, double hi, double *out);
/* Dates: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[Z], UTC -> seconds since the epoch. */
rtn_status rtn_parse_date(const char *opt, const char *s, int64_t *out);
/* Formats seconds since the epoch as YYYY-MM-DDTHH:MM:SSZ. */
void rtn_format_time(int64_t t, char *buf, size_t n);

/* The full command line, for provenance ("retain generate --customers 1000 ..."). */
const char *rtn_command_line(void);
void rtn_set_command_line(int argc, char **argv);

/* The command being run (for the summary) and every registered command. */
const rtn_command *rtn_find_command(const char *name);
extern const rtn_command rtn_commands[];
extern const int rtn_n_commands;

#endif
