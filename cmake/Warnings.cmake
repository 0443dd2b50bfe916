# Applied per target through healthgate_warnings(<target>) so third-party headers
# (included as SYSTEM) do not trip -Werror.
function(healthgate_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wnull-dereference -Wimplicit-fallthrough)
  if(HEALTHGATE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
