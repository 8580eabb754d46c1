# The layer rule of src/layers.txt (docs/architecture.md): no file includes a higher layer.
rtn_add_script_test(layers.check COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/layers_check.py
                    ${CMAKE_SOURCE_DIR} LABELS unit TIMEOUT 60)
# ...and the check refuses each kind of breach, on broken copies of the tree.
rtn_add_script_test(layers.rejects COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/layers_rejects.sh
                    LABELS unit TIMEOUT 60)
set_tests_properties(layers.rejects PROPERTIES
                     ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
