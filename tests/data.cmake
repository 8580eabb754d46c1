# The datasets of data-samples/ and their SHA-256 check (cmake/unpack-data.cmake).
rtn_add_script_test(data.verify COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/data_verify.sh)
set_tests_properties(data.verify PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
