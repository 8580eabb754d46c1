# retain features: hand-computed fixtures for every feature (unit), exact global quantiles
# at 1..4 ranks, and end-to-end runs compared with a plain numpy/pandas reference,
# bitwise identity across rank counts, the loader, and the Online Retail counts.
rtn_add_unit_test(features.unit features_unit.c)
rtn_add_test_exe(features_select features_select.c)
rtn_add_mpi_test(features.select RANKS 1 2 3 4 TIMEOUT 120 COMMAND $<TARGET_FILE:features_select>)
rtn_add_test_exe(features_load features_load.c)
set(FEATURES_TMP ${RETAIN_TEST_TMP}/features)
rtn_add_script_test(features.e2e TIMEOUT 600
  COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/features_e2e.py ${FEATURES_TMP}/e2e
          $<TARGET_FILE:features_load>)
# UCI Online Retail (data-samples/online_retail) through `retain ingest --format online-retail`.
rtn_add_script_test(features.online_retail TIMEOUT 600
  COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/features_online_retail.py
          ${FEATURES_TMP}/online_retail)
