"""GET /v1/search: the search index as a projection of the log (every mode)."""

import collections
import os

import requests

from leaves_testlib import expect, expect_error, unique


def search(client, query, status=200, what="search"):
    return expect(client.get("/v1/search?" + query), status, what + ": " + query)


def ids(body):
    return {it["id"] for it in body["items"]}


def seed(client, tag, docs):
    made = {}
    for key, (title, text, tags, extra) in docs.items():
        made[key] = client.create(title=title, content_text=text, tags=[tag] + tags, **extra)["id"]
    return made


def test_search_finds_what_was_written_with_every_operator(client):
    tag = unique("s")
    m = seed(client, tag, {
        "kafka": ("Kafka streams explained", "Partitions keep events in order.", ["kafka"], {"is_starred": True}),
        "cass": ("Cassandra data modelling", "Tables designed per query; bounded partitions.", ["cassandra"], {}),
        "food": ("Cooking with cast iron", "Season the pan before use.", ["food"], {"user_name": "Bob Cook"}),
    })
    base = "tag=" + tag + "&q="
    cases = [
        ("kafka", {"kafka"}),
        ("partition", {"kafka", "cass"}),  # stems
        ("%22events+in+order%22", {"kafka"}),
        ("%22order+in+events%22", set()),
        ("title:cassandra", {"cass"}),
        ("%23food", {"food"}),
        ("tag:kafka", {"kafka"}),
        ("partitions+-tag:kafka", {"cass"}),
        ("kafka+OR+cassandra", {"kafka", "cass"}),
        ("kafka+cassandra", set()),
        ("(kafka+OR+pan)+season", {"food"}),
        ("is:starred", {"kafka"}),
        ("-is:starred", {"cass", "food"}),
        ("user:%22Bob+Cook%22", {"food"}),
        ("after:2000-01-01", {"kafka", "cass", "food"}),
        ("before:2000-01-01", set()),
    ]
    for q, want in cases:
        body = search(client, base + q)
        assert ids(body) == {m[k] for k in want}, "q=%s: expected %s, got %s" % (q, sorted(want), body["items"])
        assert body["total"] == len(want) and body["total_exact"] is True, body
    any_body = search(client, base + "kafka+cassandra&match=any")
    assert ids(any_body) == {m["kafka"], m["cass"]}, any_body
    hit = search(client, base + "season")["items"][0]
    assert "<mark>" in hit["snippet"] and hit["score"] > 0, hit
    for f in ("id", "url", "title", "domain_name", "tags", "user_name", "created_at", "updated_at", "is_starred",
              "is_archived", "is_public", "preview_picture"):
        assert f in hit, "search items carry %s: %s" % (f, hit)


def test_facets_count_the_whole_result_set(client):
    tag = unique("f")
    tags_of = [["a", "b"], ["a"], ["b", "c"], ["a", "c"], ["c"], ["a", "b", "c"], []]
    for i, extra in enumerate(tags_of * 3):
        client.create(title="facet doc %d" % i, content_text="common words", tags=[tag] + extra)
    body = search(client, "tag=%s&facets=tags,users,domains&limit=2" % tag)
    want = collections.Counter([tag] * len(tags_of) * 3)
    for extra in tags_of * 3:
        want.update(extra)
    got = {f["value"]: f["count"] for f in body["facets"]["tags"]}
    assert got == dict(want), "facet counts over all %d matches, not the page of 2: expected %s, got %s" % (
        body["total"], dict(want), got)
    assert body["total"] == 21 and len(body["items"]) == 2
    narrowed = search(client, "tag=%s&tag=a&facets=tags" % tag)
    got = {f["value"]: f["count"] for f in narrowed["facets"]["tags"]}
    assert got == {tag: 12, "a": 12, "b": 6, "c": 6}, "tags that co-occur with a: %s" % got


def test_paging_is_complete_and_tokens_are_bound(client):
    tag = unique("p")
    made = {client.create(title="page %d" % i, content_text="paging words", tags=[tag])["id"] for i in range(23)}
    for sort in ("relevance", "created", "title"):
        seen, token, pages = [], None, 0
        while True:
            q = "q=paging&tag=%s&sort=%s&limit=5" % (tag, sort)
            if token:
                q += "&page_token=" + requests.utils.quote(token, safe="")
            body = search(client, q)
            seen += [it["id"] for it in body["items"]]
            pages += 1
            token = body["next_page_token"]
            if token is None:
                break
        assert len(seen) == len(set(seen)) == 23 and set(seen) == made, "sort=%s: %d items, %d distinct" % (
            sort, len(seen), len(set(seen)))
        assert pages == 5
    first = search(client, "q=paging&tag=%s&limit=5" % tag)
    r = client.get("/v1/search?q=other&tag=%s&page_token=%s" % (tag, first["next_page_token"]))
    expect_error(r, 400, "invalid_query", "a page token of another search")


def test_deleted_and_changed_leaves_follow(client):
    tag = unique("d")
    leaf = client.create(title="Ephemeral note", content_text="vanishing text", tags=[tag])
    assert ids(search(client, "q=vanishing&tag=" + tag)) == {leaf["id"]}
    expect(client.post("/v1/leaves/%s/tags" % leaf["id"], json={"tags": ["added-" + tag]}), 200, "add tag")
    assert ids(search(client, "tag=added-" + tag)) == {leaf["id"]}
    expect(client.delete("/v1/leaves/" + leaf["id"]), 200, "delete")
    assert search(client, "q=vanishing&tag=" + tag)["items"] == []


def test_tag_suggestions_and_did_you_mean(client):
    tag = unique("zebra")
    client.create(title="Quasarific telescopes", content_text="stars", tags=[tag, tag + "-x"])
    body = expect(client.get("/v1/tags?prefix=" + tag), 200, "tag prefix")
    assert [t["tag"] for t in body["items"]] == sorted([tag, tag + "-x"]), body
    body = search(client, "q=quasarifik")
    assert body["total"] == 0 and body.get("suggestion") == "quasarific", body


def test_malformed_searches_answer_400_and_the_server_stays_up(client):
    bad = ["q=(kafka", "q=kafka)", "q=%22open", "q=OR+x", "q=x+OR", "q=tag:", "q=is:hidden", "q=after:2026-02-30",
           "q=before:soon", "q=-", "q=%28%29", "q=" + "a" * 2000, "q=" + "+".join("w%d" % i for i in range(80)),
           "match=some", "sort=random", "order=up", "limit=0", "limit=1000", "facets=colours", "facet_limit=-1",
           "starred=maybe", "since=yesterday", "bogus=1", "page_token=abc", "q=%01", "q=" + "(" * 20 + "a" + ")" * 20]
    for q in bad:
        r = client.get("/v1/search?" + q)
        expect_error(r, 400, "invalid_query", "malformed search " + q[:40])
        assert r.json()["error"]["message"], r.text
    expect(client.get("/healthz"), 200, "healthz after malformed searches")


def test_readyz_shows_each_projection(client):
    body = expect(client.get("/readyz"), 200, "readyz")
    projections = body["projections"]
    assert set(projections) == {"read_models", "search"}, projections
    for name, p in projections.items():
        assert {"caught_up", "lag_total", "lag", "group"} <= set(p), (name, p)
    metrics = client.get("/metrics").text
    assert 'leaves_projection_lag{projection="search",partition="0"}' in metrics
    assert "leaves_search_documents" in metrics


def test_reindex_rebuilds_the_index_from_the_log(server_factory):
    srv = server_factory.make()
    c = srv.client
    tag = unique("r")
    made = {c.create(title="reindexed %d" % i, content_text="rebuild me", tags=[tag])["id"] for i in range(12)}
    assert ids(search(c, "q=rebuild&tag=" + tag)) == made
    srv.stop()
    import subprocess
    args = [srv.binary, "reindex", "--data-dir", str(srv.data_dir)] + list(srv.args)
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, env=dict(os.environ, **srv.env))
    assert p.returncode == 0, "leaves reindex exited %d:\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    assert "indexed" in p.stdout, p.stdout
    srv.start()
    assert ids(search(srv.client, "q=rebuild&tag=" + tag)) == made


def test_kill_9_during_indexing_then_the_index_equals_the_log(server_factory):
    """Bulk writes, kill -9 while the index follows them, restart: the index
    catches up and `leaves check` finds it equal to a fold of the log (what a
    reindex would build), document for document and version for version."""
    import threading
    import time

    from leaves_testlib import describe_cli, run_cli

    srv = server_factory.make()
    tag = unique("k9")
    stop = threading.Event()
    sent = []

    def writer():
        s = requests.Session()
        i = 0
        while not stop.is_set():
            items = [{"url": "https://k9.example.com/%s/%d" % (tag, i + j), "title": "crash %d" % (i + j),
                      "content_text": "indexing under a crash", "tags": [tag]} for j in range(50)]
            i += 50
            try:
                r = s.post(srv.base_url + "/v1/bulk/leaves", json={"items": items}, timeout=10)
                if r.status_code == 200:
                    sent.append(len(items))
            except requests.RequestException:
                break

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    time.sleep(1.5)
    srv.kill()
    stop.set()
    t.join(10)
    assert sent, "no bulk write was acknowledged before the kill"
    srv.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = requests.get(srv.base_url + "/readyz", timeout=5).json()
        search_state = ready.get("projections", {}).get("search", {})
        if ready.get("status") == "ready" and search_state.get("caught_up") and search_state.get("lag_total") == 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the index did not catch up after the restart: %s" % ready)
    srv.stop()
    res = run_cli(srv.binary, ["check", "--data-dir", srv.data_dir] + srv.backend_args, timeout=120)
    assert res.returncode == 0 and "search index:" in res.stdout and "consistent" in res.stdout, (
        "expected the index equal to the log after kill -9\n" + describe_cli(res))


def test_live_search_stream_carries_only_matching_leaves(client):
    from leaves_testlib import SSEClient
    tag = unique("live")
    s = SSEClient(client.host, client.port, "/v1/stream?q=kafka+partitions&tag=" + tag)
    try:
        assert s.status == 200, "live search stream: expected 200, got %s" % s.status
        hit = client.create(title="Kafka partitions in depth", tags=[tag])["id"]
        miss = client.create(title="Cassandra tables", tags=[tag])["id"]
        half = client.create(title="Kafka without the other word", tags=[tag])["id"]
        expect(client.patch("/v1/leaves/" + hit, json={"title": "Kafka partitions, edited"}), 200)
        expect(client.delete("/v1/leaves/" + miss), 200, "delete")
        # The edit and the delete are on two leaves, so on two partitions: the
        # stream may deliver them in either order. Wait for both.
        def seen(evs, kind, leaf_id):
            return any(e.get("event") == kind and (e.get("json") or {}).get("leaf_id") == leaf_id for e in evs)

        events = s.collect(8, until=lambda evs: seen(evs, "leaf.deleted", miss) and seen(evs, "leaf.updated", hit))
    finally:
        s.close()
    got = [(e["event"], e["json"]["leaf_id"]) for e in events if e.get("json") and "leaf_id" in e["json"]]
    assert ("leaf.created", hit) in got, "the matching leaf was not streamed: %s" % got
    assert ("leaf.updated", hit) in got, "the matching leaf's edit was not streamed: %s" % got
    assert not any(i in (half,) for _, i in got), "a leaf matching one word of two was streamed: %s" % got
    assert ("leaf.created", miss) not in got, "a leaf that does not match was streamed: %s" % got
    assert ("leaf.deleted", miss) in got, "deletes are always streamed: %s" % got


def test_live_search_any_and_bad_queries(client):
    from leaves_testlib import SSEClient
    tag = unique("liveany")
    s = SSEClient(client.host, client.port, "/v1/stream?match=any&q=kafka+cassandra&tag=" + tag)
    try:
        a = client.create(title="Only kafka here", tags=[tag])["id"]
        b = client.create(title="Only cassandra here", tags=[tag])["id"]
        c = client.create(title="Neither", tags=[tag])["id"]
        events = s.collect(5, until=lambda evs: len(evs) >= 2)
    finally:
        s.close()
    got = {e["json"]["leaf_id"] for e in events if e.get("json") and "leaf_id" in e["json"]}
    assert got == {a, b}, "match=any: expected %s, got %s (not %s)" % ({a, b}, got, c)
    for q in ("%22unclosed", "(a", "a+OR", "match=maybe&q=x"):
        path = "/v1/stream?" + (q if q.startswith("match=") else "q=" + q)
        r = client.get(path, consistent=False, headers={"Accept": "text/event-stream"})
        expect_error(r, 400, "invalid_query", "live search " + path)


def test_many_matches_are_answered_from_the_newest_and_exact_true_walks_all(server_factory):
    """--search-exact-up-to 20: a search of 200 matches is ranked and counted
    on a window of the newest; newest first its page is still exact, and
    exact=true walks every match (docs/search.md, "Many matches")."""
    srv = server_factory.make(args=["--search-exact-up-to", "20"])
    c = srv.client
    tag = unique("w")
    hour = 3600 * 1000
    base = 1700000000000
    items = [{"url": "https://example.org/sampled/%s/%d" % (tag, i), "title": "sampled %d" % i,
              "content_text": "samplewords everywhere", "tags": [tag], "created_at": base + i * hour}
             for i in range(200)]
    r = c.post("/v1/bulk/leaves", json={"items": items}, timeout=30)
    body = expect(r, 200, "POST /v1/bulk/leaves")
    assert body["created"] == 200, body
    by_created = [x["id"] for x in sorted(body["results"], key=lambda x: -x["index"])]

    from leaves_testlib import wait_until
    wait_until(lambda: search(c, "exact=true&limit=1&q=samplewords&tag=" + tag)["total"] == 200,
               timeout=20, what="200 leaves in the search index")

    exact = search(c, "exact=true&sort=created&limit=10&facets=tags&q=samplewords&tag=" + tag)
    assert exact["sample"] is None and exact["total"] == 200 and exact["total_exact"] is True, exact
    assert exact["facets_exact"] is True and exact["facets"]["tags"] == [{"value": tag, "count": 200}], exact["facets"]

    got = search(c, "sort=created&limit=10&facets=tags&q=samplewords&tag=" + tag)
    assert got["sample"] is not None, "200 matches over --search-exact-up-to 20 but no sample: %s" % got
    s = got["sample"]
    assert 10 <= s["matches"] < 200 and "created_since" in s, s
    assert got["total_exact"] is False and 150 <= got["total"] <= 250, (got["total"], got["total_exact"])
    assert got["facets_exact"] is False and got["facets"]["tags"] == [{"value": tag, "count": s["matches"]}], got
    assert [x["id"] for x in got["items"]] == by_created[:10], "newest first from a window must be exact"
    assert all(x["created_at"] >= s["created_since"] for x in got["items"]), (s, [x["created_at"] for x in got["items"]])

    # Oldest first: the window is the oldest leaves; deeper pages widen it.
    old = search(c, "sort=created&order=asc&limit=10&q=samplewords&tag=" + tag)
    assert old["sample"] and "created_before" in old["sample"], old["sample"]
    assert [x["id"] for x in old["items"]] == by_created[::-1][:10]
    seen = []
    token = None
    while True:
        page = search(c, "sort=created&limit=50&q=samplewords&tag=" + tag + ("&page_token=" + token if token else ""))
        seen += [x["id"] for x in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == by_created, "paging newest first through sampled windows: %d of 200, in order: %s" % (
        len(seen), seen == by_created[:len(seen)])
    expect_error(c.get("/v1/search?exact=maybe&q=x"), 400, None, "exact=maybe")
