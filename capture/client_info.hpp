// Who is calling: the X-Plex-* client parameters and the token, which clients send as
// headers or as query parameters (the web app uses the query), in any letter case.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "capture/query.hpp"
#include "capture/tap.hpp"

namespace plextap::capture {

struct ClientInfo {
  std::string id;                // X-Plex-Client-Identifier
  std::string product;           // X-Plex-Product
  std::string version;           // X-Plex-Version
  std::string platform;          // X-Plex-Platform
  std::string platform_version;  // X-Plex-Platform-Version
  std::string device;            // X-Plex-Device
  std::string device_name;       // X-Plex-Device-Name
  std::string device_vendor;     // X-Plex-Device-Vendor
  std::string model;             // X-Plex-Model
  std::string session;           // X-Plex-Session-Identifier (not X-Plex-Session-Id)
};

// Header wins over query parameter; among several of one source the first non-empty one
// counts. Empty values count as absent.
ClientInfo client_info(std::span<const Header> headers, std::span<const Param> params);

// X-Plex-Token from a header, else from the query; nullopt when neither has a value.
std::optional<std::string> find_token(std::span<const Header> headers,
                                      std::span<const Param> params);

// Makes a decoded parameter list safe to store: drops every parameter whose name a server
// could read as X-Plex-Token (is_token_name: "X-Plex-Token", "X%2DPlex%2DToken", ...) and
// redacts tokens nested inside other values (e.g. the `url=` of /photo/:/transcode).
void strip_token(std::vector<Param>& params);

}  // namespace plextap::capture
