# Slurm: slurm/retrain.sbatch on a private one-node cluster (scripts/slurm-local.sh) with
# Debian's slurm-wlm and munge. The tests exit 77 (reported as skipped) only where Slurm or
# munge is not installed or the tests do not run as root; a cluster that is installed but
# fails to start is a failure. The tests share ports and the node, hence the lock.
foreach(t requeue ntasks signal)
  rtn_add_script_test(slurm.${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm_${t}.sh
                      LABELS slurm TIMEOUT 600)
  set_tests_properties(slurm.${t} PROPERTIES
                       ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}"
                       SKIP_RETURN_CODE 77 RESOURCE_LOCK retain_slurm_cluster)
endforeach()
