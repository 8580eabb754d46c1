rtn_add_unit_test(report.unit report_unit.c)
rtn_add_script_test(report.e2e COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/report_e2e.sh)
set_tests_properties(report.e2e PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
