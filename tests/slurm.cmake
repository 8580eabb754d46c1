# Slurm: slurm/retrain.sbatch on a private one-node cluster (scripts/slurm-local.sh) with
# Debian's slurm-wlm and munge, as root. Without them the tests fail saying so
# (-DRETAIN_TEST_SLURM=OFF leaves them out). The tests share ports and the node, hence the lock.
if(RETAIN_TEST_SLURM)
  foreach(t requeue ntasks signal)
    rtn_add_script_test(slurm.${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm_${t}.sh
                        LABELS slurm TIMEOUT 600)
    set_tests_properties(slurm.${t} PROPERTIES
                         ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}"
                         RESOURCE_LOCK retain_slurm_cluster)
  endforeach()
endif()
