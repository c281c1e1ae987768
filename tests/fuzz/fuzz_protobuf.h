// Included by the fuzz targets that parse protobuf messages.
#pragma once

#include <google/protobuf/stubs/logging.h>

namespace sentinel::fuzz {

// Protobuf logs every string field with invalid UTF-8 it refuses to parse: thousands of lines a second under a
// fuzzer, which slow it down and bury its report. The refusal is what is under test, not the log line.
inline const bool kProtobufLogsOff = (google::protobuf::SetLogHandler(nullptr), true);

}  // namespace sentinel::fuzz
