rtn_add_unit_test(report.unit report_unit.c)
set(report_tests e2e kanon online_retail)
if(RETAIN_TEST_BROWSER)
  list(APPEND report_tests browser)  # fails, saying what to install, without chromium
endif()
foreach(t ${report_tests})
  rtn_add_script_test(report.${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/report_${t}.sh)
  set_tests_properties(report.${t} PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
endforeach()
