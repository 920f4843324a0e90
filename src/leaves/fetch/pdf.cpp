#include "leaves/fetch/pdf.h"

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <climits>
#include <memory>
#include <mutex>

#include "leaves/base/utf8.h"

namespace leaves::fetch {
namespace {

std::string utf8_of(const poppler::ustring& s) {
  const auto bytes = s.to_utf8();
  return utf8_repaired(std::string_view(bytes.data(), bytes.size()));
}

std::string trimmed(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n\f");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n\f");
  return s.substr(first, last - first + 1);
}

void quiet(const std::string&, void*) {}

}  // namespace

pdf_text extract_pdf(std::string_view data, int max_pages, size_t max_text_bytes) {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(quiet, nullptr); });
  pdf_text out;
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    out.error = "the PDF is too large";
    return out;
  }
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(data.data(), static_cast<int>(data.size())));
  if (!doc) {
    out.error = "not a PDF poppler can read";
    return out;
  }
  if (doc->is_locked()) {
    out.error = "the PDF is encrypted";
    return out;
  }
  out.pages = doc->pages();
  out.title = trimmed(utf8_of(doc->info_key("Title")));
  out.author = trimmed(utf8_of(doc->info_key("Author")));
  for (int i = 0; i < out.pages && i < max_pages && out.text.size() < max_text_bytes; ++i) {
    std::unique_ptr<poppler::page> p(doc->create_page(i));
    if (!p) continue;
    std::string t = utf8_of(p->text());
    if (!out.text.empty() && !t.empty()) out.text += '\n';
    out.text += t;
  }
  if (out.text.size() > max_text_bytes) out.text = utf8_repaired(out.text, max_text_bytes);
  out.text = trimmed(std::move(out.text));
  if (out.title.empty()) {
    const auto nl = out.text.find('\n');
    out.title = utf8_repaired(trimmed(out.text.substr(0, nl)), 300);
  }
  return out;
}

}  // namespace leaves::fetch
