#include "retain/commands.h"

/* In pipeline order: `retain help` lists them this way. */
const rtn_command rtn_commands[] = {
    {"generate", rtn_cmd_generate, "write a synthetic mall transaction store (+ ground truth)",
     rtn_usage_generate, NULL},
    {"ingest", rtn_cmd_ingest, "turn CSV exports into a transaction store", rtn_usage_ingest, NULL},
    {"inspect", rtn_cmd_inspect, "summarize and validate a transaction store", rtn_usage_inspect, NULL},
    {"features", rtn_cmd_features, "per-customer point-in-time features and churn labels",
     rtn_usage_features, NULL},
    {"train", rtn_cmd_train, "train churn, segmentation and lifetime-value models into a bundle",
     rtn_usage_train, rtn_usage_train_rest},
    {"score", rtn_cmd_score, "score customers: churn risk, segment, value, reasons, action",
     rtn_usage_score, NULL},
    {"model", rtn_cmd_model, "show a model bundle, or diff two (the quarterly review)",
     rtn_usage_model, NULL},
    {"export", rtn_cmd_export, "export a model bundle for serving systems: ONNX and JSON",
     rtn_usage_export, NULL},
    {"report", rtn_cmd_report, "the retention report: HTML with KPIs, cohorts, segments, model quality",
     rtn_usage_report, NULL},
    {"run", rtn_cmd_run, "run the whole pipeline from a job file (restartable)", rtn_usage_run, NULL},
};
const int rtn_n_commands = (int)(sizeof rtn_commands / sizeof rtn_commands[0]);
