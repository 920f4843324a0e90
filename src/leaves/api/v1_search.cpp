#include "leaves/api/handlers.h"

#include "leaves/api/search.h"

namespace leaves::api {

// 503 while there is no index, or while it is (re)built from the log.
std::optional<response> search_surface::search_unavailable() {
  if (!d.search || !d.search_projector) {
    return error_to_response(make_error(errc::unavailable, "search is not enabled on this server", "search_disabled"));
  }
  if (!d.search_projector->caught_up()) {
    return error_to_response(make_error(errc::unavailable,
                                        "the search index is being built from the log (" +
                                            std::to_string(c.lag_total(d.search_projector->positions())) +
                                            " events to go; see /readyz)",
                                        "index_building"));
  }
  return std::nullopt;
}

asio::awaitable<response> search_surface::v1_search(const request& req, const params& p) {
  auto r = parse_search(p, o.limits, o.search);
  if (!r) co_return error_to_response(r.err());
  if (!req.caller.narrow(*r)) co_return json_response(200, render_search(search::search_result{}, *r, ""));
  r->marks = c.marks_view(req.caller);
  if (auto u = search_unavailable()) co_return std::move(*u);
  if (auto w = co_await c.wait_min_position_of(req, p, d.search_projector->positions(), "the search index"))
    co_return std::move(*w);
  auto res = co_await d.search->async_search(*r);
  if (res) {
    for (auto& h : res->items) context::show_marks(r->marks, h.leaf);
  }
  if (!res) co_return error_to_response(res.err());
  // The spelling data holds every leaf's words: no suggestion for a caller
  // who may not see them all.
  if (req.caller.limited) res->suggestion.clear();
  co_return json_response(200, render_search(*res, *r, next_page_token(p, *r)));
}

asio::awaitable<response> search_surface::v1_tag_prefix(const request& req, const params& p,
                                                        const std::string& prefix, size_t limit) {
  if (prefix.size() > o.limits.max_tag_bytes) co_return error_to_response(bad_query("prefix is longer than a tag"));
  if (auto u = search_unavailable()) co_return std::move(*u);
  if (auto w = co_await c.wait_min_position_of(req, p, d.search_projector->positions(), "the search index"))
    co_return std::move(*w);
  // The index's prefix lookup counts every leaf: a caller limited to some
  // leaves gets the counts of those.
  if (req.caller.limited) co_return co_await visible_tag_counts(req, prefix, limit);
  auto tags = co_await d.search->async_tag_prefix(prefix, limit);
  if (!tags) co_return error_to_response(tags.err());
  co_return json_response(200, render_tag_suggestions(*tags));
}

// Tags starting with `prefix` of the leaves the caller may see, by count,
// from the index's tag facet over those leaves (kFacetScan tags at most).
asio::awaitable<response> search_surface::visible_tag_counts(const request& req, const std::string& prefix,
                                                             size_t limit) {
  constexpr size_t kFacetScan = 1000;
  search::search_request r;
  (void)req.caller.narrow(r);  // a fresh request asks for no private leaves: never refused
  r.limit = 0;
  r.facet_tags = true;
  r.facet_limit = kFacetScan;
  auto res = co_await d.search->async_search(std::move(r));
  if (!res) co_return error_to_response(res.err());
  std::vector<search::facet_value> out;
  for (auto& t : res->tags) {
    if (out.size() >= limit) break;
    if (t.value.starts_with(prefix)) out.push_back(std::move(t));
  }
  co_return json_response(200, render_tag_suggestions(out));
}

}  // namespace leaves::api
