rtn_add_script_test(run.pipeline COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_pipeline.sh)
set_tests_properties(run.pipeline PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
