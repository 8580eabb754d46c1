# A model kind registered only in the test build: retain-example is retain with the
# constant-rate churn baseline of tests/example_model/constant_churn.c added to the
# model-kind table (its one line in src/serve/model_kinds.c is under RETAIN_EXAMPLE_MODEL).
# Its own copy of the table takes the place of the library's.
add_executable(retain-example ${CMAKE_SOURCE_DIR}/src/cmd/main.c
               ${CMAKE_SOURCE_DIR}/src/serve/model_kinds.c
               ${CMAKE_CURRENT_SOURCE_DIR}/example_model/constant_churn.c)
target_compile_definitions(retain-example PRIVATE RETAIN_EXAMPLE_MODEL)
target_link_libraries(retain-example PRIVATE retain_core)

rtn_add_script_test(model_kinds.example COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/example_model.sh
                    LABELS model TIMEOUT 600)
set_tests_properties(model_kinds.example PROPERTIES ENVIRONMENT
  "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP};RETAIN_EXAMPLE_BIN=$<TARGET_FILE:retain-example>")
