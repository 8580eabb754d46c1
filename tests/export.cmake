# retain export (ONNX, JSON) and libretain. export.fixture builds one pipeline that every
# other export test reads (CTest fixture "export").
rtn_add_script_test(export.fixture COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export_fixture.sh)
set_tests_properties(export.fixture PROPERTIES FIXTURES_SETUP export
                     ENVIRONMENT "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP}")

set(RETAIN_EXPORT_ENV "${RETAIN_TEST_ENV};RETAIN_TEST_TMP=${RETAIN_TEST_TMP};RETAIN_BUILD_DIR=${CMAKE_BINARY_DIR};RETAIN_SANITIZE=$<BOOL:${RETAIN_SANITIZE}>")

# (a) the ONNX checker of Debian's python3-onnx, full check (shape inference included)
rtn_add_script_test(export.onnx_checker COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/export_onnx_check.py)
# (b) ONNX Runtime (npm onnxruntime-node, scripts/install-deps.sh) against retain score
if(RETAIN_TEST_ONNXRUNTIME)
  rtn_add_script_test(export.onnxruntime COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export_ort.sh)
  set_tests_properties(export.onnxruntime PROPERTIES FIXTURES_REQUIRED export ENVIRONMENT "${RETAIN_EXPORT_ENV}")
endif()
# (c) the JSON alone reproduces the scores
rtn_add_script_test(export.json COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/export_json.py)
# (d) bad inputs: clear errors, exit codes, no partial files
rtn_add_script_test(export.bad_inputs COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export_bad_inputs.sh)
# libretain installed, the example built with pkg-config and with find_package(retain)
rtn_add_script_test(export.libretain COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export_libretain.sh)

foreach(t export.onnx_checker export.json export.bad_inputs)
  set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED export ENVIRONMENT "${RETAIN_EXPORT_ENV}")
endforeach()
# libretain never initializes MPI, so leak checking stays on for the programs that embed it
set(RETAIN_EXPORT_LEAK_ENV ${RETAIN_EXPORT_ENV})
if(RETAIN_SANITIZE)
  list(FILTER RETAIN_EXPORT_LEAK_ENV EXCLUDE REGEX "^ASAN_OPTIONS")
  list(APPEND RETAIN_EXPORT_LEAK_ENV "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1")
endif()
list(APPEND RETAIN_EXPORT_LEAK_ENV "RETAIN_BUNDLE_RESTAMP=$<TARGET_FILE:bundle_restamp>"
     "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
set_tests_properties(export.libretain PROPERTIES FIXTURES_REQUIRED export ENVIRONMENT "${RETAIN_EXPORT_LEAK_ENV}")

# libretain scored from several threads at once (docs/embedding.md, "Threads")
find_package(Threads REQUIRED)
add_executable(export_libretain_threads export_libretain_threads.c)
target_include_directories(export_libretain_threads PRIVATE ${GSL_INCLUDE_DIRS})
target_link_libraries(export_libretain_threads PRIVATE libretain Threads::Threads ${GSL_LIBRARY} ${BLAS_LIBRARIES})
add_test(NAME export.libretain_threads
         COMMAND export_libretain_threads ${RETAIN_TEST_TMP}/export/m.h5
                 ${RETAIN_TEST_TMP}/export/features.f64 ${RETAIN_TEST_TMP}/export/features.shape
                 ${RETAIN_TEST_TMP}/export/clv.f64)
set_tests_properties(export.libretain_threads PROPERTIES FIXTURES_REQUIRED export
                     ENVIRONMENT "${RETAIN_EXPORT_LEAK_ENV}" TIMEOUT 300 LABELS unit PROCESSORS 2)
