#include "retain/commands.h"

const rtn_command rtn_commands[] = {
    {"inspect", rtn_cmd_inspect, "summarize and validate a transaction store", rtn_usage_inspect},
};
const int rtn_n_commands = (int)(sizeof rtn_commands / sizeof rtn_commands[0]);
