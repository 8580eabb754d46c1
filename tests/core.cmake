# Core infrastructure: partition, deterministic reduction, agreement, atomic outputs,
# store round trip, inspect, command-line contract.
rtn_add_unit_test(core.atomic test_atomic.c)
rtn_add_unit_test(core.blas test_blas.c)
rtn_add_unit_test(core.txn_block test_txn_block.c)
rtn_add_test_exe(test_buckets test_buckets.c)
rtn_add_mpi_test(core.buckets COMMAND $<TARGET_FILE:test_buckets>)
rtn_add_test_exe(test_agree test_agree.c)
rtn_add_mpi_test(core.agree COMMAND $<TARGET_FILE:test_agree>)
rtn_add_test_exe(store_fixture store_fixture.c)
rtn_add_script_test(core.cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/core_cli.sh)
rtn_add_script_test(core.store COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/core_store.sh $<TARGET_FILE:store_fixture>)
set_tests_properties(core.store PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
rtn_add_script_test(docs.cli COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/gen-cli-doc.sh --check $<TARGET_FILE:retain>)
# The mapped scan releases each block's pages: one rank, so the scanned columns stay several
# times the residency bound the test checks.
rtn_add_test_exe(store_map_release store_map_release.c)
rtn_add_mpi_test(core.store_map_release RANKS 1 TIMEOUT 120
                 COMMAND $<TARGET_FILE:store_map_release> ${RETAIN_TEST_TMP}/store_map_release.h5)
# The run summary's I/O counters start at start-up: I/O the launching shell's children did
# before `exec retain` is not counted.
rtn_add_script_test(core.summary_io TIMEOUT 120 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/core_summary_io.sh)
set_tests_properties(core.summary_io PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
