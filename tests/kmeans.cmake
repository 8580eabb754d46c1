# k-means segmentation (issue 6): unit tests, scikit-learn oracle, rank-count determinism.
rtn_add_unit_test(kmeans.unit kmeans_unit.c)
rtn_add_test_exe(kmeans_fit kmeans_fit.c)
rtn_add_mpi_test(kmeans.fit RANKS 1 COMMAND $<TARGET_FILE:kmeans_fit>)

rtn_add_test_exe(kmeans_tool kmeans_tool.c)
rtn_add_script_test(kmeans.oracle
  COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/kmeans_oracle.py $<TARGET_FILE:kmeans_tool>
          ${RETAIN_TEST_TMP}/kmeans.oracle
  TIMEOUT 300)

rtn_add_test_exe(kmeans_determinism kmeans_determinism.c)
rtn_add_mpi_test(kmeans.determinism RANKS 1 2 3 4 COMMAND $<TARGET_FILE:kmeans_determinism>)

# every assignment kernel (scalar, AVX2, AVX-512) gives the same bits
rtn_add_script_test(kmeans.isa COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/kmeans_isa.sh $<TARGET_FILE:kmeans_tool>)
set_tests_properties(kmeans.isa PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
