rtn_add_unit_test(score.unit score_unit.c)
rtn_add_script_test(score.e2e COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/score_e2e.sh)
set_tests_properties(score.e2e PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
