/* Entry points of the `retain` subcommands (one src/cmd_*.c each). */
#ifndef RETAIN_COMMANDS_H
#define RETAIN_COMMANDS_H

#include "retain/cli.h"

rtn_status rtn_cmd_generate(MPI_Comm comm, int argc, char **argv);
rtn_status rtn_cmd_inspect(MPI_Comm comm, int argc, char **argv);
rtn_status rtn_cmd_run(MPI_Comm comm, int argc, char **argv);

extern const char rtn_usage_generate[];
extern const char rtn_usage_inspect[];
extern const char rtn_usage_run[];

rtn_status rtn_cmd_features(MPI_Comm comm, int argc, char **argv);
extern const char rtn_usage_features[];

rtn_status rtn_cmd_ingest(MPI_Comm comm, int argc, char **argv);
extern const char rtn_usage_ingest[];

rtn_status rtn_cmd_train(MPI_Comm comm, int argc, char **argv);
extern const char rtn_usage_train[];
void rtn_usage_train_rest(FILE *out); /* --models, checkpoints, each model kind's options */

rtn_status rtn_cmd_score(MPI_Comm comm, int argc, char **argv);
extern const char rtn_usage_score[];

rtn_status rtn_cmd_model(MPI_Comm comm, int argc, char **argv);
extern const char rtn_usage_model[];

rtn_status rtn_cmd_export(MPI_Comm comm, int argc, char **argv);
extern const char rtn_usage_export[];
rtn_status rtn_cmd_report(MPI_Comm comm, int argc, char **argv);
extern const char rtn_usage_report[];

#endif
