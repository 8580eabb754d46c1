# Checkpoint/restart of retain train: stop at iteration boundaries, resume at other rank
# counts, bundles bitwise identical to uninterrupted training; damaged checkpoints.
rtn_add_script_test(checkpoint.train COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/checkpoint_train.sh
                    TIMEOUT 900)
set_tests_properties(checkpoint.train PROPERTIES ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
