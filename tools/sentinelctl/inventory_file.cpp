// Inventory files; see inventory_file.h.
#include "tools/sentinelctl/inventory_file.h"

#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace sentinel::tools {

namespace {

using nlohmann::json;

google::protobuf::util::JsonParseOptions parse_options() {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return options;
}

// One ContentChunk, directly when it is the plain {index, digest} the scan writes.
bool add_chunk(const json& entry, v1::ContentSummary* content, std::string* error) {
  if (entry.is_object() && entry.size() <= 2) {
    const auto index = entry.find("index");
    const auto digest = entry.find("digest");
    const bool index_ok = index != entry.end() && index->is_string() && !index->get_ref<const std::string&>().empty() &&
                          index->get_ref<const std::string&>().find_first_not_of("0123456789") == std::string::npos &&
                          index->get_ref<const std::string&>().size() <= 19;
    if (index_ok && digest != entry.end() && digest->is_string() && entry.size() == 2) {
      v1::ContentChunk* chunk = content->add_chunks();
      chunk->set_index(std::stoull(index->get_ref<const std::string&>()));
      chunk->set_digest(digest->get_ref<const std::string&>());
      return true;
    }
  }
  v1::ContentChunk* chunk = content->add_chunks();
  auto status = google::protobuf::util::JsonStringToMessage(entry.dump(), chunk, parse_options());
  if (!status.ok()) {
    *error = "a content chunk is not what `scan --chunks` writes: " + std::string(status.message());
    return false;
  }
  return true;
}

}  // namespace

InventoryFile read_inventory_file(const std::string& path) {
  InventoryFile file;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    file.error = "cannot open " + path + ": " + std::strerror(errno);
    return file;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    file.error = "cannot read " + path;
    return file;
  }
  const std::string not_an_inventory = path + " is not an inventory (the output of `sentinelctl scan --json`): ";
  json doc = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    file.error = not_an_inventory + "not a JSON object";
    return file;
  }
  // Take the chunk lists out; protobuf reads the rest.
  std::vector<json> chunk_lists;
  if (auto replicas = doc.find("replicas"); replicas != doc.end() && replicas->is_array()) {
    for (json& replica : *replicas) {
      json chunks;
      if (replica.is_object()) {
        if (auto content = replica.find("content"); content != replica.end() && content->is_object()) {
          if (auto list = content->find("chunks"); list != content->end()) {
            chunks = std::move(*list);
            content->erase("chunks");
          }
        }
      }
      chunk_lists.push_back(std::move(chunks));
    }
  }
  auto status = google::protobuf::util::JsonStringToMessage(doc.dump(), &file.inventory, parse_options());
  if (!status.ok()) {
    file.error = not_an_inventory + std::string(status.message());
    return file;
  }
  for (size_t i = 0; i < chunk_lists.size() && static_cast<int>(i) < file.inventory.replicas_size(); ++i) {
    const json& chunks = chunk_lists[i];
    if (chunks.is_null()) continue;
    if (!chunks.is_array()) {
      file.error = not_an_inventory + "content.chunks is not a list";
      return file;
    }
    v1::ContentSummary* content = file.inventory.mutable_replicas(static_cast<int>(i))->mutable_content();
    content->mutable_chunks()->Reserve(static_cast<int>(chunks.size()));
    std::string error;
    for (const json& entry : chunks) {
      if (!add_chunk(entry, content, &error)) {
        file.error = not_an_inventory + error;
        return file;
      }
    }
  }
  return file;
}

}  // namespace sentinel::tools
