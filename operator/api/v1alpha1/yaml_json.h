// YAML -> JSON conversion that gives a manifest the same meaning it has for
// kubectl. Kubernetes decodes YAML with go-yaml v2 (YAML 1.1 resolution) and
// converts it to JSON before anything validates it; healthgate does the same, so a
// file means the same thing to `healthgate local` and to `kubectl apply`.
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "operator/api/v1alpha1/model.h"

namespace healthgate::v1alpha1 {

// Converts one YAML node. Plain (unquoted) scalars resolve like go-yaml v2:
//   null: "", ~, null, Null, NULL
//   bool: y Y yes Yes YES true True TRUE on On ON and n N no No NO false False FALSE off Off OFF
//   int: [-+]digits, 0x.., 0o.., 0b.., leading-0 octal ('_' ignored); beyond
//        uint64 it becomes a float, as in go-yaml
//   float: [-+](.d+|d+(.d*)?)([eE][-+]?d+), .inf, -.inf, .nan
//   anything else: string
// Quoted and block scalars (tag "!") are strings; explicit !!str/!!int/!!bool/
// !!float/!!null tags are honoured. Mapping keys become strings. Problems (duplicate
// keys, non-UTF-8 keys, unknown tags, nesting deeper than kMaxNesting or more
// than 20000 nodes after alias expansion) are appended to `errors` with their
// path, e.g. "spec.probes[0].name"; the offending value becomes null. The two
// bounds drop parts of the document and set `*cut` (when given); each is
// reported once ("nesting deeper than 64 levels at line L"), not per value.
// Non-UTF-8 string values are kept: the validator reports them where it reads them.
nlohmann::json YamlToJson(const YAML::Node& node, std::vector<ValidationError>* errors,
                          bool* cut = nullptr);

// Whether `text` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsUtf8(std::string_view text);

}  // namespace healthgate::v1alpha1
