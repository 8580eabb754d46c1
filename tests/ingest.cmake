# retain ingest: parser/decimal/date/HMAC/key/mapping units, the real Online Retail file
# checked row by row against an independent Python computation at 1, 2 and 3 ranks,
# CDNOW, bad inputs (also run under the sanitizer build), appending, rank-count
# determinism with multi-line quoted fields, and a short libFuzzer run of the CSV parser.
rtn_add_unit_test(ingest.unit ingest_unit.c)
set(INGEST_TMP ${RETAIN_TEST_TMP}/ingest)
rtn_add_script_test(ingest.online_retail TIMEOUT 600
  COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ingest_online_retail.py
          ${INGEST_TMP}/online_retail)
rtn_add_script_test(ingest.bad_input TIMEOUT 300
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/ingest_bad_input.sh ${INGEST_TMP}/bad_input)
rtn_add_script_test(ingest.split TIMEOUT 300
  COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ingest_split.py ${INGEST_TMP}/split)
rtn_add_script_test(ingest.cdnow TIMEOUT 300
  COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ingest_cdnow.py ${INGEST_TMP}/cdnow)
rtn_add_script_test(ingest.append TIMEOUT 300
  COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ingest_append.py ${INGEST_TMP}/append)
# customer-360 sources (ingest --add): oracle, 1-4 ranks, planted truth; bad input and fuzz
rtn_add_script_test(ingest.sources TIMEOUT 900
  COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ingest_sources.py ${INGEST_TMP}/sources)
rtn_add_script_test(ingest.sources_bad TIMEOUT 900
  COMMAND ${RETAIN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ingest_sources_bad.py ${INGEST_TMP}/sources_bad)
# libFuzzer: a short run of the CSV parser fuzzer (fails without clang/libFuzzer).
if(RETAIN_TEST_FUZZ)
  rtn_add_script_test(ingest.fuzz TIMEOUT 180
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run_fuzz.sh ${INGEST_TMP}/fuzz 20)
endif()
# -DRETAIN_FUZZ=ON with CC=clang also builds the harness as a target (fuzz_csv).
if(RETAIN_FUZZ)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    add_executable(fuzz_csv ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_csv.c ${CMAKE_SOURCE_DIR}/src/ingest/csv.c)
    target_include_directories(fuzz_csv PRIVATE ${CMAKE_SOURCE_DIR}/include)
    target_compile_options(fuzz_csv PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(fuzz_csv PRIVATE -fsanitize=fuzzer,address,undefined)
  else()
    message(WARNING "RETAIN_FUZZ needs clang (configure with CC=clang); fuzz_csv not built")
  endif()
endif()
