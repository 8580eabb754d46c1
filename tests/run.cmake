rtn_add_script_test(run.pipeline COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_pipeline.sh)
set_tests_properties(run.pipeline PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
# The stage table: each stage's command line, the data-source variants, the job-file errors.
rtn_add_script_test(run.plans COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_plans.sh TIMEOUT 120)
set_tests_properties(run.plans PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
