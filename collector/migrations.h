// The store's schema, versioned in code: migration N takes a database at user_version N-1 to N, inside one
// transaction with the user_version bump, so a crash mid-migration leaves the previous version intact.
//
// Contract: migrate() brings any database from version 0 (empty, new file) up to kSchemaVersion and returns the
// version it found. A database newer than this binary (a downgrade) is refused, never touched. Migrations are
// append-only: a released migration is never edited, a change is a new one.
#pragma once

#include <SQLiteCpp/Database.h>

#include <optional>
#include <string>

namespace sentinel::collector {

inline constexpr int kSchemaVersion = 2;

// Returns the version found before migrating, or nullopt with *error (newer schema, SQL failure).
std::optional<int> migrate(SQLite::Database& db, std::string* error);

}  // namespace sentinel::collector
