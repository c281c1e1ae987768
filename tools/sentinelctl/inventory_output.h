// Renders an Inventory for people (a table plus the findings) and for scripts (protobuf's JSON mapping).
#pragma once

#include <ostream>
#include <string>

#include "sentinel/v1/inventory.pb.h"

namespace sentinel::tools {

// Protobuf's canonical JSON mapping: lowerCamelCase, enums by name, int64 as strings, defaults printed.
std::string message_to_json(const google::protobuf::Message& message, bool pretty);
std::string inventory_to_json(const v1::Inventory& inventory, bool pretty);

// "40 GiB", "532 KiB", "0 B": binary units, as Longhorn's UI prints them.
std::string human_bytes(uint64_t bytes);

void print_inventory_table(const v1::Inventory& inventory, std::ostream& out);

}  // namespace sentinel::tools
