# Applied per target through healthgate_warnings(<target>) so third-party headers
# (included as SYSTEM) do not trip -Werror. -Wnull-dereference is left out: with
# GCC 12 at -O3 it reports false positives inside libstdc++'s own <streambuf>.
# -Wrestrict is disabled for the same reason: GCC 12's -O3 reports impossible
# overlaps in std::string concatenation (GCC bug 105329).
function(healthgate_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(HEALTHGATE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
