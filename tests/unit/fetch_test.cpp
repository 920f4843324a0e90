// The fetcher's pure parts: URL resolution, charset decoding, the extractor
// on hostile and degenerate pages. (The network side is in
// tests/system/test_fetch.py, against a real server on loopback.)
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "leaves/base/utf8.h"
#include "leaves/fetch/extract.h"
#include "leaves/fetch/fetch.h"
#include "leaves/fetch/language.h"
#include "leaves/fetch/pdf.h"

using namespace leaves;

TEST(Fetch, RelativeUrlsResolveAgainstThePage) {
  const std::string b = "https://news.example/2026/11/story?x=1#top";
  EXPECT_EQ(fetch::resolve_url(b, "../../media/a.png"), "https://news.example/media/a.png");
  EXPECT_EQ(fetch::resolve_url(b, "/x"), "https://news.example/x");
  EXPECT_EQ(fetch::resolve_url(b, "//cdn.example/p.jpg"), "https://cdn.example/p.jpg");
  EXPECT_EQ(fetch::resolve_url(b, "b.html#frag"), "https://news.example/2026/11/b.html");
  EXPECT_EQ(fetch::resolve_url(b, "  HTTP://Other.example/y  "), "http://Other.example/y");
  EXPECT_EQ(fetch::resolve_url(b, "javascript:alert(1)"), "") << "only http(s) results";
  EXPECT_EQ(fetch::resolve_url(b, "data:image/png;base64,AAAA"), "");
  EXPECT_EQ(fetch::resolve_url("not a url", "/x"), "");
  EXPECT_EQ(fetch::resolve_url(b, ""), "");
}

TEST(Fetch, CharsetsDecodeToValidUtf8) {
  EXPECT_EQ(fetch::to_utf8("caf\xe9 \x80", "iso-8859-1"), "caf\xc3\xa9 \xe2\x82\xac") << "latin-1 read as windows-1252";
  EXPECT_EQ(fetch::to_utf8("\x93q\x94", "windows-1252"), "\xe2\x80\x9cq\xe2\x80\x9d");
  EXPECT_EQ(fetch::to_utf8("ok \xff\xfe end", "utf-8"), "ok \xef\xbf\xbd\xef\xbf\xbd end") << "invalid bytes replaced";
  EXPECT_EQ(fetch::to_utf8("plain", "no-such-charset"), "plain") << "an unknown label is read as UTF-8";
  EXPECT_EQ(fetch::to_utf8("\x82\xa0", "shift_jis"), "\xe3\x81\x82") << "a multi-byte charset";
  EXPECT_EQ(fetch::sniff_charset("<html><head><meta charset=\"Windows-1251\">"), "windows-1251");
  EXPECT_EQ(fetch::sniff_charset("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=euc-jp\">"),
            "euc-jp");
  EXPECT_EQ(fetch::sniff_charset("<html><body>no declaration</body></html>"), "");
  EXPECT_EQ(utf8_repaired("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") << "a surrogate is not UTF-8";
  EXPECT_EQ(utf8_repaired("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd") << "an overlong form is not UTF-8";
  EXPECT_EQ(utf8_repaired("ab\xc3\xa9", 3), "ab") << "whole characters only";
}

TEST(Fetch, ExtractionSurvivesDeepAndHugeDocuments) {
  std::string deep;
  for (int i = 0; i < 200000; ++i) deep += "<div>";
  deep += "<p>bottom text, with commas, deep down in the page, long enough</p>";
  const auto started = std::chrono::steady_clock::now();
  auto p = fetch::extract_html(deep, "https://deep.example/");
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LT(ms, 3000) << "200,000 nested elements (6 s when only the tag count was bounded)";
  EXPECT_LE(p.content.size(), 1u << 20);
  std::string wide = "<title>Wide</title>";
  for (int i = 0; i < 100000; ++i) wide += "<span>w</span>";
  auto w = fetch::extract_html(wide, "https://wide.example/");
  EXPECT_EQ(w.title, "Wide");
}

TEST(Fetch, ExtractedContentIsSanitisedAndPicturesAbsolute) {
  const std::string page =
      "<html><head><title>T</title><meta name=twitter:image content='/tw.png'></head><body>"
      "<div class=post><p>Paragraph one of the article, with enough text to be counted, surely.</p>"
      "<p>Paragraph two <a href='javascript:alert(1)'>bad link</a> and <img src=x onerror=alert(1)>"
      "<img data-src='/lazy.jpg' src='data:image/gif;base64,R0lGOD'> more prose here.</p>"
      "<iframe src='https://evil.example/'></iframe><form action=/steal><input name=p></form></div></body></html>";
  auto p = fetch::extract_html(page, "https://site.example/a/b");
  EXPECT_EQ(p.preview_picture, "https://site.example/tw.png");
  EXPECT_EQ(p.content.find("javascript:"), std::string::npos) << p.content;
  EXPECT_EQ(p.content.find("onerror"), std::string::npos) << p.content;
  EXPECT_EQ(p.content.find("<iframe"), std::string::npos) << p.content;
  EXPECT_EQ(p.content.find("<form"), std::string::npos) << p.content;
  EXPECT_NE(p.content.find("src=\"https://site.example/lazy.jpg\""), std::string::npos) << p.content;
  EXPECT_NE(p.content.find("src=\"https://site.example/a/x\""), std::string::npos) << p.content;
  EXPECT_EQ(p.favicon, "https://site.example/favicon.ico");
  EXPECT_EQ(p.excerpt.substr(0, 13), "Paragraph one");
}

TEST(Fetch, DamagedPdfsAreErrorsNotCrashes) {
  EXPECT_FALSE(fetch::extract_pdf("").ok());
  EXPECT_FALSE(fetch::extract_pdf("%PDF-1.4\n1 0 obj << /Type /Catalog").ok());
  std::string noise = "%PDF-1.7\n";
  for (int i = 0; i < 5000; ++i) noise += static_cast<char>((i * 7919) % 251);
  EXPECT_FALSE(fetch::extract_pdf(noise).ok());
}

// Formatting elements left open are copied by the parser into every block
// that follows: 999 distinct <b>s before 49,000 paragraphs would have it
// build about 49 million elements. The page is cut where the copies would
// pass 1 MiB of start tags (without the bound: 566 MB and 1 s at 16 MiB).
TEST(Fetch, FormattingElementsLeftOpenAreBounded) {
  std::string page = "<p>";
  for (int i = 0; i < 999; ++i) page += "<b id=" + std::to_string(i) + ">";
  for (int i = 0; i < 49000; ++i) page += "<p>x";
  const auto started = std::chrono::steady_clock::now();
  auto p = fetch::extract_html(page, "https://fmt.example/");
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LT(ms, 3000);
  EXPECT_LT(p.content.size(), 64u << 20);
  // Few distinct elements left open, with attributes, before many blocks.
  std::string few = "<p>";
  for (const char* n : {"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"})
    for (int k = 0; k < 3; ++k) few += std::string("<") + n + " title=" + std::string(200, 'x') + std::to_string(k) + ">";
  for (int i = 0; i < 49000; ++i) few += "<p>x";
  const auto again = std::chrono::steady_clock::now();
  fetch::extract_html(few, "https://fmt.example/");
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - again).count(),
            3000);
}

// A large inline script before the body, full of "<" that are not tags,
// must not cut the page before its article.
TEST(Fetch, ScriptsAndCommentsDoNotCountAsTags) {
  std::string page = "<html><head><title>Scripted</title><script>";
  for (int i = 0; i < 60000; ++i) page += "if(i<n){a<b;}<div>";
  page += "</script><!--";
  for (int i = 0; i < 60000; ++i) page += "<p>";
  page += "--></head><body><article><p>The article survives, with enough words, commas, and text.</p>"
          "<p>A second paragraph, also long enough to be counted, of course.</p></article></body></html>";
  auto p = fetch::extract_html(page, "https://script.example/");
  EXPECT_EQ(p.title, "Scripted");
  EXPECT_NE(p.content_text.find("The article survives"), std::string::npos) << p.content_text.substr(0, 200);
}

TEST(Fetch, LanguagesAreDetectedFromScriptAndCommonWords) {
  struct sample {
    const char* want;
    const char* text;
  };
  const sample samples[] = {
      {"en", "The harbour was quiet when we arrived, and most of the boats had already been pulled up on the shore for "
             "the winter. We walked along the wall and talked about what the town would have been like a century ago."},
      {"de", "Der Hafen war ruhig, als wir ankamen, und die meisten Boote waren schon für den Winter an Land gezogen. "
             "Wir gingen an der Mauer entlang und sprachen darüber, wie die Stadt vor hundert Jahren ausgesehen hat."},
      {"fr", "Le port était calme quand nous sommes arrivés, et la plupart des bateaux avaient déjà été tirés sur la "
             "plage pour l'hiver. Nous avons marché le long du mur et parlé de ce que la ville était il y a un siècle."},
      {"es", "El puerto estaba tranquilo cuando llegamos, y la mayoría de los barcos ya estaban en la playa para el "
             "invierno. Caminamos por el muro y hablamos de cómo era la ciudad hace un siglo, cuando todo era más lento."},
      {"it", "Il porto era tranquillo quando siamo arrivati, e la maggior parte delle barche era già stata tirata a "
             "riva per l'inverno. Abbiamo camminato lungo il muro e parlato di come era la città un secolo fa."},
      {"pt", "O porto estava calmo quando chegamos, e a maioria dos barcos já tinha sido puxada para a praia para o "
             "inverno. Caminhamos pelo muro e falamos sobre como era a cidade há um século, quando tudo era mais lento."},
      {"nl", "De haven was rustig toen we aankwamen, en de meeste boten waren al voor de winter op het strand getrokken. "
             "We liepen langs de muur en praatten over hoe de stad er een eeuw geleden uit zou hebben gezien."},
      {"sv", "Hamnen var lugn när vi kom fram, och de flesta båtarna hade redan dragits upp på stranden för vintern. Vi "
             "gick längs muren och pratade om hur staden skulle ha sett ut för hundra år sedan, och det var mycket."},
      {"pl", "Port był spokojny, kiedy przyjechaliśmy, i większość łodzi była już wyciągnięta na brzeg na zimę. "
             "Szliśmy wzdłuż muru i rozmawialiśmy o tym, jak to miasto wyglądało sto lat temu, że nie było tak jak dziś."},
      {"ru", "Гавань была тихой, когда мы приехали, и большинство лодок уже было вытащено на берег на зиму. Мы шли "
             "вдоль стены и говорили о том, как этот город выглядел сто лет назад, когда все было по-другому."},
      {"uk", "Гавань була тихою, коли ми приїхали, і більшість човнів вже було витягнуто на берег на зиму. Ми йшли "
             "вздовж стіни і говорили про те, як це місто виглядало сто років тому, коли все було інакше, та й ще."},
      {"ja", "私たちが着いたとき、港は静かで、ほとんどの船はもう冬のために浜に引き上げられていました。"},
      {"zh", "我们到达的时候，港口很安静，大多数船已经为了过冬被拉上了岸。我们沿着墙走，谈论一百年前这个小镇是什么样子。"},
      {"ko", "우리가 도착했을 때 항구는 조용했고 대부분의 배는 이미 겨울을 위해 해변으로 끌어올려져 있었다."},
      {"el", "Το λιμάνι ήταν ήσυχο όταν φτάσαμε, και οι περισσότερες βάρκες είχαν ήδη τραβηχτεί στην ακτή για τον χειμώνα."},
      {"ar", "كان الميناء هادئا عندما وصلنا، وكانت معظم القوارب قد سحبت بالفعل إلى الشاطئ لفصل الشتاء."},
      {"fa", "وقتی رسیدیم بندر آرام بود و بیشتر قایق‌ها برای زمستان به ساحل کشیده شده بودند. ما کنار دیوار راه رفتیم."},
  };
  for (const auto& s : samples) EXPECT_EQ(fetch::detect_language(s.text), s.want) << s.text;

  // Too little to tell, or nothing that says: no answer rather than a guess.
  EXPECT_EQ(fetch::detect_language(""), "");
  EXPECT_EQ(fetch::detect_language("Hello"), "");
  EXPECT_EQ(fetch::detect_language("Kubernetes Grafana Prometheus OpenTelemetry Jaeger Loki Tempo Mimir"), "");
  EXPECT_EQ(fetch::detect_language(std::string(100000, '\xff')), "") << "invalid UTF-8 is skipped";
  // A long text is read only in its first 64 KiB: the answer comes from there.
  std::string mixed;
  while (mixed.size() < 70000) mixed += samples[1].text;
  mixed += std::string(samples[0].text) + samples[0].text + samples[0].text;
  EXPECT_EQ(fetch::detect_language(mixed), "de");
}

TEST(Fetch, AllowedRangesContainTheirAddressesOnly) {
  namespace ip = boost::asio::ip;
  const auto net = [](const char* s) {
    auto n = fetch::parse_network(s);
    EXPECT_TRUE(n.ok()) << s;
    return *n;
  };
  const auto a = [](const char* s) { return ip::make_address(s); };
  EXPECT_TRUE(net("10.20.0.0/16").contains(a("10.20.255.1")));
  EXPECT_FALSE(net("10.20.0.0/16").contains(a("10.21.0.1")));
  EXPECT_TRUE(net("10.20.0.0/12").contains(a("10.31.0.1"))) << "a prefix that is not a whole byte";
  EXPECT_FALSE(net("10.20.0.0/12").contains(a("10.32.0.1")));
  EXPECT_TRUE(net("10.1.2.3").contains(a("10.1.2.3")));
  EXPECT_FALSE(net("10.1.2.3").contains(a("10.1.2.4")));
  EXPECT_TRUE(net("10.1.2.3").contains(a("::ffff:10.1.2.3"))) << "IPv4 inside IPv6 is the IPv4 address";
  EXPECT_TRUE(net("fd00::/8").contains(a("fd12:3456::1")));
  EXPECT_FALSE(net("fd00::/8").contains(a("fe80::1")));
  EXPECT_FALSE(net("fd00::/8").contains(a("10.1.2.3"))) << "families do not mix";
  for (const char* bad : {"", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/0", "x.example", "10.0.0.0/1x"}) {
    EXPECT_FALSE(fetch::parse_network(bad).ok()) << bad;
  }
}
