#include "leaves/html/atom.h"

#include "leaves/base/time.h"
#include "leaves/html/sanitize.h"
#include "leaves/html/text.h"

namespace leaves::html {

std::string atom_feed(const std::string& title, const std::string& id, const std::string& alternate,
                      const std::string& self, int64_t updated, const std::vector<atom_entry>& entries) {
  std::string x = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<title>" +
                  escape(title) + "</title>\n<id>" + escape(id) + "</id>\n<updated>" + format_iso8601(updated) +
                  "</updated>\n";
  if (!alternate.empty()) x += "<link rel=\"alternate\" href=\"" + escape(alternate) + "\"/>\n";
  if (!self.empty()) x += "<link rel=\"self\" href=\"" + escape(self) + "\"/>\n";
  x += "<generator>leaves</generator>\n";
  for (const auto& e : entries) {
    x += "<entry>\n<title>" + escape(e.title.empty() ? e.url : e.title) + "</title>\n<id>urn:leaves:leaf:" +
         escape(e.id) + "</id>\n<updated>" + format_iso8601(e.updated_ms) + "</updated>\n<published>" +
         format_iso8601(e.published_ms) + "</published>\n";
    if (safe_url(e.url, false)) x += "<link href=\"" + escape(e.url) + "\"/>\n";
    if (!e.alternate.empty()) x += "<link rel=\"alternate\" type=\"text/html\" href=\"" + escape(e.alternate) + "\"/>\n";
    if (!e.author.empty()) x += "<author><name>" + escape(e.author) + "</name></author>\n";
    for (const auto& t : e.tags) x += "<category term=\"" + escape(t) + "\"/>\n";
    x += "<summary>" + escape(e.summary) + "</summary>\n</entry>\n";
  }
  return x + "</feed>\n";
}

}  // namespace leaves::html
