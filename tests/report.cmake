rtn_add_unit_test(report.unit report_unit.c)
foreach(t e2e kanon browser online_retail)
  rtn_add_script_test(report.${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/report_${t}.sh)
  set_tests_properties(report.${t} PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
endforeach()
# without Debian's chromium the browser test reports itself skipped, not passed
set_tests_properties(report.browser PROPERTIES SKIP_RETURN_CODE 77)
