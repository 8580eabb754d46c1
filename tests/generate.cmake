# retain generate: the generative model (unit), rank-count determinism of the store, the
# truth file and the CSV export, validation by inspect, statistical sanity against the
# designed model, and the command-line contract.
rtn_add_unit_test(generate.unit generate_unit.c)
set(GENERATE_TMP ${RETAIN_TEST_TMP}/generate)
rtn_add_script_test(generate.determinism TIMEOUT 300
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/generate_determinism.sh ${GENERATE_TMP}/determinism)
rtn_add_script_test(generate.inspect TIMEOUT 120
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/generate_inspect.sh ${GENERATE_TMP}/inspect)
rtn_add_script_test(generate.stats TIMEOUT 300
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/generate_stats.sh ${GENERATE_TMP}/stats)
rtn_add_script_test(generate.badargs TIMEOUT 120
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/generate_badargs.sh ${GENERATE_TMP}/badargs)
