// Reads an inventory file as `sentinelctl scan --json` writes it (protobuf's JSON mapping of sentinel.v1.Inventory).
//
// Everything goes through protobuf's own JSON parser (the schema is the one truth; unknown fields are ignored so
// an inventory from a newer sentinelctl reads), except the chunk lists of `scan --deep --chunks`: thousands of
// {index, digest} entries per replica, nearly all of such a file, which protobuf's parser takes ~4x longer over
// than a plain JSON parse. `diff --inventory` answers from them in milliseconds, so they are read directly (a
// chunk entry with anything but a decimal index and a string digest still goes through protobuf's parser).
// Errors are values; nothing throws except std::bad_alloc.
#pragma once

#include <string>

#include "sentinel/v1/inventory.pb.h"

namespace sentinel::tools {

struct InventoryFile {
  v1::Inventory inventory;
  std::string error;  // "" when it was read
};

InventoryFile read_inventory_file(const std::string& path);

}  // namespace sentinel::tools
