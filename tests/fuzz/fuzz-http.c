/* Fuzz target for srv-http: the input is a byte stream from one connection. It
 * is parsed whole, byte by byte, cut in two at every position (short inputs) and
 * in pseudo-random chunks chosen by the input itself, with default and tiny
 * limits; every way must give the same transcript and keep the invariants. */
#include "srv-http.h"

#include <json-glib/json-glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "fuzz-http: invariant failed at line %d: %s\n", __LINE__, #cond); \
      abort();                                                                       \
    }                                                                                \
  } while (0)

typedef enum { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_CUT, SPLIT_RANDOM } SplitMode;

typedef struct {
  SplitMode mode;
  size_t cut;     /* SPLIT_CUT: first chunk length */
  uint64_t state; /* SPLIT_RANDOM: xorshift state */
} Splitter;

static size_t
next_chunk(Splitter *s, size_t done, size_t size)
{
  size_t left = size - done;
  switch (s->mode) {
  case SPLIT_WHOLE:
    return left;
  case SPLIT_BYTES:
    return 1;
  case SPLIT_CUT:
    return done < s->cut ? s->cut - done : left;
  case SPLIT_RANDOM:
    s->state ^= s->state << 13;
    s->state ^= s->state >> 7;
    s->state ^= s->state << 17;
    /* Mostly small chunks, sometimes large ones. */
    return 1 + (size_t) (s->state % ((s->state & 0x100) ? 4096 : 16));
  }
  return left;
}

static gboolean
is_token_char(guint8 c)
{
  return g_ascii_isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const guint8 *sink;

static void
check_request(const SrvHttpLimits *l, const SrvHttpRequest *r, gboolean deep, GString *log)
{
  CHECK(r != NULL);
  CHECK(srv_http_method_name(r->method) != NULL);
  CHECK(r->version_minor <= 1);
  CHECK(r->path != NULL && r->path[0] == '/');
  size_t target = strlen(r->path) + (r->query != NULL ? 1 + strlen(r->query) : 0);
  CHECK(target <= l->max_target_bytes);
  CHECK(r->n_headers <= l->max_headers);
  CHECK(r->headers != NULL || r->n_headers == 0);
  CHECK(r->body != NULL);
  CHECK(r->body_len == r->content_length);
  CHECK(r->body_len <= l->max_body_bytes);
  CHECK(r->body[r->body_len] == '\0');
  CHECK(!r->keep_alive || r->version_minor == 1);
  CHECK(!r->expect_continue || r->version_minor == 1);

  guint hosts = 0, lengths = 0;
  for (guint i = 0; i < r->n_headers; i++) {
    const char *n = r->headers[i].name, *v = r->headers[i].value;
    CHECK(n[0] != '\0');
    for (const char *c = n; *c != '\0'; c++)
      CHECK(is_token_char((guint8) *c));
    size_t vlen = strlen(v);
    for (size_t k = 0; k < vlen; k++)
      CHECK(v[k] == '\t' || ((guint8) v[k] >= 0x20 && (guint8) v[k] != 0x7f));
    CHECK(vlen == 0 || (v[0] != ' ' && v[0] != '\t' && v[vlen - 1] != ' ' && v[vlen - 1] != '\t'));
    CHECK(g_ascii_strcasecmp(n, "transfer-encoding") != 0);
    if (g_ascii_strcasecmp(n, "host") == 0)
      hosts++;
    if (g_ascii_strcasecmp(n, "content-length") == 0) {
      lengths++;
      guint64 cl = 0;
      CHECK(vlen > 0);
      for (const char *c = v; *c != '\0'; c++) {
        CHECK(g_ascii_isdigit(*c));
        if (cl < G_MAXUINT64 / 20)
          cl = cl * 10 + (guint64) (*c - '0');
      }
      CHECK(cl == r->content_length);
    }
  }
  CHECK(lengths <= 1);
  CHECK(lengths == 1 || r->content_length == 0);
  CHECK(hosts <= 1);
  CHECK(r->version_minor == 0 || hosts == 1);
  CHECK(lengths == 1 || (r->method != SRV_HTTP_METHOD_POST && r->method != SRV_HTTP_METHOD_PUT &&
                         r->method != SRV_HTTP_METHOD_PATCH));

  /* Touch every body byte so ASan sees any stale pointer. */
  guint8 sum = 0;
  for (gsize k = 0; k < r->body_len; k++)
    sum ^= r->body[k];
  sink = &sum;

  g_string_append_printf(log, "C %s %s ?%s 1.%u ka=%d ec=%d n=%u len=%zu\n",
                         srv_http_method_name(r->method), r->path,
                         r->query != NULL ? r->query : "(none)", r->version_minor,
                         r->keep_alive, r->expect_continue, r->n_headers, r->body_len);
  for (guint i = 0; i < r->n_headers; i++)
    g_string_append_printf(log, "%s=%s\n", r->headers[i].name, r->headers[i].value);
  g_string_append_len(log, (const char *) r->body, (gssize) r->body_len);

  if (!deep)
    return;
  char *decoded = NULL;
  if (srv_http_path_decode(r->path, &decoded)) {
    CHECK(decoded != NULL && decoded[0] == '/');
    CHECK(strstr(decoded, "/../") == NULL && !g_str_has_suffix(decoded, "/.."));
    CHECK(g_utf8_validate(decoded, -1, NULL));
    g_free(decoded);
  } else {
    CHECK(decoded == NULL);
  }
  GString *out = g_string_new(NULL);
  SrvHttpWriteFlags flags = r->keep_alive ? SRV_HTTP_WRITE_KEEP_ALIVE : SRV_HTTP_WRITE_CLOSE;
  if (r->method == SRV_HTTP_METHOD_HEAD)
    flags |= SRV_HTTP_WRITE_HEAD;
  CHECK(srv_http_response_write(out, 200, "application/octet-stream", r->body, r->body_len,
                                flags, NULL));
  CHECK(g_str_has_prefix(out->str, "HTTP/1.1 200 OK\r\nDate: "));
  if (r->method != SRV_HTTP_METHOD_HEAD) {
    CHECK(out->len >= r->body_len);
    CHECK(memcmp(out->str + out->len - r->body_len, r->body, r->body_len) == 0);
  }
  g_string_free(out, TRUE);
}

static void
check_error(SrvHttpParser *p, gboolean deep, GString *log)
{
  guint status = srv_http_parser_error_status(p);
  const char *code = srv_http_parser_error_code(p);
  /* The parser's error statuses: 4xx, or 501/505 for what we do not implement. */
  CHECK(status == 400 || status == 411 || status == 413 || status == 414 || status == 417 ||
        status == 431 || status == 501 || status == 505);
  CHECK(code != NULL && code[0] != '\0');
  CHECK(srv_http_parser_request(p) == NULL);
  g_string_append_printf(log, "E %u %s\n", status, code);
  if (!deep)
    return;
  char *body = srv_http_error_body(status, code, NULL);
  JsonParser *jp = json_parser_new();
  CHECK(json_parser_load_from_data(jp, body, -1, NULL));
  JsonObject *err = json_object_get_object_member(json_node_get_object(json_parser_get_root(jp)), "error");
  CHECK(err != NULL);
  CHECK((guint) json_object_get_int_member(err, "status") == status);
  CHECK(strcmp(json_object_get_string_member(err, "code"), code) == 0);
  g_object_unref(jp);
  g_free(body);
  GString *out = g_string_new(NULL);
  CHECK(srv_http_error_response_write(out, status, code, NULL, SRV_HTTP_WRITE_CLOSE));
  CHECK(strstr(out->str, "\r\nConnection: close\r\n") != NULL);
  g_string_free(out, TRUE);
}

/* Runs one connection's bytes like the event loop would: a read buffer that
 * grows chunk by chunk and is drained by feed(), with reset() after each request. */
static char *
run(SrvHttpParser *p, const SrvHttpLimits *l, const uint8_t *data, size_t size, Splitter *s,
    gboolean deep)
{
  GString *log = g_string_new(NULL);
  size_t off = 0, avail = 0, request_start = 0;
  gboolean failed = FALSE;

  srv_http_parser_reset(p);
  while (off < size && !failed) {
    size_t chunk_len = next_chunk(s, avail, size); /* once: MIN() evaluates twice */
    avail = MIN(size, avail + chunk_len);
    while (off < avail && !failed) {
      /* An exact-size copy so ASan catches any read past what was given. */
      size_t n = avail - off;
      uint8_t *chunk = malloc(n);
      CHECK(chunk != NULL);
      memcpy(chunk, data + off, n);
      size_t used = (size_t) -1;
      SrvHttpResult r = srv_http_parser_feed(p, chunk, n, &used);
      memset(chunk, 0xAA, n); /* the parser must have copied what it keeps */
      free(chunk);
      CHECK(used <= n);
      off += used;
      if (r == SRV_HTTP_NEED_MORE) {
        CHECK(used == n);
        CHECK(srv_http_parser_request(p) == NULL);
        CHECK(srv_http_parser_error_status(p) == 0);
        break;
      }
      if (r == SRV_HTTP_COMPLETE) {
        CHECK(off > request_start);
        check_request(l, srv_http_parser_request(p), deep, log);
        g_string_append_printf(log, "@%zu\n", off);
        /* Sticky until reset. */
        size_t again = 1;
        CHECK(srv_http_parser_feed(p, data, size, &again) == SRV_HTTP_COMPLETE && again == 0);
        srv_http_parser_reset(p);
        CHECK(srv_http_parser_idle(p));
        request_start = off;
      } else {
        CHECK(r == SRV_HTTP_ERROR);
        check_error(p, deep, log);
        g_string_append_printf(log, "@%zu\n", off);
        failed = TRUE;
      }
    }
  }
  if (!failed)
    g_string_append_printf(log, "M idle=%d\n", srv_http_parser_idle(p));
  return g_string_free(log, FALSE);
}

static void
fuzz_with_limits(const SrvHttpLimits *l, const uint8_t *data, size_t size)
{
  SrvHttpParser *p = srv_http_parser_new(l);
  CHECK(p != NULL);
  Splitter whole = { .mode = SPLIT_WHOLE };
  char *expected = run(p, l, data, size, &whole, TRUE);

  Splitter bytes = { .mode = SPLIT_BYTES };
  char *got = run(p, l, data, size, &bytes, FALSE);
  CHECK(strcmp(expected, got) == 0);
  g_free(got);

  /* The split points come from the input, so the fuzzer steers them. */
  Splitter rnd = { .mode = SPLIT_RANDOM, .state = 0x9e3779b97f4a7c15ull ^ size };
  for (size_t i = 0; i < size; i++)
    rnd.state = (rnd.state ^ data[i]) * 0x100000001b3ull;
  if (rnd.state == 0)
    rnd.state = 1;
  got = run(p, l, data, size, &rnd, FALSE);
  CHECK(strcmp(expected, got) == 0);
  g_free(got);

  if (size <= 512) {
    for (size_t cut = 1; cut < size; cut++) {
      Splitter c = { .mode = SPLIT_CUT, .cut = cut };
      got = run(p, l, data, size, &c, FALSE);
      CHECK(strcmp(expected, got) == 0);
      g_free(got);
    }
  }
  g_free(expected);
  srv_http_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  SrvHttpLimits defaults;
  srv_http_limits_init_default(&defaults);
  SrvHttpLimits tiny = { .max_header_bytes = 128, .max_headers = 4, .max_body_bytes = 64,
                         .max_target_bytes = 32 };
  fuzz_with_limits(&defaults, data, size);
  fuzz_with_limits(&tiny, data, size);

  /* The path decoder on the raw input, up to its first NUL. */
  char *path = g_strndup((const char *) data, size);
  char *decoded = NULL;
  if (srv_http_path_decode(path, &decoded)) {
    CHECK(decoded[0] == '/' && strstr(decoded, "/../") == NULL);
    CHECK(strstr(decoded, "/./") == NULL && !g_str_has_suffix(decoded, "/."));
    CHECK(g_utf8_validate(decoded, -1, NULL));
    for (const char *c = decoded; *c != '\0'; c++)
      CHECK((guint8) *c >= 0x20 && (guint8) *c != 0x7f);
    g_free(decoded);
  }
  g_free(path);
  return 0;
}
