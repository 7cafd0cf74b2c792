# base/'s sources, read by base/CMakeLists.txt and by the fuzz build (tests/fuzz), a
# project of its own: one list for both. Paths are relative to this folder.
set(plextap_base_sources json_writer.cpp time.cpp percent.cpp prometheus.cpp rate_limited_log.cpp
  markup.cpp text_distance.cpp process_metrics.cpp)
