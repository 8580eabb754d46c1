# Churn model: logistic regression, metrics, split (docs/churn-model.md).
rtn_add_test_exe(logreg_tool logreg_tool.c)

set(LOGREG_TMP ${RETAIN_TEST_TMP}/logreg)
file(MAKE_DIRECTORY ${LOGREG_TMP})

# Oracle: scikit-learn LogisticRegression (lbfgs / saga) on the same data.
rtn_add_script_test(logreg.sklearn COMMAND ${RETAIN_PYTHON}
  ${CMAKE_CURRENT_SOURCE_DIR}/logreg_sklearn.py $<TARGET_FILE:logreg_tool> ${LOGREG_TMP}/sklearn)
rtn_add_script_test(logreg.metrics COMMAND ${RETAIN_PYTHON}
  ${CMAKE_CURRENT_SOURCE_DIR}/logreg_metrics.py $<TARGET_FILE:logreg_tool> ${LOGREG_TMP}/metrics)
rtn_add_script_test(logreg.split COMMAND ${RETAIN_PYTHON}
  ${CMAKE_CURRENT_SOURCE_DIR}/logreg_split.py $<TARGET_FILE:logreg_tool> ${LOGREG_TMP}/split)

# Kernels, metric fixtures, split fractions (no MPI).
rtn_add_unit_test(logreg.unit logreg_unit.c)
# Derivatives, warm start, L1 optimality, input errors (one rank).
rtn_add_test_exe(logreg_fit logreg_fit.c)
rtn_add_mpi_test(logreg.fit RANKS 1 COMMAND $<TARGET_FILE:logreg_fit>)

# Bitwise-identical model, predictions and metrics at 1, 2, 3 and 4 ranks.
rtn_add_test_exe(logreg_ranks logreg_ranks.c)
rtn_add_mpi_test(logreg.ranks RANKS 1 2 3 4 COMMAND $<TARGET_FILE:logreg_ranks>)
