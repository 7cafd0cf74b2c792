# capture/'s sources, read by capture/CMakeLists.txt and by the fuzz build (tests/fuzz), a
# project of its own: one list for both. Paths are relative to this folder.
# The parsers and what they need: pure functions over bytes, what the fuzz targets compile.
set(plextap_capture_parsing_sources
  redact.cpp classify.cpp query.cpp client_info.cpp body_decode.cpp
  parse_doc.cpp parse_fields.cpp parse_playqueue.cpp parse_decision.cpp parse_search.cpp)
# The rest of the write path: records, the exchange codec, the recorder.
set(plextap_capture_sources ${plextap_capture_parsing_sources}
  exchange.cpp redact_exchange.cpp token_fingerprint.cpp event.cpp recorder.cpp
  enrichment_record.cpp)
