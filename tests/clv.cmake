# Customer lifetime value (BG/NBD + Gamma-Gamma): published CDNOW reproduction, unit and
# simulation checks, bitwise determinism across rank counts, and a scipy/mpmath oracle.
# The fits are collective (MPI_COMM_SELF here), so these run as 1-rank MPI tests: under
# the sanitizers LeakSanitizer cannot run alongside Open MPI's threads.
rtn_add_test_exe(clv_cdnow clv_cdnow.c clv_common.c)
rtn_add_mpi_test(clv.cdnow RANKS 1 COMMAND $<TARGET_FILE:clv_cdnow>)
rtn_add_test_exe(clv_unit clv_unit.c)
rtn_add_mpi_test(clv.unit RANKS 1 COMMAND $<TARGET_FILE:clv_unit>)
rtn_add_test_exe(clv_mpi clv_mpi.c clv_common.c)
rtn_add_mpi_test(clv.mpi RANKS 1 2 3 4 COMMAND $<TARGET_FILE:clv_mpi>)
rtn_add_test_exe(clv_tool clv_tool.c clv_common.c)
rtn_add_script_test(clv.oracle COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/clv_oracle.py
                    $<TARGET_FILE:clv_tool>
                    ${RETAIN_DATA_DIR}/cdnow/cdnow_customers_summary_with_transactions.csv
                    ${RETAIN_TEST_TMP}/clv.oracle)
rtn_add_script_test(clv.pipeline_cdnow COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/clv_pipeline.sh)
set_tests_properties(clv.pipeline_cdnow PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
# Real data through ingest, features and train against a scipy fit of a pandas summary of
# the raw CSV: the grocery event log (no spend: BG/NBD only) and Online Retail (BG/NBD +
# Gamma-Gamma, and the no-dropout boundary at cutoff 2011-09-01). Ranks 1-3 inside.
rtn_add_script_test(clv.grocery COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/clv_real.py
                    grocery ${RETAIN_TEST_TMP}/clv.grocery)
rtn_add_script_test(clv.online_retail COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/clv_real.py
                    online-retail ${RETAIN_TEST_TMP}/clv.online_retail)
