# One library per component folder. The link graph is the arrow diagram of
# docs/architecture.md, and the build enforces it: a component sees only the
# headers of itself and of the components it links, because each component's
# headers are reachable only through its own include root, a directory in the
# build tree that holds one symbolic link, <root>/<folder> -> the folder. The
# repository root is never an include path, so an include that skips an arrow
# fails to compile ("No such file or directory"), and tests/layering proves it.
#
#   healthgate_component(<name> FOLDER <folder> SOURCES <file>...
#                        [PUBLIC <dep>...] [PRIVATE <dep>...])
#
# creates healthgate_<name> with the ALIAS healthgate::<name>. PUBLIC lists what
# the component's own headers include; PRIVATE what only its sources need.
function(healthgate_component name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "FOLDER" "SOURCES;PUBLIC;PRIVATE")
  if(NOT arg_FOLDER OR NOT arg_SOURCES)
    message(FATAL_ERROR "healthgate_component(${name}): FOLDER and SOURCES are required")
  endif()
  set(root ${PROJECT_BINARY_DIR}/include/${name})
  get_filename_component(parent ${root}/${arg_FOLDER} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${arg_FOLDER} ${root}/${arg_FOLDER} SYMBOLIC)
  add_library(healthgate_${name} STATIC ${arg_SOURCES})
  add_library(healthgate::${name} ALIAS healthgate_${name})
  target_include_directories(healthgate_${name} PUBLIC ${root})
  target_link_libraries(healthgate_${name} PUBLIC ${arg_PUBLIC} PRIVATE ${arg_PRIVATE})
  healthgate_warnings(healthgate_${name})
endfunction()
