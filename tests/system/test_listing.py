"""GET /v1/leaves (cursor paging, filters, sort) and GET /v1/tags (counts)."""

import pytest

from leaves_testlib import expect, unique, unique_user


def ids(items):
    return [it["id"] for it in items]


def iso(month, day=1, hour=0):
    return "2020-%02d-%02dT%02d:00:00.000Z" % (month, day, hour)


# ------------------------------------------------------------------- paging


def test_default_limit_and_paging_visits_each_leaf_once(client):
    tag = unique("page")
    created = set()
    for i in range(35):
        created.add(client.create(tags=[tag], created_at="2021-01-01T00:00:%02d.000Z" % i)["id"])
    r = client.get("/v1/leaves?tag=" + tag)
    first = expect(r, 200, "first page, default limit")
    assert len(first["items"]) == 30, "default limit is 30: got %d items" % len(first["items"])
    assert isinstance(first["next_page_token"], str), "first of 2 pages needs a next_page_token: %r" % first[
        "next_page_token"]
    items, pages = client.list_all("tag=" + tag)
    got = ids(items)
    assert len(pages) == 2 and [len(p["items"]) for p in pages] == [30, 5], (
        "35 leaves at limit 30: expected pages of [30, 5], got %s" % [len(p["items"]) for p in pages])
    assert len(got) == len(set(got)), "a leaf was returned twice: %s" % sorted(x for x in got if got.count(x) > 1)
    assert set(got) == created, "paging missed %s, extra %s" % (created - set(got), set(got) - created)
    for limit in (1, 7, 34, 35, 100):
        items, pages = client.list_all("tag=" + tag, limit=limit)
        got = ids(items)
        assert len(got) == 35 and set(got) == created, (
            "limit=%d: visited %d leaves (%d distinct), expected the 35 exactly once" % (limit, len(got), len(set(got))))
        assert max(len(p["items"]) for p in pages) <= limit, "limit=%d: a page had more items" % limit
    # default order is created desc
    items, _ = client.list_all("tag=" + tag, limit=100)
    cs = [it["created_at"] for it in items]
    assert cs == sorted(cs, reverse=True), "default sort must be created_at desc: %s" % cs


def test_paging_with_equal_created_at(client):
    # 31 leaves sharing one created_at: the cursor must break ties stably.
    tag = unique("tie")
    created = {client.create(tags=[tag], created_at="2021-02-02T00:00:00.000Z")["id"] for _ in range(31)}
    for limit in (3, 10, 30):
        for sort in ("created", "updated", "title"):
            items, _ = client.list_all("tag=%s&sort=%s" % (tag, sort), limit=limit)
            got = ids(items)
            assert len(got) == len(set(got)) == 31 and set(got) == created, (
                "sort=%s limit=%d with equal keys: visited %d (%d distinct) of 31"
                % (sort, limit, len(got), len(set(got))))


def test_page_token_from_other_query_is_rejected_or_works(client):
    # A token is opaque; re-using it with the same query must keep working.
    tag = unique("tok")
    for i in range(4):
        client.create(tags=[tag], created_at="2021-05-01T00:00:%02d.000Z" % i)
    body = expect(client.get("/v1/leaves?tag=%s&limit=2" % tag), 200)
    token = body["next_page_token"]
    a = expect(client.get("/v1/leaves?tag=%s&limit=2&page_token=%s" % (tag, token)), 200)
    b = expect(client.get("/v1/leaves?tag=%s&limit=2&page_token=%s" % (tag, token)), 200)
    assert ids(a["items"]) == ids(b["items"]) and len(a["items"]) == 2, "same token twice gave %s vs %s" % (
        ids(a["items"]), ids(b["items"]))
    assert not set(ids(a["items"])) & set(ids(body["items"])), "page 2 repeats page 1"


# ------------------------------------------------------------------- filters


@pytest.fixture(scope="module")
def flagged(client):
    """8 leaves of one user, all flag combinations, created in Jan..Aug 2020; plus 2 of another user."""
    user, other = unique_user(), unique_user()
    tag, tag2 = unique("f"), unique("g")
    leaves = {}
    month = 1
    for s in (False, True):
        for a in (False, True):
            for p in (False, True):
                body = {"is_starred": s, "is_archived": a, "is_public": p, "user_id": user,
                        "created_at": iso(month), "tags": [tag] + ([tag2] if month % 2 else [])}
                leaf = client.create(**body)
                leaves[leaf["id"]] = leaf
                month += 1
    others = {client.create(user_id=other, tags=[tag], created_at=iso(m))["id"] for m in (3, 4)}
    return {"user": user, "other": other, "tag": tag, "tag2": tag2, "leaves": leaves, "others": others}


def _ids_for(client, query):
    items, _ = client.list_all(query, limit=100)
    return set(ids(items))


def test_filter_user(client, flagged):
    got = _ids_for(client, "user=%d" % flagged["user"])
    assert got == set(flagged["leaves"]), "user filter: expected %d leaves, got %d" % (len(flagged["leaves"]), len(got))
    got = _ids_for(client, "user=%d" % flagged["other"])
    assert got == flagged["others"], "user filter (other user): got %s" % got


def test_filter_tag(client, flagged):
    got = _ids_for(client, "tag=" + flagged["tag"])
    assert got == set(flagged["leaves"]) | flagged["others"], "tag filter"
    want2 = {i for i, l in flagged["leaves"].items() if flagged["tag2"] in l["tags"]}
    assert _ids_for(client, "tag=" + flagged["tag2"]) == want2, "tag2 filter"
    assert _ids_for(client, "tag=" + unique("none")) == set(), "unknown tag must match nothing"


@pytest.mark.parametrize("param,field", [("starred", "is_starred"), ("archived", "is_archived"),
                                         ("public", "is_public")])
@pytest.mark.parametrize("value,truth", [("true", True), ("false", False), ("1", True), ("0", False)])
def test_filter_flags(client, flagged, param, field, value, truth):
    want = {i for i, l in flagged["leaves"].items() if l[field] is truth}
    got = _ids_for(client, "user=%d&%s=%s" % (flagged["user"], param, value))
    assert got == want, "user=..&%s=%s: expected %d leaves %s, got %d %s" % (
        param, value, len(want), sorted(want), len(got), sorted(got))


def test_filter_combined(client, flagged):
    want = {i for i, l in flagged["leaves"].items()
            if l["is_starred"] and not l["is_archived"] and flagged["tag2"] in l["tags"]}
    got = _ids_for(client, "tag=%s&user=%d&starred=true&archived=0" % (flagged["tag2"], flagged["user"]))
    assert got == want and want, "combined filters: expected %s, got %s" % (sorted(want), sorted(got))


def test_filter_since_until(client, flagged):
    def months(got):
        return sorted(int(flagged["leaves"][i]["created_at"][5:7]) for i in got)

    q = "user=%d" % flagged["user"]
    got = _ids_for(client, q + "&since=2020-03-01T00:00:00Z")
    assert months(got) == [3, 4, 5, 6, 7, 8], "since is inclusive: months %s" % months(got)
    got = _ids_for(client, q + "&until=2020-03-01T00:00:00Z")
    assert months(got) == [1, 2], "until is exclusive: months %s" % months(got)
    got = _ids_for(client, q + "&since=2020-02-01T00:00:00.000Z&until=2020-05-01T00:00:00.000Z")
    assert months(got) == [2, 3, 4], "since..until: months %s" % months(got)
    got = _ids_for(client, q + "&since=2020-02-15T00:00:00Z&until=2020-02-16T00:00:00Z")
    assert got == set(), "empty window: %s" % months(got)


# ------------------------------------------------------------------- sort


@pytest.fixture(scope="module")
def sortable(client):
    tag = unique("s")
    rows = [  # title, created, updated
        ("bravo", iso(1), iso(9)),
        ("alpha", iso(3), iso(7)),
        ("delta", iso(2), iso(8)),
        ("charlie", iso(4), iso(6)),
    ]
    out = []
    for title, c, u in rows:
        out.append(client.create(tags=[tag], title=title, created_at=c, updated_at=u))
    return tag, out


@pytest.mark.parametrize("sort,key", [("created", "created_at"), ("updated", "updated_at"), ("title", "title")])
@pytest.mark.parametrize("order", ["asc", "desc", None])
def test_sort(client, sortable, sort, key, order):
    tag, leaves = sortable
    q = "tag=%s&sort=%s" % (tag, sort) + ("&order=%s" % order if order else "")
    items, _ = client.list_all(q, limit=2)
    got = [it[key] for it in items]
    if order is None:
        # default order: desc for created (documented); for the others accept either monotone order
        want_desc = sorted((l[key] for l in leaves), reverse=True)
        if sort == "created":
            assert got == want_desc, "%s (default order desc): expected %s, got %s" % (q, want_desc, got)
        else:
            assert got in (want_desc, want_desc[::-1]), "%s: not sorted by %s: %s" % (q, key, got)
        return
    want = sorted((l[key] for l in leaves), reverse=(order == "desc"))
    assert got == want, "%s: expected %s order %s, got %s" % (q, key, want, got)


def test_sort_default_is_created_desc(client, sortable):
    tag, leaves = sortable
    items, _ = client.list_all("tag=" + tag)
    want = [l["id"] for l in sorted(leaves, key=lambda l: l["created_at"], reverse=True)]
    assert ids(items) == want, "default sort: expected created desc %s, got %s" % (want, ids(items))


# ------------------------------------------------------------------- tags


def test_tag_counts(client):
    a, b, c = unique("ta"), unique("tb"), unique("tc")
    l1 = client.create(tags=[a, b])
    l2 = client.create(tags=[a, b])
    l3 = client.create(tags=[a])
    client.create(tags=[c])
    counts, body = client.tags()
    assert (counts.get(a), counts.get(b), counts.get(c)) == (3, 2, 1), (
        "tag counts: expected %s=3 %s=2 %s=1, got %r %r %r" % (a, b, c, counts.get(a), counts.get(b), counts.get(c)))
    items = body["items"]
    keys = [(-it["count"], it["tag"]) for it in items]
    assert keys == sorted(keys), "tags must be sorted by count desc, then tag: %s" % items[:20]
    for it in items:
        assert type(it["count"]) is int and isinstance(it["tag"], str), "bad tag item %r" % it

    # remove a tag from one leaf
    expect(client.delete("/v1/leaves/%s/tags" % l1["id"], json={"tags": [b]}), 200, "remove tag")
    counts, _ = client.tags()
    assert counts.get(b) == 1, "after removing %s from one leaf: expected count 1, got %r" % (b, counts.get(b))
    # delete a leaf
    expect(client.delete("/v1/leaves/" + l2["id"]), 200, "delete leaf")
    counts, _ = client.tags()
    assert counts.get(a) == 2, "after deleting a leaf: %s expected 2, got %r" % (a, counts.get(a))
    assert b not in counts, "after deleting the last leaf with %s: /v1/tags lists only positive counts, got %r" % (
        b, counts.get(b))
    # replace tags
    expect(client.put("/v1/leaves/%s/tags" % l3["id"], json={"tags": [c]}), 200, "replace tags")
    counts, _ = client.tags()
    assert (counts.get(a), counts.get(c)) == (1, 2), "after replace: expected %s=1 %s=2, got %r %r" % (
        a, c, counts.get(a), counts.get(c))
    # patch tags
    expect(client.patch("/v1/leaves/" + l1["id"], json={"tags": [c]}), 200, "patch tags")
    counts, _ = client.tags()
    assert (counts.get(a), counts.get(c)) == (None, 3), "after patch: expected %s absent, %s=3, got %r %r" % (
        a, c, counts.get(a), counts.get(c))


def test_tags_limit(client):
    for _ in range(3):
        client.create(tags=[unique("lim")])
    body = expect(client.get("/v1/tags?limit=2"), 200)
    assert len(body["items"]) == 2, "GET /v1/tags?limit=2 returned %d items" % len(body["items"])


def test_list_item_form(client):
    leaf = client.create(tags=[unique("form")], title="form")
    body = expect(client.get("/v1/leaves?tag=" + leaf["tags"][0]), 200)
    assert body["items"] == [leaf], "list item should equal the leaf: %r vs %r" % (body["items"], leaf)
    assert body["next_page_token"] is None


def test_list_url_filter_free_text_not_required(client):
    # sanity: listing everything works and returns leaves in created_at desc order
    body = expect(client.get("/v1/leaves?limit=100"), 200)
    cs = [it["created_at"] for it in body["items"]]
    assert cs == sorted(cs, reverse=True), "unfiltered list not created desc"



def test_filter_tag_with_special_characters(client):
    tag = "c++/rust&go=%s" % unique()
    leaf = client.create(tags=[tag])
    client.create(tags=["c"])
    r = client.session.get(client.url("/v1/leaves"), params={"tag": tag},
                           headers={"Leaves-Min-Position": client.min_position()}, timeout=10)
    body = expect(r, 200, "tag filter with a URL-encoded tag")
    assert ids(body["items"]) == [leaf["id"]], "tag=%r (encoded): expected [%s], got %s" % (
        tag, leaf["id"], ids(body["items"]))


def test_since_with_timezone_offset(client, flagged):
    r = client.session.get(client.url("/v1/leaves"), timeout=10,
                           params={"user": flagged["user"], "since": "2020-03-01T02:00:00+02:00", "limit": 100},
                           headers={"Leaves-Min-Position": client.min_position()})
    body = expect(r, 200, "since with +02:00 offset")
    months = sorted(int(it["created_at"][5:7]) for it in body["items"])
    assert months == [3, 4, 5, 6, 7, 8], "since=2020-03-01T02:00:00+02:00 (= 00:00Z, inclusive): months %s" % months
