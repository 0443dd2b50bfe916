#include "operator/kube/interface.h"

namespace healthgate::kube {

Result<json> Interface::ListAll(const ResourceRef& ref, ListOptions options) {
  json all;
  std::string snapshot_rv;
  while (true) {
    auto page = List(ref, options);
    if (!page) return page.error();
    json& p = page.value();
    if (!p.is_object()) return DecodeError("list response is not an object");
    if (all.is_null()) {
      all = p;
      all["items"] = json::array();
      snapshot_rv = p.value("/metadata/resourceVersion"_json_pointer, std::string());
    }
    if (auto items = p.find("items"); items != p.end() && items->is_array()) {
      for (auto& item : *items) all["items"].push_back(std::move(item));
    }
    std::string next = p.value("/metadata/continue"_json_pointer, std::string());
    if (next.empty()) break;
    // Later pages come from the first page's snapshot; the server rejects a
    // resourceVersion together with continue.
    options.continue_token = next;
    options.resource_version.clear();
    options.resource_version_match.clear();
  }
  all["metadata"] = json{{"resourceVersion", snapshot_rv}};
  return all;
}

}  // namespace healthgate::kube
