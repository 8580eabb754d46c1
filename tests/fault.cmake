# Write faults (docs/architecture.md, "Write failures"): every writing command, at 1 and 3
# ranks, with its Nth write call failing for N over the calls it makes (fault/fault_sweep.sh
# with the LD_PRELOAD shim fault/write_fault.c), plus the guards against stale temporary
# files, damaged bundles and a currency mismatch (fault/guards.sh).
add_library(write_fault MODULE ${CMAKE_CURRENT_SOURCE_DIR}/fault/write_fault.c)
target_link_libraries(write_fault PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(write_fault PROPERTIES PREFIX "")
if(RETAIN_SANITIZE)
  # preloaded into sanitized programs; instrumenting the shim itself adds nothing
  target_compile_options(write_fault PRIVATE -fno-sanitize=all)
  target_link_options(write_fault PRIVATE -fno-sanitize=all)
endif()

# Injection points per sweep (0 = every write call): spread evenly over the calls, first
# and last always included. docs/architecture.md ("Write failures") gives the full sweeps,
# every call of every command, and how to run them (MAX_POINTS 0).
if(RETAIN_SANITIZE)
  set(fault_points_np1 10)
  set(fault_points_np3 6)
else()
  set(fault_points_np1 40)
  set(fault_points_np3 16)
endif()
set(fault_env "RETAIN_FAULT_SHIM=$<TARGET_FILE:write_fault>;RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
foreach(cmd generate ingest ingest-add features train score export report run)
  foreach(np 1 3)
    set(points ${fault_points_np${np}})
    rtn_add_script_test(fault.${cmd}.np${np}
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fault/fault_sweep.sh ${cmd} ${np} ENOSPC ${points}
      TIMEOUT 1800 LABELS fault)
    set_property(TEST fault.${cmd}.np${np} APPEND PROPERTY ENVIRONMENT "${fault_env}")
  endforeach()
endforeach()
# an I/O error fails every later write, syncs included
rtn_add_script_test(fault.eio.generate.np3
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fault/fault_sweep.sh generate 3 EIO 20
  TIMEOUT 1800 LABELS fault)
set_property(TEST fault.eio.generate.np3 APPEND PROPERTY ENVIRONMENT "${fault_env}")
rtn_add_script_test(fault.guards COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fault/guards.sh
  LABELS fault)
set_property(TEST fault.guards APPEND PROPERTY ENVIRONMENT "RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")
