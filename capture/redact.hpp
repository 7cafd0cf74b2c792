// Keeps Plex tokens out of everything plextap writes: logs, the store and exports.
//
// Two rules, both pure functions of text:
// - the parameter rule (redact_target): a parameter that a server could read as
//   X-Plex-Token, however its name and '=' are percent-encoded, has its value replaced;
// - the key rule (redact_body, on top of the parameter rule): in an XML or JSON answer,
//   a form or any other text body, the value of every attribute, key, element or
//   parameter whose name ends in "token" (authToken, authenticationToken, accessToken,
//   token, X-Plex-Token, ...) is replaced.
// Values are replaced by kRedacted. Headers that are secrets as a whole (is_secret_header)
// are the recorder's: it keeps "REDACTED:<token_fp>" for them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace plextap::capture {

inline constexpr std::string_view kRedacted = "REDACTED";

// Rounds of percent-decoding the rules look through. A server decodes a query once and a
// nested URL (the photo transcoder's `url=`) once more; nothing legitimate nests deeper
// than a few levels. Text still percent-encoded after this many rounds is treated as a
// token: redacted from there to the end of its parameter.
inline constexpr int kMaxDecodeDepth = 16;

// The parameter rule over a request target, URL, header value or log text: returns it with
// the value of every X-Plex-Token parameter replaced by "REDACTED".
// - The name is compared in any letter case after 0, 1, ... kMaxDecodeDepth rounds of
//   percent-decoding of the text (so "X%2DPlex%2Dtoken", "X-Plex%252DToken" and a '='
//   spelled "%3D" or "%25253D" all count), anywhere in the text (also after '?', ';', '/'
//   or in the middle of another parameter's value: "notX-Plex-Token=" is redacted too,
//   "X-Plex-Tokenizer=" is not). '+' or blanks (plain or encoded) may stand between the
//   name and '=', blanks between '=' and the value.
// - The value ends where the parameter ends at the level the name was found: the next
//   '&', ';', '#', quote, '<', '>', white space or control character at that level, so in
//   "url=%2Fa%3FX-Plex-Token%3Dabc%26w%3D1" only "abc" is replaced. '+' does not end a
//   value (it is a space inside it). The value itself may be percent-encoded.
// - Empty values stay empty.
std::string redact_target(std::string_view target);

// Whether a query or form parameter name, as written or already decoded once, is one a
// server could read as X-Plex-Token: it is, in any letter case and without surrounding
// blanks, after some rounds of percent-decoding (or it is still encoded after
// kMaxDecodeDepth rounds).
bool is_token_name(std::string_view name);

// The key rule and the parameter rule over a whole decoded body: null when there is
// nothing to redact, else the body with every token value replaced by "REDACTED" and
// every other byte unchanged.
// - XML attribute  authToken="v" / 'v'     -> authToken="REDACTED"
// - JSON key       "accessToken": "v"      -> "accessToken": "REDACTED" (strings only)
// - XML element    <authentication-token>v<  -> <authentication-token>REDACTED<
// - parameter      authToken=v (form bodies, scripts) up to the next '&', ';', blank, ...
// - form-data part Content-Disposition: form-data; name="X-Plex-Token" … the part's content
//                  up to the next boundary line
// A value cut by the end of the body (a truncated recording) is redacted to the end.
std::optional<std::string> redact_body(std::string_view body);

// The reverse, for `replay send`: the recorded target (or a Referer or Origin value) with
// `token` in place of every redacted X-Plex-Token value, plain or percent-encoded once or
// twice inside another parameter (the token encoded as often); without a token the
// top-level parameters are removed with one of their separators, the nested ones emptied.
std::string substitute_token(std::string_view target, const std::optional<std::string>& token);

// True for headers whose whole values are secrets: Authorization, Proxy-Authorization,
// Cookie, Set-Cookie, and any header whose name ends in "token" (X-Plex-Token among them).
bool is_secret_header(std::string_view name);

}  // namespace plextap::capture
