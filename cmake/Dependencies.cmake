# Every dependency comes from a Debian bookworm package (scripts/setup.sh installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(CURL REQUIRED)
find_package(PostgreSQL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
# RE2 (libre2-dev): linear-time regular expressions for the HTTP probe's bodyRegex.
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
# Debian's cpp-httplib is a compiled library: its pkg-config flags
# (-DCPPHTTPLIB_OPENSSL_SUPPORT ...) must be used or class layouts differ.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# libmicrohttpd: the operator's inbound HTTP server (event-driven, with
# connection, per-IP, timeout and memory limits).
pkg_check_modules(MICROHTTPD REQUIRED IMPORTED_TARGET libmicrohttpd)
if(HEALTHGATE_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
  include(GoogleTest)
endif()
