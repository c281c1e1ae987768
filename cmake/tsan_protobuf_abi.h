// Force-included into every C++ file of the ThreadSanitizer build (SENTINEL_SANITIZE=thread; see the top-level
// CMakeLists.txt). Not a suppression: it keeps one class layout the same on both sides of a library boundary.
//
// Why: protobuf 3.21's map_field.h gives MapFieldBase two extra members (seq1_, seq2_) when
// __SANITIZE_THREAD__ is defined. Debian's libprotobuf.so is built without TSan, so code compiled with
// -fsanitize=thread against those headers disagrees with the library about where MapFieldBase's fields are:
// the first map field touched through reflection (MessageDifferencer on an Image's labels) reads a wrong
// offset and crashes with SEGV. Here map_field.h is included once with __SANITIZE_THREAD__ hidden, so it gets
// the layout the library was built with; its include guard makes every later #include of it a no-op.
//
// libstdc++'s configuration (which turns on _GLIBCXX_TSAN, so that shared_ptr's reference counts stay
// visible to TSan) is read first, with the macro still defined; nothing else in /usr/include looks at it.
#pragma once
#if defined(__cplusplus) && defined(__SANITIZE_THREAD__)
#include <cstddef>  // bits/c++config.h, while __SANITIZE_THREAD__ is still defined
#pragma push_macro("__SANITIZE_THREAD__")
#undef __SANITIZE_THREAD__
#include <google/protobuf/map_field.h>
#pragma pop_macro("__SANITIZE_THREAD__")
#endif
