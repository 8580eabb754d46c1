#include "retain/commands.h"

const rtn_command rtn_commands[] = {
    {"generate", rtn_cmd_generate, "write a synthetic mall transaction store (+ ground truth)", rtn_usage_generate},
    {"features", rtn_cmd_features, "per-customer point-in-time features and churn labels", rtn_usage_features},
    {"inspect", rtn_cmd_inspect, "summarize and validate a transaction store", rtn_usage_inspect},
    {"run", rtn_cmd_run, "run the whole pipeline from a job file (restartable)", rtn_usage_run},
};
const int rtn_n_commands = (int)(sizeof rtn_commands / sizeof rtn_commands[0]);
