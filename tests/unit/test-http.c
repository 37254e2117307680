/* Unit tests for srv-http: every strictness rule has a negative case, splits and
 * pipelining give the same requests as one whole buffer, limits at and past cap. */
#include "srv-http.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* ---- helpers ----------------------------------------------------------- */

/* One parse outcome, flattened so runs with different splits compare equal. */
typedef struct {
  SrvHttpResult result;
  guint status;
  char *code;
  char *summary; /* method, path, query, headers, body, keep-alive */
  gsize consumed;
} Outcome;

static void
outcome_clear(Outcome *o)
{
  g_free(o->code);
  g_free(o->summary);
  memset(o, 0, sizeof *o);
}

static char *
summarize(const SrvHttpRequest *r)
{
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "%s %s ?%s v1.%u ka=%d ec=%d cl=%" G_GUINT64_FORMAT "\n",
                         srv_http_method_name(r->method), r->path,
                         r->query != NULL ? r->query : "(none)", r->version_minor,
                         r->keep_alive, r->expect_continue, r->content_length);
  for (guint i = 0; i < r->n_headers; i++)
    g_string_append_printf(s, "[%s]=[%s]\n", r->headers[i].name, r->headers[i].value);
  g_assert_nonnull(r->body);
  g_assert_cmpuint(r->body_len, ==, r->content_length);
  g_assert_cmpint(r->body[r->body_len], ==, 0);
  g_string_append_len(s, (const char *) r->body, (gssize) r->body_len);
  return g_string_free(s, FALSE);
}

/* Feeds @len bytes in chunks of @chunk (0: whole), one request. */
static void
parse_one(SrvHttpParser *p, const char *raw, gsize len, gsize chunk, Outcome *o)
{
  gsize off = 0;
  memset(o, 0, sizeof *o);
  o->result = SRV_HTTP_NEED_MORE;
  while (off < len && o->result == SRV_HTTP_NEED_MORE) {
    gsize n = chunk == 0 ? len - off : MIN(chunk, len - off);
    gsize used = 0;
    o->result = srv_http_parser_feed(p, raw + off, n, &used);
    g_assert_cmpuint(used, <=, n);
    if (o->result == SRV_HTTP_NEED_MORE)
      g_assert_cmpuint(used, ==, n);
    off += used;
  }
  o->consumed = off;
  if (o->result == SRV_HTTP_COMPLETE) {
    o->summary = summarize(srv_http_parser_request(p));
    g_assert_cmpuint(srv_http_parser_error_status(p), ==, 0);
  } else if (o->result == SRV_HTTP_ERROR) {
    o->status = srv_http_parser_error_status(p);
    o->code = g_strdup(srv_http_parser_error_code(p));
    g_assert_null(srv_http_parser_request(p));
  }
}

static void
outcome_assert_equal(const Outcome *a, const Outcome *b)
{
  g_assert_cmpint(a->result, ==, b->result);
  g_assert_cmpuint(a->status, ==, b->status);
  g_assert_cmpstr(a->code, ==, b->code);
  g_assert_cmpstr(a->summary, ==, b->summary);
  if (a->result == SRV_HTTP_COMPLETE)
    g_assert_cmpuint(a->consumed, ==, b->consumed);
}

/* Parses @raw whole, byte by byte and split at every position; all must agree. */
static void
parse_all_ways(const SrvHttpLimits *limits, const char *raw, gsize len, Outcome *whole)
{
  g_autoptr(SrvHttpParser) p = srv_http_parser_new(limits);
  g_assert_nonnull(p);
  parse_one(p, raw, len, 0, whole);

  Outcome o;
  srv_http_parser_reset(p);
  parse_one(p, raw, len, 1, &o);
  outcome_assert_equal(whole, &o);
  outcome_clear(&o);

  for (gsize cut = 1; cut < len && len < 4096; cut++) {
    gsize used1 = 0, used2 = 0;
    srv_http_parser_reset(p);
    SrvHttpResult r = srv_http_parser_feed(p, raw, cut, &used1);
    if (r == SRV_HTTP_NEED_MORE)
      r = srv_http_parser_feed(p, raw + cut, len - cut, &used2);
    g_assert_cmpint(r, ==, whole->result);
    if (r == SRV_HTTP_COMPLETE) {
      g_autofree char *s = summarize(srv_http_parser_request(p));
      g_assert_cmpstr(s, ==, whole->summary);
      g_assert_cmpuint(used1 + used2, ==, whole->consumed);
    } else if (r == SRV_HTTP_ERROR) {
      g_assert_cmpuint(srv_http_parser_error_status(p), ==, whole->status);
      g_assert_cmpstr(srv_http_parser_error_code(p), ==, whole->code);
    }
  }
}

static void
expect_error_len(const SrvHttpLimits *limits, const char *raw, gsize len, guint status,
                 const char *code)
{
  Outcome o;
  parse_all_ways(limits, raw, len, &o);
  if (o.result != SRV_HTTP_ERROR)
    g_error("expected %u %s for %s, got result %d", status, code, raw, o.result);
  g_assert_cmpuint(o.status, ==, status);
  g_assert_cmpstr(o.code, ==, code);
  outcome_clear(&o);
}

static void
expect_error(const char *raw, guint status, const char *code)
{
  expect_error_len(NULL, raw, strlen(raw), status, code);
}

/* Parses a full request (all ways) and returns the parser holding it. */
static SrvHttpParser *
expect_complete_len(const SrvHttpLimits *limits, const char *raw, gsize len)
{
  Outcome o;
  parse_all_ways(limits, raw, len, &o);
  if (o.result != SRV_HTTP_COMPLETE)
    g_error("expected COMPLETE for %s, got %d %u %s", raw, o.result, o.status, o.code);
  g_assert_cmpuint(o.consumed, ==, len);
  outcome_clear(&o);

  SrvHttpParser *p = srv_http_parser_new(limits);
  gsize used = 0;
  g_assert_cmpint(srv_http_parser_feed(p, raw, len, &used), ==, SRV_HTTP_COMPLETE);
  g_assert_cmpuint(used, ==, len);
  return p;
}

static SrvHttpParser *
expect_complete(const char *raw)
{
  return expect_complete_len(NULL, raw, strlen(raw));
}

static char *
repeat(char c, gsize n)
{
  char *s = g_malloc(n + 1);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* ---- valid requests ----------------------------------------------------- */

static void
test_get_basic(void)
{
  g_autoptr(SrvHttpParser) p = expect_complete(
      "GET /v1/sync/changes?cursor=42&limit=10 HTTP/1.1\r\n"
      "Host: genkan.example:8443\r\n"
      "User-Agent: genkan-kiosk/0.1\r\n"
      "X-Empty:\r\n"
      "Accept:   application/json \t \r\n"
      "\r\n");
  const SrvHttpRequest *r = srv_http_parser_request(p);
  g_assert_nonnull(r);
  g_assert_cmpint(r->method, ==, SRV_HTTP_METHOD_GET);
  g_assert_cmpuint(r->version_minor, ==, 1);
  g_assert_cmpstr(r->path, ==, "/v1/sync/changes");
  g_assert_cmpstr(r->query, ==, "cursor=42&limit=10");
  g_assert_cmpuint(r->n_headers, ==, 4);
  g_assert_cmpstr(r->headers[0].name, ==, "Host");
  g_assert_cmpstr(srv_http_request_header(r, "host"), ==, "genkan.example:8443");
  g_assert_cmpstr(srv_http_request_header(r, "USER-AGENT"), ==, "genkan-kiosk/0.1");
  g_assert_cmpstr(srv_http_request_header(r, "x-empty"), ==, "");
  g_assert_cmpstr(srv_http_request_header(r, "Accept"), ==, "application/json");
  g_assert_null(srv_http_request_header(r, "Cookie"));
  g_assert_true(r->keep_alive);
  g_assert_false(r->expect_continue);
  g_assert_cmpuint(r->body_len, ==, 0);
  g_assert_nonnull(r->body);
}

static void
test_query_forms(void)
{
  g_autoptr(SrvHttpParser) a = expect_complete("GET /x? HTTP/1.1\r\nHost: h\r\n\r\n");
  g_assert_cmpstr(srv_http_parser_request(a)->path, ==, "/x");
  g_assert_cmpstr(srv_http_parser_request(a)->query, ==, "");
  g_autoptr(SrvHttpParser) b = expect_complete("GET /x?a=/b?c HTTP/1.1\r\nHost: h\r\n\r\n");
  g_assert_cmpstr(srv_http_parser_request(b)->query, ==, "a=/b?c");
  g_autoptr(SrvHttpParser) c = expect_complete("GET /a%20b/%E6%97%A5 HTTP/1.1\r\nHost: h\r\n\r\n");
  g_assert_cmpstr(srv_http_parser_request(c)->path, ==, "/a%20b/%E6%97%A5");
  g_assert_null(srv_http_parser_request(c)->query);
}

static void
test_post_body(void)
{
  static const char raw[] = "POST /v1/events HTTP/1.1\r\nHost: h\r\n"
                            "Content-Type: application/json\r\nContent-Length: 12\r\n\r\n"
                            "{\"a\":\"\0b\"}xy";
  g_autoptr(SrvHttpParser) p = expect_complete_len(NULL, raw, sizeof raw - 1);
  const SrvHttpRequest *r = srv_http_parser_request(p);
  g_assert_cmpint(r->method, ==, SRV_HTTP_METHOD_POST);
  g_assert_cmpuint(r->content_length, ==, 12);
  g_assert_cmpuint(r->body_len, ==, 12);
  g_assert_cmpmem(r->body, 12, "{\"a\":\"\0b\"}xy", 12);
  g_assert_cmpint(r->body[12], ==, 0);
}

static void
test_methods(void)
{
  static const struct {
    const char *raw;
    SrvHttpMethod m;
  } cases[] = {
    { "GET / HTTP/1.1\r\nHost: h\r\n\r\n", SRV_HTTP_METHOD_GET },
    { "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", SRV_HTTP_METHOD_HEAD },
    { "DELETE /d/1 HTTP/1.1\r\nHost: h\r\n\r\n", SRV_HTTP_METHOD_DELETE },
    { "PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", SRV_HTTP_METHOD_PUT },
    { "PATCH /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", SRV_HTTP_METHOD_PATCH },
    { "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 000\r\n\r\n", SRV_HTTP_METHOD_POST },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(SrvHttpParser) p = expect_complete(cases[i].raw);
    g_assert_cmpint(srv_http_parser_request(p)->method, ==, cases[i].m);
  }
  /* A GET may carry a body; framing still follows Content-Length. */
  g_autoptr(SrvHttpParser) g = expect_complete("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi");
  g_assert_cmpuint(srv_http_parser_request(g)->body_len, ==, 2);
}

static void
test_keep_alive(void)
{
  static const struct {
    const char *raw;
    gboolean keep_alive;
  } cases[] = {
    { "GET / HTTP/1.1\r\nHost: h\r\n\r\n", TRUE },
    { "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", TRUE },
    { "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", FALSE },
    { "GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n", FALSE },
    { "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive , Close\r\n\r\n", FALSE },
    { "GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection: close\r\n\r\n", FALSE },
    { "GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", TRUE },
    { "GET / HTTP/1.0\r\n\r\n", FALSE },
    { "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(SrvHttpParser) p = expect_complete(cases[i].raw);
    g_assert_cmpint(srv_http_parser_request(p)->keep_alive, ==, cases[i].keep_alive);
  }
}

static void
test_http10_no_host(void)
{
  g_autoptr(SrvHttpParser) p = expect_complete("GET /health HTTP/1.0\r\n\r\n");
  g_assert_cmpuint(srv_http_parser_request(p)->version_minor, ==, 0);
  g_assert_cmpuint(srv_http_parser_request(p)->n_headers, ==, 0);
}

static void
test_expect(void)
{
  g_autoptr(SrvHttpParser) p = expect_complete(
      "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nz");
  g_assert_true(srv_http_parser_request(p)->expect_continue);
  g_autoptr(SrvHttpParser) q = expect_complete(
      "POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz");
  g_assert_false(srv_http_parser_request(q)->expect_continue);
  expect_error("POST /e HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nz",
               417, "expectation-failed");
  expect_error("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n",
               417, "expectation-failed");
}

/* ---- splitting and pipelining ------------------------------------------- */

static const char pipeline[] =
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    "POST /b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    "DELETE /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";

static void
check_pipeline(gsize chunk)
{
  static const char *const paths[] = { "/a", "/b", "/c" };
  g_autoptr(SrvHttpParser) p = srv_http_parser_new(NULL);
  gsize len = strlen(pipeline), off = 0, avail = 0;
  guint n = 0;
  /* Mimics the loop: a read buffer that grows by @chunk, drained by feed(). */
  while (off < len) {
    avail = MIN(len, MAX(avail, off) + (chunk == 0 ? len : chunk));
    while (off < avail) {
      gsize used = 0;
      SrvHttpResult r = srv_http_parser_feed(p, pipeline + off, avail - off, &used);
      g_assert_cmpint(r, !=, SRV_HTTP_ERROR);
      off += used;
      if (r == SRV_HTTP_NEED_MORE) {
        g_assert_cmpuint(off, ==, avail);
        break;
      }
      const SrvHttpRequest *req = srv_http_parser_request(p);
      g_assert_cmpuint(n, <, 3);
      g_assert_cmpstr(req->path, ==, paths[n]);
      if (n == 1) {
        g_assert_cmpstr(req->query, ==, "x=1");
        g_assert_cmpmem(req->body, req->body_len, "hello", 5);
      }
      g_assert_cmpint(req->keep_alive, ==, n < 2);
      n++;
      srv_http_parser_reset(p);
      g_assert_true(srv_http_parser_idle(p));
    }
  }
  g_assert_cmpuint(n, ==, 3);
}

static void
test_pipelined(void)
{
  check_pipeline(0);
  check_pipeline(1);
  check_pipeline(2);
  check_pipeline(7);
  check_pipeline(64);
}

static void
test_pipelined_consumed(void)
{
  g_autoptr(SrvHttpParser) p = srv_http_parser_new(NULL);
  gsize used = 0;
  g_assert_cmpint(srv_http_parser_feed(p, pipeline, strlen(pipeline), &used), ==,
                  SRV_HTTP_COMPLETE);
  g_assert_cmpuint(used, ==, strlen("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"));
  /* Without a reset the parser takes nothing more. */
  gsize again = 99;
  g_assert_cmpint(srv_http_parser_feed(p, pipeline + used, 10, &again), ==, SRV_HTTP_COMPLETE);
  g_assert_cmpuint(again, ==, 0);
  g_assert_cmpstr(srv_http_parser_request(p)->path, ==, "/a");
}

static void
test_split_equivalence(void)
{
  static const char *const raws[] = {
    "GET /v1/x?y=z HTTP/1.1\r\nHost: h\r\nA: 1\r\nB:2\r\n\r\n",
    "POST /v1/events HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
    "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
    "GET / HTTP/1.1\nHost: h\r\n\r\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(raws); i++) {
    Outcome o;
    parse_all_ways(NULL, raws[i], strlen(raws[i]), &o); /* asserts all ways agree */
    g_assert_cmpint(o.result, !=, SRV_HTTP_NEED_MORE);
    outcome_clear(&o);
  }
}

static void
test_need_more_states(void)
{
  g_autoptr(SrvHttpParser) p = srv_http_parser_new(NULL);
  gsize used = 0;
  g_assert_true(srv_http_parser_idle(p));
  g_assert_cmpint(srv_http_parser_feed(p, "", 0, &used), ==, SRV_HTTP_NEED_MORE);
  g_assert_true(srv_http_parser_idle(p));
  g_assert_cmpint(srv_http_parser_feed(p, "G", 1, &used), ==, SRV_HTTP_NEED_MORE);
  g_assert_false(srv_http_parser_idle(p));
  g_assert_null(srv_http_parser_request(p));
  g_assert_cmpuint(srv_http_parser_error_status(p), ==, 0);
  g_assert_null(srv_http_parser_error_code(p));
  /* Head done, body still to come. */
  static const char head[] = "ET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab";
  g_assert_cmpint(srv_http_parser_feed(p, head, strlen(head), &used), ==, SRV_HTTP_NEED_MORE);
  g_assert_cmpuint(used, ==, strlen(head));
  g_assert_null(srv_http_parser_request(p));
  g_assert_cmpint(srv_http_parser_feed(p, "cEXTRA", 6, &used), ==, SRV_HTTP_COMPLETE);
  g_assert_cmpuint(used, ==, 1);
  g_assert_cmpmem(srv_http_parser_request(p)->body, 3, "abc", 3);
}

static void
test_error_sticky_and_reset(void)
{
  g_autoptr(SrvHttpParser) p = srv_http_parser_new(NULL);
  gsize used = 0;
  static const char bad[] = "GET / HTTP/1.1\nHost: h\r\n\r\n";
  g_assert_cmpint(srv_http_parser_feed(p, bad, strlen(bad), &used), ==, SRV_HTTP_ERROR);
  g_assert_cmpuint(used, ==, strlen("GET / HTTP/1.1\n"));
  g_assert_cmpuint(srv_http_parser_error_status(p), ==, 400);
  g_assert_cmpint(srv_http_parser_feed(p, "GET", 3, &used), ==, SRV_HTTP_ERROR);
  g_assert_cmpuint(used, ==, 0);
  srv_http_parser_reset(p);
  g_assert_cmpuint(srv_http_parser_error_status(p), ==, 0);
  static const char good[] = "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n";
  g_assert_cmpint(srv_http_parser_feed(p, good, strlen(good), &used), ==, SRV_HTTP_COMPLETE);
  g_assert_cmpstr(srv_http_parser_request(p)->path, ==, "/ok");
}

/* ---- request line negatives ---------------------------------------------- */

static void
test_request_line_errors(void)
{
  static const struct {
    const char *raw;
    guint status;
    const char *code;
  } cases[] = {
    { "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request-line" },
    { "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request-line" },
    { "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, "bad-request-line" },
    { " GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request-line" },
    { "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request-line" },
    { "GET /\tHTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request-line" },
    { "GET /\r\nHost: h\r\n\r\n", 400, "bad-request-line" },
    { "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request-line" },
    { "GET / http/1.1\r\nHost: h\r\n\r\n", 400, "bad-version" },
    { "GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400, "bad-version" },
    { "GET / HTTP/11\r\nHost: h\r\n\r\n", 400, "bad-version" },
    { "GET / HTTP/1.\r\nHost: h\r\n\r\n", 400, "bad-version" },
    { "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "version-not-supported" },
    { "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505, "version-not-supported" },
    { "GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505, "version-not-supported" },
    { "OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n", 501, "method-not-implemented" },
    { "TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", 501, "method-not-implemented" },
    { "get / HTTP/1.1\r\nHost: h\r\n\r\n", 501, "method-not-implemented" },
    { "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-method" },
    { "ABCDEFGHIJKLMNOP / HTTP/1.1\r\n", 400, "bad-method" },
    { "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /a<b> HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /a{b} HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /a\\b HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
    { "GET /a?q=%g0 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-target" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    expect_error(cases[i].raw, cases[i].status, cases[i].code);
}

static void
test_line_endings(void)
{
  expect_error("GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "bare-lf");
  expect_error("GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "bare-lf");
  expect_error("GET / HTTP/1.1\r\nHost: h\r\n\n", 400, "bare-lf");
  expect_error("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 400, "bare-cr");
  expect_error("GET / HTTP/1.1\rHost: h\r\n\r\n", 400, "bare-cr");
  expect_error("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400, "bare-cr");
  expect_error("GET / HTTP/1.1\r\nX: a\rb\r\nHost: h\r\n\r\n", 400, "bare-cr");
}

static void
test_nul_bytes(void)
{
  static const char in_target[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
  static const char in_value[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
  static const char in_name[] = "GET / HTTP/1.1\r\nHost: h\r\nX\0: ab\r\n\r\n";
  expect_error_len(NULL, in_target, sizeof in_target - 1, 400, "nul-byte");
  expect_error_len(NULL, in_value, sizeof in_value - 1, 400, "nul-byte");
  expect_error_len(NULL, in_name, sizeof in_name - 1, 400, "nul-byte");
}

/* ---- header negatives ---------------------------------------------------- */

static void
test_header_errors(void)
{
  static const struct {
    const char *raw;
    guint status;
    const char *code;
  } cases[] = {
    { "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "space-before-colon" },
    { "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400, "space-before-colon" },
    { "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  continued\r\n\r\n", 400, "obs-fold" },
    { "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\tcontinued\r\n\r\n", 400, "obs-fold" },
    { "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, "obs-fold" },
    { "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400, "bad-header" },
    { "GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n", 400, "bad-header-name" },
    { "GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n", 400, "bad-header-name" },
    { "GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: 1\r\n\r\n", 400, "bad-header-name" },
    { "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n", 400, "bad-header-value" },
    { "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400, "bad-header-value" },
    { "GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[31m\r\n\r\n", 400, "bad-header-value" },
    { "GET / HTTP/1.1\r\n\r\n", 400, "missing-host" },
    { "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "duplicate-host" },
    { "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, "duplicate-host" },
    { "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "bad-host" },
    { "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad-host" },
    { "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "bad-host" },
    { "GET / HTTP/1.0\r\nHost: a@b\r\n\r\n", 400, "bad-host" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    expect_error(cases[i].raw, cases[i].status, cases[i].code);

  /* HTAB and obs-text are allowed inside values. */
  g_autoptr(SrvHttpParser) p = expect_complete("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb \xe6\x97\xa5\r\n\r\n");
  g_assert_cmpstr(srv_http_request_header(srv_http_parser_request(p), "x"), ==, "a\tb \xe6\x97\xa5");
  /* Host with port and IPv6 literal. */
  g_autoptr(SrvHttpParser) q = expect_complete("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n");
  g_assert_cmpstr(srv_http_request_header(srv_http_parser_request(q), "Host"), ==, "[::1]:8443");
}

static void
test_content_length_errors(void)
{
  static const struct {
    const char *raw;
    guint status;
    const char *code;
  } cases[] = {
    { "POST / HTTP/1.1\r\nHost: h\r\n\r\n", 411, "length-required" },
    { "PUT / HTTP/1.1\r\nHost: h\r\n\r\n", 411, "length-required" },
    { "PATCH / HTTP/1.1\r\nHost: h\r\n\r\n", 411, "length-required" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello", 400, "bad-content-length" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "bad-content-length" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400, "bad-content-length" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\nhello", 400, "bad-content-length" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5\r\n\r\nhello", 400, "bad-content-length" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400, "bad-content-length" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1.0\r\n\r\n", 400, "bad-content-length" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
      400, "duplicate-content-length" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\nhello!",
      400, "duplicate-content-length" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
      413, "body-too-large" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n",
      413, "body-too-large" },
    { "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      501, "transfer-encoding-unsupported" },
    { "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
      501, "transfer-encoding-unsupported" },
    { "GET / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: identity\r\n\r\n",
      501, "transfer-encoding-unsupported" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    expect_error(cases[i].raw, cases[i].status, cases[i].code);
}

/* ---- limits at and one past the cap -------------------------------------- */

static SrvHttpLimits
small_limits(void)
{
  SrvHttpLimits l = { .max_header_bytes = 64, .max_headers = 3, .max_body_bytes = 16,
                      .max_target_bytes = 20 };
  return l;
}

static void
test_limit_target(void)
{
  SrvHttpLimits l = small_limits();
  for (gsize n = 19; n <= 21; n++) {
    g_autofree char *tail = repeat('a', n - 1);
    g_autofree char *raw = g_strdup_printf("GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", tail);
    if (n <= 20) {
      g_autoptr(SrvHttpParser) p = expect_complete_len(&l, raw, strlen(raw));
      g_assert_cmpuint(strlen(srv_http_parser_request(p)->path), ==, n);
    } else {
      expect_error_len(&l, raw, strlen(raw), 414, "target-too-long");
    }
  }
  /* Detected as soon as the 21st target byte arrives, before any CRLF. */
  g_autoptr(SrvHttpParser) p = srv_http_parser_new(&l);
  gsize used = 0;
  g_assert_cmpint(srv_http_parser_feed(p, "GET /aaaaaaaaaaaaaaaaaaa", 24, &used), ==, SRV_HTTP_NEED_MORE);
  g_assert_cmpint(srv_http_parser_feed(p, "a", 1, &used), ==, SRV_HTTP_ERROR);
  g_assert_cmpuint(srv_http_parser_error_status(p), ==, 414);
  /* Default limit: 2048 at the cap passes, 2049 fails. */
  for (gsize n = 2048; n <= 2049; n++) {
    g_autofree char *tail = repeat('b', n - 1);
    g_autofree char *raw = g_strdup_printf("GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", tail);
    g_autoptr(SrvHttpParser) q = srv_http_parser_new(NULL);
    SrvHttpResult r = srv_http_parser_feed(q, raw, strlen(raw), &used);
    g_assert_cmpint(r, ==, n == 2048 ? SRV_HTTP_COMPLETE : SRV_HTTP_ERROR);
  }
}

/* Header section of exactly @n bytes (fields + final CRLF) with one Host line. */
static char *
request_with_header_bytes(gsize n)
{
  /* "Host: h\r\n" (9) + "X: " (3) + pad + "\r\n" (2) + "\r\n" (2) */
  g_assert_cmpuint(n, >=, 17);
  g_autofree char *pad = repeat('v', n - 16);
  return g_strdup_printf("GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", pad);
}

static void
test_limit_header_bytes(void)
{
  SrvHttpLimits l = small_limits();
  g_autofree char *at = request_with_header_bytes(64);
  g_autofree char *past = request_with_header_bytes(65);
  g_autoptr(SrvHttpParser) p = expect_complete_len(&l, at, strlen(at));
  g_assert_cmpuint(strlen(srv_http_request_header(srv_http_parser_request(p), "X")), ==, 48);
  expect_error_len(&l, past, strlen(past), 431, "header-too-large");

  /* Default 8 KiB. */
  g_autofree char *dat = request_with_header_bytes(8192);
  g_autofree char *dpast = request_with_header_bytes(8193);
  gsize used = 0;
  g_autoptr(SrvHttpParser) a = srv_http_parser_new(NULL);
  g_assert_cmpint(srv_http_parser_feed(a, dat, strlen(dat), &used), ==, SRV_HTTP_COMPLETE);
  g_autoptr(SrvHttpParser) b = srv_http_parser_new(NULL);
  g_assert_cmpint(srv_http_parser_feed(b, dpast, strlen(dpast), &used), ==, SRV_HTTP_ERROR);
  g_assert_cmpuint(srv_http_parser_error_status(b), ==, 431);
  g_assert_cmpstr(srv_http_parser_error_code(b), ==, "header-too-large");

  /* A head that never ends fails once it passes the cap, without waiting. */
  g_autoptr(SrvHttpParser) c = srv_http_parser_new(&l);
  g_autofree char *endless = repeat('z', 200);
  g_assert_cmpint(srv_http_parser_feed(c, "GET / HTTP/1.1\r\nX: ", 19, &used), ==, SRV_HTTP_NEED_MORE);
  g_assert_cmpint(srv_http_parser_feed(c, endless, 200, &used), ==, SRV_HTTP_ERROR);
  g_assert_cmpuint(srv_http_parser_error_status(c), ==, 431);
  g_assert_cmpuint(used, ==, 64 - 3 + 1);
}

static void
test_limit_header_count(void)
{
  SrvHttpLimits l = small_limits();
  l.max_header_bytes = 1024;
  srv_http_parser_free(expect_complete_len(&l, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", 39));
  expect_error_len(&l, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 45, 431,
                   "too-many-headers");

  GString *s = g_string_new("GET / HTTP/1.1\r\nHost: h\r\n");
  for (guint i = 1; i < SRV_HTTP_DEFAULT_MAX_HEADERS; i++)
    g_string_append_printf(s, "X-%u: v\r\n", i);
  g_string_append(s, "\r\n");
  g_autoptr(SrvHttpParser) at = expect_complete_len(NULL, s->str, s->len);
  g_assert_cmpuint(srv_http_parser_request(at)->n_headers, ==, 50);
  g_string_truncate(s, s->len - 2);
  g_string_append(s, "X-last: v\r\n\r\n");
  expect_error_len(NULL, s->str, s->len, 431, "too-many-headers");
  g_string_free(s, TRUE);
}

static void
test_limit_body(void)
{
  SrvHttpLimits l = small_limits();
  static const char at[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 16\r\n\r\n0123456789abcdef";
  static const char past[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n0123456789abcdefg";
  g_autoptr(SrvHttpParser) p = expect_complete_len(&l, at, strlen(at));
  g_assert_cmpuint(srv_http_parser_request(p)->body_len, ==, 16);
  expect_error_len(&l, past, strlen(past), 413, "body-too-large");
  /* 413 comes at the end of the head, before any body byte is taken. */
  g_autoptr(SrvHttpParser) q = srv_http_parser_new(&l);
  gsize used = 0;
  g_assert_cmpint(srv_http_parser_feed(q, past, strlen(past), &used), ==, SRV_HTTP_ERROR);
  g_assert_cmpuint(used, ==, strlen(past) - 17);

  /* Default 1 MiB: the cap passes, one more fails. */
  gsize cap = SRV_HTTP_DEFAULT_MAX_BODY_BYTES;
  g_autofree char *big = repeat('b', cap);
  g_autofree char *head_at = g_strdup_printf("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n\r\n", cap);
  g_autofree char *head_past = g_strdup_printf("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n\r\n", cap + 1);
  g_autoptr(SrvHttpParser) d = srv_http_parser_new(NULL);
  g_assert_cmpint(srv_http_parser_feed(d, head_at, strlen(head_at), &used), ==, SRV_HTTP_NEED_MORE);
  g_assert_cmpint(srv_http_parser_feed(d, big, cap, &used), ==, SRV_HTTP_COMPLETE);
  g_assert_cmpuint(used, ==, cap);
  g_autoptr(SrvHttpParser) e = srv_http_parser_new(NULL);
  g_assert_cmpint(srv_http_parser_feed(e, head_past, strlen(head_past), &used), ==, SRV_HTTP_ERROR);
  g_assert_cmpuint(srv_http_parser_error_status(e), ==, 413);
}

static void
test_limits_invalid(void)
{
  SrvHttpLimits l = small_limits();
  l.max_headers = 0;
  g_assert_null(srv_http_parser_new(&l));
  l = small_limits();
  l.max_body_bytes = 0;
  g_assert_null(srv_http_parser_new(&l));
  l = small_limits();
  l.max_header_bytes = (gsize) 2 * 1024 * 1024;
  g_assert_null(srv_http_parser_new(&l));
  l = small_limits();
  l.max_target_bytes = 0;
  g_assert_null(srv_http_parser_new(&l));
  srv_http_limits_init_default(&l);
  g_assert_cmpuint(l.max_header_bytes, ==, 8192);
  g_assert_cmpuint(l.max_headers, ==, 50);
  g_assert_cmpuint(l.max_body_bytes, ==, 1048576);
  g_assert_cmpuint(l.max_target_bytes, ==, 2048);
}

typedef struct {
  gsize cap;
  guint calls;
  char *seen_path;
  gboolean saw_null_body;
} HeadProbe;

static gsize
probe_head(const SrvHttpRequest *head, gpointer user_data)
{
  HeadProbe *probe = user_data;
  probe->calls++;
  g_free(probe->seen_path);
  probe->seen_path = g_strdup(head->path);
  probe->saw_null_body = head->body == NULL;
  g_assert_cmpstr(srv_http_request_header(head, "host"), ==, "h");
  return probe->cap;
}

static void
test_head_func_route_cap(void)
{
  HeadProbe probe = { .cap = 10 };
  static const char at[] = "POST /small HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
  static const char past[] = "POST /small HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n0123456789a";
  g_autoptr(SrvHttpParser) p = srv_http_parser_new(NULL);
  srv_http_parser_set_head_func(p, probe_head, &probe);
  gsize used = 0;
  g_assert_cmpint(srv_http_parser_feed(p, at, strlen(at), &used), ==, SRV_HTTP_COMPLETE);
  g_assert_cmpuint(probe.calls, ==, 1);
  g_assert_cmpstr(probe.seen_path, ==, "/small");
  g_assert_true(probe.saw_null_body);
  srv_http_parser_reset(p);
  g_assert_cmpint(srv_http_parser_feed(p, past, strlen(past), &used), ==, SRV_HTTP_ERROR);
  g_assert_cmpuint(srv_http_parser_error_status(p), ==, 413);
  g_assert_cmpuint(probe.calls, ==, 2);
  /* A route cap above the connection cap does not raise it. */
  SrvHttpLimits l = small_limits();
  probe.cap = 1000;
  g_autoptr(SrvHttpParser) q = srv_http_parser_new(&l);
  srv_http_parser_set_head_func(q, probe_head, &probe);
  static const char body17[] = "POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n";
  g_assert_cmpint(srv_http_parser_feed(q, body17, strlen(body17), &used), ==, SRV_HTTP_ERROR);
  g_assert_cmpuint(srv_http_parser_error_status(q), ==, 413);
  g_free(probe.seen_path);
}

/* ---- path decoding ---------------------------------------------------------- */

static void
test_path_decode(void)
{
  static const struct {
    const char *in;
    const char *out;
  } ok[] = {
    { "/", "/" },
    { "/v1/hosts/a%20b", "/v1/hosts/a b" },
    { "/%E6%97%A5%e6%9c%ac", "/\xe6\x97\xa5\xe6\x9c\xac" },
    { "/a/.b/..c/...", "/a/.b/..c/..." },
    { "/a//b", "/a//b" },
    { "/%3F%23", "/?#" },
  };
  static const char *const bad[] = {
    "", "a/b", "/a%00b", "/a%2Fb", "/a%2fb", "/..", "/a/../b", "/a/..", "/%2e%2e/x",
    "/.%2E/x", "/./x", "/a/.", "/%2e", "/a%zz", "/a%4", "/a%", "/%FF", "/%C3", "/%0A",
    "/%1b", "/%7F", "/a b", "/a?b", "/a#b", "/a\\b",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(ok); i++) {
    char *d = NULL;
    g_assert_true(srv_http_path_decode(ok[i].in, &d));
    g_assert_cmpstr(d, ==, ok[i].out);
    g_free(d);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    char *d = (char *) "sentinel";
    if (srv_http_path_decode(bad[i], &d))
      g_error("path %s decoded to %s but must be refused", bad[i], d);
    g_assert_null(d);
  }
  char *d = (char *) "sentinel";
  g_assert_false(srv_http_path_decode(NULL, &d));
  g_assert_null(d);
}

/* ---- responses ------------------------------------------------------------ */

/* Checks the Date line by pattern and replaces it so the rest compares exactly. */
static char *
normalize_date(const char *resp)
{
  g_autoptr(GRegex) re = g_regex_new(
      "\r\nDate: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
      "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) 2[0-9]{3} "
      "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT\r\n",
      G_REGEX_RAW, 0, NULL);
  g_assert_true(g_regex_match(re, resp, 0, NULL));
  return g_regex_replace_literal(re, resp, -1, 0, "\r\nDate: X\r\n", 0, NULL);
}

static void
test_response_exact(void)
{
  g_autoptr(GString) out = g_string_new("prefix|");
  const char *extra[] = { "Location", "/v1/devices/7", "Retry-After", "5", NULL };
  g_assert_true(srv_http_response_write(out, 201, "application/json", "{\"id\":7}", 8,
                                        SRV_HTTP_WRITE_KEEP_ALIVE, extra));
  g_autofree char *norm = normalize_date(out->str);
  g_assert_cmpstr(norm, ==,
                  "prefix|HTTP/1.1 201 Created\r\n"
                  "Date: X\r\n"
                  "Content-Type: application/json\r\n"
                  "Content-Length: 8\r\n"
                  "Connection: keep-alive\r\n"
                  "Cache-Control: no-store\r\n"
                  "X-Content-Type-Options: nosniff\r\n"
                  "Location: /v1/devices/7\r\n"
                  "Retry-After: 5\r\n"
                  "\r\n"
                  "{\"id\":7}");

  /* The Date is now (within a few seconds). */
  char now[SRV_HTTP_DATE_SIZE], before[SRV_HTTP_DATE_SIZE];
  srv_http_format_date(g_get_real_time() / G_USEC_PER_SEC, now);
  srv_http_format_date(g_get_real_time() / G_USEC_PER_SEC - 1, before);
  g_assert_true(strstr(out->str, now) != NULL || strstr(out->str, before) != NULL);
}

static void
test_response_variants(void)
{
  g_autoptr(GString) out = g_string_new(NULL);
  /* HEAD: length of the would-be body, no body bytes. */
  g_assert_true(srv_http_response_write(out, 200, "text/plain", "hello", 5,
                                        SRV_HTTP_WRITE_HEAD | SRV_HTTP_WRITE_CLOSE, NULL));
  g_autofree char *head = normalize_date(out->str);
  g_assert_cmpstr(head, ==,
                  "HTTP/1.1 200 OK\r\nDate: X\r\nContent-Type: text/plain\r\n"
                  "Content-Length: 5\r\nConnection: close\r\nCache-Control: no-store\r\n"
                  "X-Content-Type-Options: nosniff\r\n\r\n");
  /* 204: no Content-Length, no Content-Type, no body. */
  g_string_truncate(out, 0);
  g_assert_true(srv_http_response_write(out, 204, NULL, NULL, 0, SRV_HTTP_WRITE_KEEP_ALIVE, NULL));
  g_autofree char *nc = normalize_date(out->str);
  g_assert_cmpstr(nc, ==,
                  "HTTP/1.1 204 No Content\r\nDate: X\r\nConnection: keep-alive\r\n"
                  "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n");
  /* An empty 200 still says Content-Length: 0. */
  g_string_truncate(out, 0);
  g_assert_true(srv_http_response_write(out, 200, NULL, NULL, 0, 0, NULL));
  g_assert_nonnull(strstr(out->str, "\r\nContent-Length: 0\r\n"));
  g_assert_true(g_str_has_suffix(out->str, "nosniff\r\n\r\n"));
}

static void
test_response_refusals(void)
{
  g_autoptr(GString) out = g_string_new("keep");
  const char *crlf[] = { "X-A", "v\r\nSet-Cookie: evil=1", NULL };
  const char *lf[] = { "X-A", "v\nx", NULL };
  const char *badname[] = { "X A", "v", NULL };
  const char *colon[] = { "X:A", "v", NULL };
  const char *empty[] = { "", "v", NULL };
  const char *odd[] = { "X-A", NULL };
  const char *cl[] = { "content-length", "3", NULL };
  const char *te[] = { "Transfer-Encoding", "chunked", NULL };
  const char *conn[] = { "Connection", "upgrade", NULL };
  const char *cc[] = { "Cache-Control", "max-age=60", NULL };
  const char *const *sets[] = { crlf, lf, badname, colon, empty, odd, cl, te, conn, cc };
  for (gsize i = 0; i < G_N_ELEMENTS(sets); i++)
    g_assert_false(srv_http_response_write(out, 200, NULL, "x", 1, 0, sets[i]));
  g_assert_false(srv_http_response_write(out, 200, "text/plain\r\nX: y", "x", 1, 0, NULL));
  g_assert_false(srv_http_response_write(out, 200, "", "x", 1, 0, NULL));
  g_assert_false(srv_http_response_write(out, 299, NULL, "x", 1, 0, NULL));
  g_assert_false(srv_http_response_write(out, 100, NULL, NULL, 0, 0, NULL));
  g_assert_false(srv_http_response_write(out, 600, NULL, NULL, 0, 0, NULL));
  g_assert_false(srv_http_response_write(out, 204, NULL, "x", 1, 0, NULL));
  g_assert_false(srv_http_response_write(out, 304, NULL, "x", 1, 0, NULL));
  g_assert_false(srv_http_error_response_write(out, 200, "ok", NULL, 0));
  g_assert_cmpstr(out->str, ==, "keep");
}

static void
test_date_format(void)
{
  char buf[SRV_HTTP_DATE_SIZE];
  srv_http_format_date(784111777, buf);
  g_assert_cmpstr(buf, ==, "Sun, 06 Nov 1994 08:49:37 GMT");
  srv_http_format_date(0, buf);
  g_assert_cmpstr(buf, ==, "Thu, 01 Jan 1970 00:00:00 GMT");
  srv_http_format_date(1709208000, buf); /* leap day */
  g_assert_cmpstr(buf, ==, "Thu, 29 Feb 2024 12:00:00 GMT");
  srv_http_format_date(-5, buf);
  g_assert_cmpstr(buf, ==, "Thu, 01 Jan 1970 00:00:00 GMT");
  srv_http_format_date(G_MAXINT64, buf);
  g_assert_cmpstr(buf, ==, "Fri, 31 Dec 9999 23:59:59 GMT");
  g_assert_cmpuint(strlen(buf), ==, SRV_HTTP_DATE_SIZE - 1);
}

static void
test_status_reasons(void)
{
  g_assert_cmpstr(srv_http_status_reason(200), ==, "OK");
  g_assert_cmpstr(srv_http_status_reason(400), ==, "Bad Request");
  g_assert_cmpstr(srv_http_status_reason(411), ==, "Length Required");
  g_assert_cmpstr(srv_http_status_reason(413), ==, "Content Too Large");
  g_assert_cmpstr(srv_http_status_reason(414), ==, "URI Too Long");
  g_assert_cmpstr(srv_http_status_reason(417), ==, "Expectation Failed");
  g_assert_cmpstr(srv_http_status_reason(431), ==, "Request Header Fields Too Large");
  g_assert_cmpstr(srv_http_status_reason(501), ==, "Not Implemented");
  g_assert_cmpstr(srv_http_status_reason(505), ==, "HTTP Version Not Supported");
  g_assert_null(srv_http_status_reason(0));
  g_assert_null(srv_http_status_reason(299));
  g_assert_null(srv_http_status_reason(999));
  /* Every parser error status has a phrase. */
  static const guint parser_statuses[] = { 400, 411, 413, 414, 417, 431, 501, 505 };
  for (gsize i = 0; i < G_N_ELEMENTS(parser_statuses); i++)
    g_assert_nonnull(srv_http_status_reason(parser_statuses[i]));
  g_assert_cmpstr(srv_http_method_name(SRV_HTTP_METHOD_PATCH), ==, "PATCH");
  g_assert_null(srv_http_method_name(SRV_HTTP_METHOD_NONE));
}

static void
test_error_body(void)
{
  g_autofree char *a = srv_http_error_body(431, "header-too-large", NULL);
  g_assert_cmpstr(a, ==,
                  "{\"error\":{\"status\":431,\"code\":\"header-too-large\","
                  "\"message\":\"Request Header Fields Too Large\"}}");
  g_autofree char *b = srv_http_error_body(400, "q\"b\\s", "line1\nline2\t<x>&\x01 \xe6\x97\xa5 \xff");
  g_assert_cmpstr(b, ==,
                  "{\"error\":{\"status\":400,\"code\":\"q\\\"b\\\\s\","
                  "\"message\":\"line1\\u000aline2\\u0009\\u003cx\\u003e\\u0026\\u0001 "
                  "\xe6\x97\xa5 \xef\xbf\xbd\"}}");
  /* It is JSON that json-glib reads back to the same strings. */
  g_autoptr(JsonParser) jp = json_parser_new();
  g_assert_true(json_parser_load_from_data(jp, b, -1, NULL));
  JsonObject *err = json_object_get_object_member(json_node_get_object(json_parser_get_root(jp)), "error");
  g_assert_cmpint(json_object_get_int_member(err, "status"), ==, 400);
  g_assert_cmpstr(json_object_get_string_member(err, "code"), ==, "q\"b\\s");
  g_assert_cmpstr(json_object_get_string_member(err, "message"), ==,
                  "line1\nline2\t<x>&\x01 \xe6\x97\xa5 \xef\xbf\xbd");
  g_autofree char *c = srv_http_error_body(599, NULL, NULL);
  g_assert_cmpstr(c, ==, "{\"error\":{\"status\":599,\"code\":\"error\",\"message\":\"Error\"}}");
}

static void
test_error_response_from_parser(void)
{
  g_autoptr(SrvHttpParser) p = srv_http_parser_new(NULL);
  gsize used = 0;
  static const char raw[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  g_assert_cmpint(srv_http_parser_feed(p, raw, strlen(raw), &used), ==, SRV_HTTP_ERROR);
  g_autoptr(GString) out = g_string_new(NULL);
  g_assert_true(srv_http_error_response_write(out, srv_http_parser_error_status(p),
                                              srv_http_parser_error_code(p), NULL,
                                              SRV_HTTP_WRITE_CLOSE));
  g_autofree char *norm = normalize_date(out->str);
  static const char body[] = "{\"error\":{\"status\":501,\"code\":\"transfer-encoding-unsupported\","
                             "\"message\":\"Not Implemented\"}}";
  g_autofree char *expected = g_strdup_printf(
      "HTTP/1.1 501 Not Implemented\r\nDate: X\r\nContent-Type: application/json\r\n"
      "Content-Length: %zu\r\nConnection: close\r\nCache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\n\r\n%s",
      strlen(body), body);
  g_assert_cmpstr(norm, ==, expected);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/server/http/get-basic", test_get_basic);
  g_test_add_func("/server/http/query-forms", test_query_forms);
  g_test_add_func("/server/http/post-body", test_post_body);
  g_test_add_func("/server/http/methods", test_methods);
  g_test_add_func("/server/http/keep-alive", test_keep_alive);
  g_test_add_func("/server/http/http10-no-host", test_http10_no_host);
  g_test_add_func("/server/http/expect", test_expect);
  g_test_add_func("/server/http/pipelined", test_pipelined);
  g_test_add_func("/server/http/pipelined-consumed", test_pipelined_consumed);
  g_test_add_func("/server/http/split-equivalence", test_split_equivalence);
  g_test_add_func("/server/http/need-more-states", test_need_more_states);
  g_test_add_func("/server/http/error-sticky-and-reset", test_error_sticky_and_reset);
  g_test_add_func("/server/http/request-line-errors", test_request_line_errors);
  g_test_add_func("/server/http/line-endings", test_line_endings);
  g_test_add_func("/server/http/nul-bytes", test_nul_bytes);
  g_test_add_func("/server/http/header-errors", test_header_errors);
  g_test_add_func("/server/http/content-length-errors", test_content_length_errors);
  g_test_add_func("/server/http/limit/target", test_limit_target);
  g_test_add_func("/server/http/limit/header-bytes", test_limit_header_bytes);
  g_test_add_func("/server/http/limit/header-count", test_limit_header_count);
  g_test_add_func("/server/http/limit/body", test_limit_body);
  g_test_add_func("/server/http/limit/invalid", test_limits_invalid);
  g_test_add_func("/server/http/head-func-route-cap", test_head_func_route_cap);
  g_test_add_func("/server/http/path-decode", test_path_decode);
  g_test_add_func("/server/http/response/exact", test_response_exact);
  g_test_add_func("/server/http/response/variants", test_response_variants);
  g_test_add_func("/server/http/response/refusals", test_response_refusals);
  g_test_add_func("/server/http/date-format", test_date_format);
  g_test_add_func("/server/http/status-reasons", test_status_reasons);
  g_test_add_func("/server/http/error-body", test_error_body);
  g_test_add_func("/server/http/error-response-from-parser", test_error_response_from_parser);
  return g_test_run();
}
