// GET /v1/feed: an Atom feed of the 50 newest leaves the caller may see, of
// a tag (?tag=), of a saved search (?q=, by the search index), or of all;
// or the first 50 of a collection in its order (?collection=, what reaches
// the caller through it: docs/collections.md).
// Feed readers cannot send headers, so the token may come as ?token= here
// (and only here; api/auth.cpp): a token with the feed scope alone opens
// feeds and nothing else, and revoking it ends the feed at once.
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "leaves/api/handlers.h"
#include "leaves/api/search.h"
#include "leaves/html/atom.h"
#include "leaves/html/text.h"

namespace leaves::api {

namespace {

constexpr size_t kFeedEntries = 50;

html::atom_entry entry_of(const leaf& l) {
  const std::string text = l.content_text ? *l.content_text : std::string();
  return html::atom_entry{l.id, l.title, l.url, l.updated_at, l.created_at, "/leaf/" + l.id, l.user_name,
                          l.tags.value_or(domain::string_list{}), html::collapsed_prefix(text, 300)};
}

std::string url_encoded(std::string_view v) { return boost::urls::encode(v, boost::urls::unreserved_chars); }

}  // namespace

asio::awaitable<response> v1_leaves::v1_feed(const request& req, const params& p, const auth::principal& who) {
  const std::string* tag = nullptr;
  const std::string* q = nullptr;
  const std::string* collection = nullptr;
  params search_params;
  for (const auto& [k, v] : p) {
    if (k == "collection") {
      collection = &v;
    } else if (k == "tag" || k == "q" || k == "match") {
      search_params.emplace_back(k, v);
      if (k == "tag") {
        if (tag) co_return error_to_response(bad_query("one tag per feed"));
        tag = &v;
      }
      if (k == "q") q = &v;
    } else if (k != "token") {
      co_return error_to_response(bad_query("unknown query parameter: " + k + " (tag, q, match, collection, token)"));
    }
  }
  std::vector<html::atom_entry> entries;
  std::optional<domain::collection> col;
  if (collection) {
    if (tag || q) co_return error_to_response(bad_query("a collection's feed takes no tag or q"));
    if (d.users) col = d.users->find_collection(*collection);
    if (!col || d.users->access(*col, who) == auth::collection_access::none) {
      co_return error_to_response(make_error(errc::not_found, "collection " + collection->substr(0, 64) +
                                                                  " does not exist", "collection_not_found"));
    }
    if (col->query) {
      search_params = {{"q", *col->query}};
      q = &*col->query;
    }
  }
  if (col && !col->query) {
    auto slice = co_await c.collection_leaves(*col, req, who, 0, kFeedEntries, 4 * kFeedEntries);
    if (!slice) co_return error_to_response(slice.err());
    for (const auto& [_, l] : slice->items) entries.push_back(entry_of(l));
  } else if (q) {
    auto r = parse_search(search_params, o.limits, o.search);
    if (!r) co_return error_to_response(r.err());
    r->sort = search::sort_by::created;
    r->descending = true;
    r->offset = 0;
    r->limit = kFeedEntries;
    if (!req.caller.narrow(*r)) r->limit = 0;
    r->marks = c.marks_view(req.caller);
    if (auto u = searching.search_unavailable()) co_return std::move(*u);
    auto res = co_await d.search->async_search(*r);
    if (!res) co_return error_to_response(res.err());
    for (const auto& h : res->items) {
      if (!req.caller.sees(h.leaf.is_public, h.leaf.user_id)) continue;
      entries.push_back(entry_of(h.leaf));
    }
  } else {
    params list_params;
    if (tag) list_params.emplace_back("tag", *tag);
    auto lq = list_query(list_params);
    if (!lq) co_return error_to_response(lq.err());
    lq->limit = kFeedEntries;
    // (A tag alone never asks for private leaves: narrow() cannot refuse.)
    (void)req.caller.narrow(*lq);
    auto page = co_await d.store.async_list(*lq);
    if (!page) co_return error_to_response(page.err());
    for (const auto& l : page->items) {
      if (l.deleted || !req.caller.sees(l.is_public, l.user_id)) continue;
      entries.push_back(entry_of(l));
    }
  }
  int64_t updated = 0;
  for (const auto& e : entries) updated = std::max(updated, e.updated_ms);
  std::string title = "leaves", id = "urn:leaves:feed", alternate = "/";
  if (tag) {
    title += ": #" + *tag;
    id += ":tag:" + *tag;
    alternate = "/?tag=" + url_encoded(*tag);
  }
  if (col) {
    title += ": " + col->name;
    id += ":collection:" + col->id;
    alternate = "/collection/" + col->id;
  }
  if (q && !col) {
    title += ": " + *q;
    id += ":search:" + *q;
    alternate += std::string(tag ? "&" : "?") + "q=" + url_encoded(*q);
  }
  response r;
  r.content_type = "application/atom+xml; charset=utf-8";
  r.body = html::atom_feed(title, id, alternate, "", updated, entries);
  // The answer depends on the caller (its token): private caches only.
  r.headers.emplace_back("Cache-Control", "private, max-age=60");
  co_return r;
}

}  // namespace leaves::api
