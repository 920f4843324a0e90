// leaves users: user and token administration through a running server's
// API (/v1/users), with the token of LEAVES_TOKEN. docs/auth.md.
#include <boost/json.hpp>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <cstdlib>
#include <string>
#include <vector>

#include "leaves/app/commands.h"
#include "leaves/app/http_client.h"

namespace leaves::app {

namespace json = boost::json;

namespace {

constexpr const char* kUsage =
    "Usage: leaves users COMMAND [--server URL]\n"
    "  list                                   every user (admin)\n"
    "  create NAME [--role reader|curator|admin] [--email E]   a new user (admin)\n"
    "  disable NAME | enable NAME             a disabled user's tokens fail at once (admin)\n"
    "  role NAME reader|curator|admin         change a user's role (admin)\n"
    "  token NAME [--name N] [--scopes read,write,admin,feed] [--expires-in-days N]\n"
    "                                         a new API token, printed once (the user, or an admin)\n"
    "  tokens NAME                            a user's tokens, without secrets\n"
    "  revoke NAME TOKEN_ID                   revoke a token\n"
    "  password NAME                          set the password the web UI signs in with, read from stdin\n"
    "                                         (the user, or an admin)\n"
    "The caller's token comes from LEAVES_TOKEN; the server from --server or LEAVES_SERVER\n"
    "(default http://127.0.0.1:8080). Exit status: 0 done, 1 refused by the server, 2 bad usage or no server.\n";

int usage(const char* why) {
  if (why) std::fprintf(stderr, "leaves users: %s\n", why);
  std::fputs(kUsage, stderr);
  return 2;
}

// Percent-encodes a path segment (user names are [a-z0-9._-], but the command
// line may hold anything).
std::string segment(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string str(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  if (!v) return "";
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_null()) return "-";
  return json::serialize(*v);
}

std::string scopes_of(const json::object& o) {
  std::string s;
  if (const auto* a = o.if_contains("scopes"); a && a->is_array()) {
    for (const auto& v : a->get_array()) s += (s.empty() ? "" : ",") + std::string(v.as_string());
  }
  return s;
}

// One line from stdin; on a terminal, asked for and not echoed.
std::string read_password() {
  const bool tty = isatty(STDIN_FILENO);
  termios old{};
  if (tty) {
    std::fprintf(stderr, "password: ");
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fputc('\n', stderr);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

int users_main(const std::vector<std::string>& all) {
  std::string server = std::getenv("LEAVES_SERVER") ? std::getenv("LEAVES_SERVER") : "http://127.0.0.1:8080";
  std::vector<std::string> pos;
  std::string role, email, token_name, scopes, days;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string& a = all[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= all.size()) return false;
      out = all[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    bool ok = true;
    if (a == "--server") {
      ok = value(server);
    } else if (a == "--role") {
      ok = value(role);
    } else if (a == "--email") {
      ok = value(email);
    } else if (a == "--name") {
      ok = value(token_name);
    } else if (a == "--scopes") {
      ok = value(scopes);
    } else if (a == "--expires-in-days") {
      ok = value(days);
    } else if (a.starts_with("--")) {
      return usage(("unknown option " + a).c_str());
    } else {
      pos.push_back(a);
    }
    if (!ok) return usage((a + " needs a value").c_str());
  }
  if (pos.empty()) return usage(nullptr);
  const std::string verb = pos[0];
  auto need = [&](size_t n) { return pos.size() == n + 1; };

  std::string method = "GET", target, body;
  if (verb == "list" && need(0)) {
    target = "/v1/users";
  } else if (verb == "create" && need(1)) {
    json::object o{{"name", pos[1]}};
    if (!role.empty()) o["role"] = role;
    if (!email.empty()) o["email"] = email;
    method = "POST", target = "/v1/users", body = json::serialize(o);
  } else if ((verb == "disable" || verb == "enable") && need(1)) {
    method = "PATCH", target = "/v1/users/" + segment(pos[1]);
    body = json::serialize(json::object{{"disabled", verb == "disable"}});
  } else if (verb == "role" && need(2)) {
    method = "PATCH", target = "/v1/users/" + segment(pos[1]);
    body = json::serialize(json::object{{"role", pos[2]}});
  } else if (verb == "token" && need(1)) {
    json::object o;
    if (!token_name.empty()) o["name"] = token_name;
    if (!scopes.empty()) o["scopes"] = scopes;
    if (!days.empty()) {
      char* end = nullptr;
      const long n = std::strtol(days.c_str(), &end, 10);
      if (!end || *end || n < 1 || n > 3650) return usage("--expires-in-days takes 1 to 3650");
      o["expires_in_days"] = n;
    }
    method = "POST", target = "/v1/users/" + segment(pos[1]) + "/tokens", body = json::serialize(o);
  } else if (verb == "tokens" && need(1)) {
    target = "/v1/users/" + segment(pos[1]) + "/tokens";
  } else if (verb == "password" && need(1)) {
    method = "PUT", target = "/v1/users/" + segment(pos[1]) + "/password";
    body = json::serialize(json::object{{"password", read_password()}});
  } else if (verb == "revoke" && need(2)) {
    method = "DELETE", target = "/v1/users/" + segment(pos[1]) + "/tokens/" + segment(pos[2]);
  } else {
    return usage(("unknown command or wrong arguments: " + verb).c_str());
  }

  http_client c(server);
  if (!c.ok()) return usage(c.why().c_str());
  http_answer res;
  try {
    res = c.request(method, c.prefix() + target, body, "leaves-users");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "leaves users: cannot reach %s: %s\n", server.c_str(), e.what());
    return 2;
  }
  boost::system::error_code ec;
  auto doc = json::parse(res.body, ec);
  if (res.status >= 300 || ec || !doc.is_object()) {
    std::string why = res.body.substr(0, 500);
    if (!ec && doc.is_object()) {
      if (const auto* e = doc.get_object().if_contains("error"); e && e->is_object()) {
        why = str(e->get_object(), "code") + ": " + str(e->get_object(), "message");
      }
    }
    std::fprintf(stderr, "leaves users %s: the server answered %d (%s)%s\n", verb.c_str(), res.status, why.c_str(),
                 res.status == 401 && !(std::getenv("LEAVES_TOKEN") && *std::getenv("LEAVES_TOKEN")) ? "; set LEAVES_TOKEN to an admin's token" : "");
    return res.status >= 300 ? 1 : 2;
  }
  const auto& o = doc.get_object();
  if (verb == "list") {
    std::printf("%-24s %-8s %-9s %-10s %s\n", "NAME", "ROLE", "DISABLED", "USER_ID", "EMAIL");
    for (const auto& u : o.at("items").as_array()) {
      const auto& x = u.as_object();
      std::printf("%-24s %-8s %-9s %-10s %s\n", str(x, "name").c_str(), str(x, "role").c_str(),
                  str(x, "disabled").c_str(), str(x, "user_id").c_str(), str(x, "email").c_str());
    }
  } else if (verb == "tokens") {
    std::printf("%-12s %-20s %-17s %-24s %-24s %s\n", "ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "REVOKED");
    for (const auto& t : o.at("items").as_array()) {
      const auto& x = t.as_object();
      std::printf("%-12s %-20s %-17s %-24s %-24s %s\n", str(x, "id").c_str(), str(x, "name").c_str(),
                  scopes_of(x).c_str(), str(x, "created_at").c_str(), str(x, "expires_at").c_str(),
                  str(x, "revoked").c_str());
    }
  } else if (verb == "token") {
    // The token alone on stdout, so `TOKEN=$(leaves users token alice)` works;
    // what it is on stderr.
    std::fprintf(stderr, "token %s of %s (scopes %s, expires %s); shown once:\n", str(o, "id").c_str(),
                 str(o, "user").c_str(), scopes_of(o).c_str(), str(o, "expires_at").c_str());
    std::printf("%s\n", str(o, "token").c_str());
  } else if (verb == "revoke") {
    std::printf("revoked token %s of %s\n", str(o, "id").c_str(), pos[1].c_str());
  } else if (verb == "password") {
    std::printf("password set for %s\n", str(o, "name").c_str());
  } else {
    std::printf("%s: %s, role %s%s\n", verb == "create" ? "created" : "updated", str(o, "name").c_str(),
                str(o, "role").c_str(), str(o, "disabled") == "true" ? ", disabled" : "");
  }
  return 0;
}

}  // namespace leaves::app
