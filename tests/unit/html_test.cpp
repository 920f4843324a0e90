#include <gtest/gtest.h>

#include <string>

#include "leaves/api/ui.h"
#include "leaves/base/separated.h"
#include "leaves/html/bookmarks.h"
#include "leaves/html/sanitize.h"
#include "leaves/html/text.h"

namespace leaves::html {
namespace {

TEST(Sanitize, KeepsProseLinksAndPicturesAndDropsWhatCouldRun) {
  EXPECT_EQ(sanitize("<p>Hello <b>bold</b> <em>em</em></p>"), "<p>Hello <b>bold</b> <em>em</em></p>");
  EXPECT_EQ(sanitize("<p onclick=\"x()\" style=\"color:red\" class=c id=i>p</p>"), "<p>p</p>");
  EXPECT_EQ(sanitize("a<script>alert(1)</script>b<style>p{}</style>c"), "abc");
  EXPECT_EQ(sanitize("<iframe src=x></iframe><form><input value=v><button>go</button></form>x"), "x");
  EXPECT_EQ(sanitize("<svg><script>alert(1)</script><text>t</text></svg>x"), "x");
  EXPECT_EQ(sanitize("<a href=\"https://ok.example/\" target=_self onclick=x>ok</a>"),
            "<a href=\"https://ok.example/\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">ok</a>");
  EXPECT_EQ(sanitize("<img src=\"https://e.example/a.png\" alt=\"A\" width=\"10\" height=\"x\" srcset=\"j\" onerror=\"x\">"),
            "<img src=\"https://e.example/a.png\" alt=\"A\" width=\"10\" loading=\"lazy\" referrerpolicy=\"no-referrer\">");
}

TEST(Sanitize, UnsafeUrlsAreDroppedWhateverTheirSpelling) {
  for (const char* href : {"javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
                           "java&#x09;script:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x",
                           "/relative", "//proto-relative.example/"}) {
    const std::string in = std::string("<a href=\"") + href + "\">x</a>";
    EXPECT_EQ(sanitize(in), "<a>x</a>") << "href " << href;
  }
  EXPECT_EQ(sanitize("<a href=\"mailto:a@b.example\">m</a>"),
            "<a href=\"mailto:a@b.example\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">m</a>");
  // A picture that cannot be shown becomes its description.
  EXPECT_EQ(sanitize("<img src=\"javascript:alert(1)\" alt=\"a <cat>\">"), "a &lt;cat&gt;");
  EXPECT_EQ(sanitize("<img src=\"mailto:a@b.example\">"), "");
  EXPECT_FALSE(safe_url("https://a.example/x y", false));
  EXPECT_TRUE(safe_url("HTTPS://A.EXAMPLE/", false));
}

TEST(Sanitize, TextAndAttributesAreEscapedAndUnknownElementsUnwrapped) {
  EXPECT_EQ(sanitize("1 &lt; 2 &amp;&amp; 3 &gt; 2"), "1 &lt; 2 &amp;&amp; 3 &gt; 2");
  EXPECT_EQ(sanitize("<p title='a\"b<c'>t</p>"), "<p title=\"a&quot;b&lt;c\">t</p>");
  EXPECT_EQ(sanitize("<custom-el><blink>x</blink></custom-el><center>y</center>"), "xy");
  EXPECT_EQ(sanitize("<!-- a comment --><p>c</p>"), "<p>c</p>");
  EXPECT_EQ(sanitize("<table><tr><td colspan=2 rowspan=x>c</td></tr></table>"),
            "<table><tbody><tr><td colspan=\"2\">c</td></tr></tbody></table>");
  EXPECT_EQ(sanitize(""), "");
}

TEST(Sanitize, DeepAndHugeDocumentsStayBounded) {
  // 10,000 nested elements: the written depth stops at 64, the text stays.
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "<div>";
  deep += "core";
  std::string out = sanitize(deep);
  EXPECT_NE(out.find("core"), std::string::npos);
  EXPECT_LE(out.size(), 64u * 11 + 4) << "at most 64 <div></div> pairs around the text";
  // Past 20,000 tags the document is shown as its text, unparsed.
  std::string huge;
  for (int i = 0; i < 20001; ++i) huge += "<b>";
  huge += "x<script>y";
  EXPECT_EQ(sanitize(huge), "<p>xy</p>");
  // At the limit it is parsed, and the deepest case stays within the stack.
  std::string limit;
  for (int i = 0; i < 19999; ++i) limit += "<i>";
  EXPECT_EQ(sanitize(limit + "z").find('z') != std::string::npos, true);
}

std::string repeated(std::string_view piece, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += piece;
  return s;
}

TEST(Bookmarks, ReadsLinksTagsDatesFlagsAndDescriptions) {
  const auto r = parse_bookmarks(
      "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><H3>Folder</H3>\n<DL><p>\n"
      "<DT><A HREF=\"https://a.example/\" ADD_DATE=\"1700000000\" TAGS=\"x, y\" PRIVATE=\"1\">A <b>title</b></A>\n"
      "<DD>About a\n</DL><p>\n<DT><A HREF=\"https://b.example/\" STARRED=\"true\">B</A>\n</DL><p>\n");
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].url, "https://a.example/");
  EXPECT_EQ((*r)[0].title, "A title");
  EXPECT_EQ((*r)[0].tags, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ((*r)[0].added_s, 1700000000);
  EXPECT_EQ((*r)[0].is_private, true);
  EXPECT_EQ((*r)[0].description, "About a");
  EXPECT_EQ((*r)[1].starred, true);
}

TEST(Bookmarks, NestingIsBoundedHoweverTheEndTagsLie) {
  const std::string head = "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n";
  // 200 folders deep, each closed: fine; 300: refused.
  const auto ok = parse_bookmarks(head + repeated("<DL><p>", 200) + "<DT><A HREF=\"https://a.example/\">a</A>" +
                                  repeated("</DL><p>", 200));
  ASSERT_TRUE(ok) << ok.err().message;
  EXPECT_EQ(ok->size(), 1u);
  EXPECT_FALSE(parse_bookmarks(head + repeated("<DL><p>", 300)));
  // End tags that close nothing the parser has open do not lower the count.
  EXPECT_FALSE(parse_bookmarks(head + repeated("<x></y>", 30000)));
  EXPECT_FALSE(parse_bookmarks(head + repeated("<x><div></x>", 30000)));
  // Names only start like the tags that close themselves.
  EXPECT_FALSE(parse_bookmarks(head + repeated("<dtx>", 30000)));
  EXPECT_FALSE(parse_bookmarks(head + repeated("<px>", 30000)));
  // Many flat entries are not nesting.
  const auto flat = parse_bookmarks(head + "<DL><p>" + repeated("<DT><A HREF=\"https://a.example/\">a</A><DD>d", 5000));
  ASSERT_TRUE(flat) << flat.err().message;
  EXPECT_EQ(flat->size(), 5000u);
}

TEST(Separated, NamesHoldingEitherSeparatorComeBackWhole) {
  const std::vector<std::string> tags = {"plain", "a|b", "c,d", "e\\f", " g "};
  for (char sep : {'|', ','}) {
    const std::string joined = join_escaped(tags, sep);
    EXPECT_EQ(split_escaped(joined, sep), (std::vector<std::string>{"plain", "a|b", "c,d", "e\\f", "g"})) << joined;
  }
  EXPECT_EQ(join_escaped(tags, '|'), "plain|a\\|b|c\\,d|e\\\\f| g ");
  EXPECT_TRUE(has_unescaped("a|b", '|'));
  EXPECT_FALSE(has_unescaped("a\\|b,c", '|'));
  // Other tools' lists: no escapes, empty names dropped, a lone backslash kept.
  EXPECT_EQ(split_escaped(" x , ,y\\z,", ','), (std::vector<std::string>{"x", "y\\z"}));
}

TEST(VisibleText, DropsTagsScriptsAndStylesAndDecodesEntities) {
  using leaves::html::visible_text;
  EXPECT_EQ(visible_text("<p>a &amp; b</p>"), " a & b ");
  EXPECT_EQ(visible_text("x<script>var y = '<p>';</script>z"), "x z");
  EXPECT_EQ(visible_text("x<STYLE>p{}</style>z"), "x z");
  EXPECT_EQ(visible_text("&lt;b&gt; &quot;q&quot; &#39;s&#39;&nbsp;&unknown;"), "<b> \"q\" 's' &unknown;");
  EXPECT_EQ(visible_text("text <unclosed"), "text ");
  EXPECT_EQ(visible_text(""), "");
}

TEST(AcceptEncoding, ParsesCodingsAndRefusals) {
  using api::parse_accept_encoding;
  auto e = parse_accept_encoding("gzip, deflate, br");
  EXPECT_TRUE(e.gzip && e.br);
  e = parse_accept_encoding("GZIP;q=0.5");
  EXPECT_TRUE(e.gzip && !e.br);
  e = parse_accept_encoding("br;q=0, gzip;q=0.000");
  EXPECT_FALSE(e.gzip || e.br);
  e = parse_accept_encoding("");
  EXPECT_FALSE(e.gzip || e.br);
  e = parse_accept_encoding("identity, *;q=0");
  EXPECT_FALSE(e.gzip || e.br);
}

TEST(UiAssets, ThePageNamesEveryAssetByItsHashedName) {
  const auto* page = api::find_ui_asset("index.html");
  ASSERT_NE(page, nullptr);
  int named = 0;
  for (const auto& a : api::ui_assets()) {
    EXPECT_FALSE(a.gzip.empty()) << a.name;
    if (a.name == "index.html") continue;
    EXPECT_NE(page->identity.find("/ui/" + std::string(a.name)), std::string_view::npos) << a.name;
    ++named;
  }
  EXPECT_GE(named, 3);
  EXPECT_EQ(page->identity.find("{{"), std::string_view::npos);
}

}  // namespace
}  // namespace leaves::html
