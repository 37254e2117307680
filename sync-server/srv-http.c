/* Strict incremental HTTP/1.1 request parser and response writer (no I/O).
 * The head is checked byte by byte as it arrives so a bad request fails early. */
#include "srv-http.h"

#include <string.h>
#include <time.h>

#define METHOD_MAX_LEN   15
#define VERSION_LEN      8   /* "HTTP/1.1" */
#define REQ_LINE_SLACK   32  /* method + 2 SP + version + CRLF, beyond the target */
#define HEAD_MIN_ALLOC   512
#define HEAD_KEEP_ALLOC  2048 /* reset() frees a larger head: idle connections stay small */

#define LIMIT_HEADER_BYTES ((gsize) 1024 * 1024)
#define LIMIT_HEADERS      1024u
#define LIMIT_TARGET_BYTES ((gsize) 64 * 1024)
#define LIMIT_BODY_BYTES   ((gsize) 1024 * 1024 * 1024)

typedef enum { ST_HEAD, ST_BODY, ST_DONE, ST_ERROR } ParserState;
typedef enum { LINE_MORE, LINE_HEAD_DONE, LINE_ERROR } LineResult;

typedef struct {
  guint32 name;
  guint32 value;
} HeaderOffsets;

struct _SrvHttpParser {
  SrvHttpLimits limits;
  gsize head_max;
  SrvHttpHeadFunc head_func;
  gpointer head_data;

  ParserState state;
  guint8 *head;
  gsize head_len;
  gsize head_cap;
  gsize line_start;
  gssize sp1;
  gssize sp2;
  gboolean in_request_line;
  gboolean cr_pending;
  gsize fields_start;
  gsize path_off;
  gssize query_off;
  HeaderOffsets *offsets;
  SrvHttpHeader *headers;
  guint n_headers;

  guint8 *body;
  gsize body_len;

  SrvHttpRequest req;
  guint err_status;
  const char *err_code;
};

static const guint8 empty_body[1] = { 0 };

/* RFC 9110 tchar. */
static gboolean
is_tchar(guint8 c)
{
  if (g_ascii_isalnum(c))
    return TRUE;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 3986 pchar minus pct-encoded (checked apart). */
static gboolean
is_pchar(guint8 c)
{
  if (g_ascii_isalnum(c))
    return TRUE;
  return c != '\0' && strchr("-._~!$&'()*+,;=:@", c) != NULL;
}

/* field-vchar / SP / HTAB; obs-text (0x80-0xFF) is accepted. */
static gboolean
is_field_value_char(guint8 c)
{
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static gboolean
is_ows(guint8 c)
{
  return c == ' ' || c == '\t';
}

void
srv_http_limits_init_default(SrvHttpLimits *limits)
{
  g_return_if_fail(limits != NULL);
  limits->max_header_bytes = SRV_HTTP_DEFAULT_MAX_HEADER_BYTES;
  limits->max_headers = SRV_HTTP_DEFAULT_MAX_HEADERS;
  limits->max_body_bytes = SRV_HTTP_DEFAULT_MAX_BODY_BYTES;
  limits->max_target_bytes = SRV_HTTP_DEFAULT_MAX_TARGET_BYTES;
}

SrvHttpParser *
srv_http_parser_new(const SrvHttpLimits *limits)
{
  SrvHttpLimits l;
  if (limits != NULL)
    l = *limits;
  else
    srv_http_limits_init_default(&l);
  if (l.max_header_bytes == 0 || l.max_header_bytes > LIMIT_HEADER_BYTES ||
      l.max_headers == 0 || l.max_headers > LIMIT_HEADERS ||
      l.max_target_bytes == 0 || l.max_target_bytes > LIMIT_TARGET_BYTES ||
      l.max_body_bytes == 0 || l.max_body_bytes > LIMIT_BODY_BYTES)
    return NULL;

  SrvHttpParser *p = g_new0(SrvHttpParser, 1);
  p->limits = l;
  p->head_max = l.max_target_bytes + REQ_LINE_SLACK + l.max_header_bytes;
  p->offsets = g_new0(HeaderOffsets, l.max_headers);
  p->headers = g_new0(SrvHttpHeader, l.max_headers);
  srv_http_parser_reset(p);
  return p;
}

void
srv_http_parser_free(SrvHttpParser *p)
{
  if (p == NULL)
    return;
  g_free(p->head);
  g_free(p->body);
  g_free(p->offsets);
  g_free(p->headers);
  g_free(p);
}

void
srv_http_parser_set_head_func(SrvHttpParser *p, SrvHttpHeadFunc func, gpointer user_data)
{
  g_return_if_fail(p != NULL);
  p->head_func = func;
  p->head_data = user_data;
}

void
srv_http_parser_reset(SrvHttpParser *p)
{
  g_return_if_fail(p != NULL);
  if (p->head_cap > HEAD_KEEP_ALLOC) {
    g_clear_pointer(&p->head, g_free);
    p->head_cap = 0;
  }
  g_clear_pointer(&p->body, g_free);
  p->state = ST_HEAD;
  p->head_len = 0;
  p->line_start = 0;
  p->sp1 = -1;
  p->sp2 = -1;
  p->in_request_line = TRUE;
  p->cr_pending = FALSE;
  p->fields_start = 0;
  p->path_off = 0;
  p->query_off = -1;
  p->n_headers = 0;
  p->body_len = 0;
  memset(&p->req, 0, sizeof p->req);
  p->err_status = 0;
  p->err_code = NULL;
}

gboolean
srv_http_parser_idle(const SrvHttpParser *p)
{
  g_return_val_if_fail(p != NULL, FALSE);
  return p->state == ST_HEAD && p->head_len == 0;
}

const SrvHttpRequest *
srv_http_parser_request(const SrvHttpParser *p)
{
  g_return_val_if_fail(p != NULL, NULL);
  return p->state == ST_DONE ? &p->req : NULL;
}

guint
srv_http_parser_error_status(const SrvHttpParser *p)
{
  g_return_val_if_fail(p != NULL, 0);
  return p->state == ST_ERROR ? p->err_status : 0;
}

const char *
srv_http_parser_error_code(const SrvHttpParser *p)
{
  g_return_val_if_fail(p != NULL, NULL);
  return p->state == ST_ERROR ? p->err_code : NULL;
}

static LineResult
fail(SrvHttpParser *p, guint status, const char *code)
{
  p->state = ST_ERROR;
  p->err_status = status;
  p->err_code = code;
  return LINE_ERROR;
}

static gboolean
ensure_head_cap(SrvHttpParser *p, gsize incoming)
{
  gsize room = p->head_max > p->head_len ? p->head_max - p->head_len : 0;
  gsize need = p->head_len + MIN(incoming, room);
  if (need <= p->head_cap)
    return TRUE;
  gsize cap = MAX(p->head_cap, (gsize) HEAD_MIN_ALLOC);
  while (cap < need)
    cap *= 2;
  cap = MIN(cap, p->head_max);
  p->head = g_realloc(p->head, cap);
  p->head_cap = cap;
  return need <= cap;
}

static SrvHttpMethod
lookup_method(const char *m, gsize len)
{
  static const struct {
    const char *name;
    SrvHttpMethod method;
  } methods[] = {
    { "GET", SRV_HTTP_METHOD_GET },     { "HEAD", SRV_HTTP_METHOD_HEAD },
    { "POST", SRV_HTTP_METHOD_POST },   { "PUT", SRV_HTTP_METHOD_PUT },
    { "PATCH", SRV_HTTP_METHOD_PATCH }, { "DELETE", SRV_HTTP_METHOD_DELETE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(methods); i++) {
    if (strlen(methods[i].name) == len && memcmp(methods[i].name, m, len) == 0)
      return methods[i].method;
  }
  return SRV_HTTP_METHOD_NONE;
}

const char *
srv_http_method_name(SrvHttpMethod method)
{
  switch (method) {
  case SRV_HTTP_METHOD_GET: return "GET";
  case SRV_HTTP_METHOD_HEAD: return "HEAD";
  case SRV_HTTP_METHOD_POST: return "POST";
  case SRV_HTTP_METHOD_PUT: return "PUT";
  case SRV_HTTP_METHOD_PATCH: return "PATCH";
  case SRV_HTTP_METHOD_DELETE: return "DELETE";
  case SRV_HTTP_METHOD_NONE: break;
  }
  return NULL;
}

/* origin-form = absolute-path [ "?" query ], with valid percent escapes. */
static gboolean
target_valid(const char *t, gsize len, gssize *query_at)
{
  gboolean in_query = FALSE;
  *query_at = -1;
  if (len == 0 || t[0] != '/')
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    guint8 c = (guint8) t[i];
    if (c == '%') {
      if (i + 2 >= len || !g_ascii_isxdigit(t[i + 1]) || !g_ascii_isxdigit(t[i + 2]))
        return FALSE;
      i += 2;
    } else if (c == '?') {
      if (!in_query) {
        in_query = TRUE;
        *query_at = (gssize) i;
      }
    } else if (c != '/' && !is_pchar(c)) {
      return FALSE;
    }
  }
  return TRUE;
}

static LineResult
parse_request_line(SrvHttpParser *p, gsize line_len)
{
  char *line = (char *) p->head + p->line_start;
  if (p->sp1 < 0 || p->sp2 < 0)
    return fail(p, 400, "bad-request-line");
  gsize sp1 = (gsize) p->sp1 - p->line_start;
  gsize sp2 = (gsize) p->sp2 - p->line_start;

  const char *version = line + sp2 + 1;
  gsize version_len = line_len - sp2 - 1;
  if (version_len != VERSION_LEN || memcmp(version, "HTTP/", 5) != 0 ||
      !g_ascii_isdigit(version[5]) || version[6] != '.' || !g_ascii_isdigit(version[7]))
    return fail(p, 400, "bad-version");
  if (version[5] != '1' || (version[7] != '1' && version[7] != '0'))
    return fail(p, 505, "version-not-supported");

  if (sp1 == 0)
    return fail(p, 400, "bad-request-line");
  for (gsize i = 0; i < sp1; i++) {
    if (!is_tchar((guint8) line[i]))
      return fail(p, 400, "bad-method");
  }
  SrvHttpMethod method = lookup_method(line, sp1);
  if (method == SRV_HTTP_METHOD_NONE)
    return fail(p, 501, "method-not-implemented");

  gsize target_len = sp2 - sp1 - 1;
  if (target_len > p->limits.max_target_bytes)
    return fail(p, 414, "target-too-long");
  gssize query_at = -1;
  if (!target_valid(line + sp1 + 1, target_len, &query_at))
    return fail(p, 400, "bad-target");

  line[sp1] = '\0';
  line[sp2] = '\0';
  line[line_len] = '\0'; /* the CR */
  p->path_off = p->line_start + sp1 + 1;
  if (query_at >= 0) {
    line[sp1 + 1 + (gsize) query_at] = '\0';
    p->query_off = (gssize) (p->path_off + (gsize) query_at + 1);
  }
  p->req.method = method;
  p->req.version_minor = version[7] == '1' ? 1 : 0;
  return LINE_MORE;
}

static LineResult
parse_header_line(SrvHttpParser *p, gsize line_len)
{
  char *line = (char *) p->head + p->line_start;
  if (is_ows((guint8) line[0]))
    return fail(p, 400, "obs-fold");
  const char *colon = memchr(line, ':', line_len);
  if (colon == NULL)
    return fail(p, 400, "bad-header");
  gsize name_len = (gsize) (colon - line);
  if (name_len == 0)
    return fail(p, 400, "bad-header-name");
  for (gsize i = 0; i < name_len; i++) {
    guint8 c = (guint8) line[i];
    if (is_ows(c))
      return fail(p, 400, "space-before-colon");
    if (!is_tchar(c))
      return fail(p, 400, "bad-header-name");
  }
  gsize v = name_len + 1;
  gsize end = line_len;
  while (v < end && is_ows((guint8) line[v]))
    v++;
  while (end > v && is_ows((guint8) line[end - 1]))
    end--;
  for (gsize i = v; i < end; i++) {
    if (!is_field_value_char((guint8) line[i]))
      return fail(p, 400, "bad-header-value");
  }
  if (p->n_headers >= p->limits.max_headers)
    return fail(p, 431, "too-many-headers");
  line[name_len] = '\0';
  line[end] = '\0';
  p->offsets[p->n_headers].name = (guint32) p->line_start;
  p->offsets[p->n_headers].value = (guint32) (p->line_start + v);
  p->n_headers++;
  return LINE_MORE;
}

/* 1*DIGIT, saturating: a number too big for 64 bits is still just too large. */
static gboolean
parse_content_length(const char *s, guint64 *out)
{
  guint64 v = 0;
  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++) {
    if (!g_ascii_isdigit(*s))
      return FALSE;
    guint d = (guint) (*s - '0');
    if (v > (G_MAXUINT64 - d) / 10)
      v = G_MAXUINT64;
    else
      v = v * 10 + d;
  }
  *out = v;
  return TRUE;
}

static gboolean
host_valid(const char *h)
{
  if (*h == '\0')
    return FALSE;
  for (; *h != '\0'; h++) {
    guint8 c = (guint8) *h;
    if (!g_ascii_isalnum(c) && strchr("-._~!$&'()*+,;=%:[]", c) == NULL)
      return FALSE;
  }
  return TRUE;
}

/* TRUE when the comma-separated token list @v holds @token (case-insensitive). */
static gboolean
list_has_token(const char *v, const char *token)
{
  gsize tlen = strlen(token);
  while (*v != '\0') {
    while (*v == ',' || is_ows((guint8) *v))
      v++;
    const char *start = v;
    while (*v != '\0' && *v != ',')
      v++;
    const char *end = v;
    while (end > start && is_ows((guint8) end[-1]))
      end--;
    if ((gsize) (end - start) == tlen && g_ascii_strncasecmp(start, token, tlen) == 0)
      return TRUE;
  }
  return FALSE;
}

static LineResult
finish_head(SrvHttpParser *p)
{
  SrvHttpRequest *r = &p->req;
  guint cl_count = 0, host_count = 0, expect_count = 0;
  gboolean te = FALSE, close = FALSE, expect_ok = TRUE;
  const char *cl = NULL, *host = NULL;

  for (guint i = 0; i < p->n_headers; i++) {
    p->headers[i].name = (const char *) p->head + p->offsets[i].name;
    p->headers[i].value = (const char *) p->head + p->offsets[i].value;
  }
  r->headers = p->headers;
  r->n_headers = p->n_headers;
  r->path = (const char *) p->head + p->path_off;
  r->query = p->query_off >= 0 ? (const char *) p->head + p->query_off : NULL;

  for (guint i = 0; i < p->n_headers; i++) {
    const char *name = p->headers[i].name;
    const char *value = p->headers[i].value;
    if (g_ascii_strcasecmp(name, "transfer-encoding") == 0) {
      te = TRUE;
    } else if (g_ascii_strcasecmp(name, "content-length") == 0) {
      cl_count++;
      cl = value;
    } else if (g_ascii_strcasecmp(name, "host") == 0) {
      host_count++;
      host = value;
    } else if (g_ascii_strcasecmp(name, "connection") == 0) {
      if (list_has_token(value, "close"))
        close = TRUE;
    } else if (g_ascii_strcasecmp(name, "expect") == 0) {
      expect_count++;
      if (g_ascii_strcasecmp(value, "100-continue") != 0)
        expect_ok = FALSE;
    }
  }

  if (te)
    return fail(p, 501, "transfer-encoding-unsupported");
  if (cl_count > 1)
    return fail(p, 400, "duplicate-content-length");
  guint64 length = 0;
  if (cl != NULL && !parse_content_length(cl, &length))
    return fail(p, 400, "bad-content-length");
  if (host_count > 1)
    return fail(p, 400, "duplicate-host");
  if (host_count == 0 && r->version_minor == 1)
    return fail(p, 400, "missing-host");
  if (host != NULL && !host_valid(host))
    return fail(p, 400, "bad-host");
  if (expect_count > 1 || !expect_ok)
    return fail(p, 417, "expectation-failed");
  if (cl == NULL && (r->method == SRV_HTTP_METHOD_POST || r->method == SRV_HTTP_METHOD_PUT ||
                     r->method == SRV_HTTP_METHOD_PATCH))
    return fail(p, 411, "length-required");

  r->content_length = length;
  r->keep_alive = r->version_minor == 1 && !close;
  /* RFC 9110 10.1.1: a 100-continue from an HTTP/1.0 client is ignored. */
  r->expect_continue = expect_count == 1 && r->version_minor == 1;

  gsize cap = p->limits.max_body_bytes;
  if (p->head_func != NULL) {
    gsize route_cap = p->head_func(r, p->head_data); /* once: MIN() evaluates twice */
    cap = MIN(cap, route_cap);
  }
  if (length > cap)
    return fail(p, 413, "body-too-large");

  if (length == 0) {
    r->body = empty_body;
    r->body_len = 0;
    p->state = ST_DONE;
  } else {
    p->body = g_malloc((gsize) length + 1);
    p->body[length] = '\0';
    p->body_len = 0;
    p->state = ST_BODY;
  }
  return LINE_HEAD_DONE;
}

static LineResult
end_of_line(SrvHttpParser *p)
{
  gsize line_len = p->head_len - 2 - p->line_start;
  if (p->in_request_line) {
    LineResult lr = parse_request_line(p, line_len);
    if (lr != LINE_MORE)
      return lr;
    p->in_request_line = FALSE;
    p->fields_start = p->head_len;
  } else if (line_len == 0) {
    return finish_head(p);
  } else {
    LineResult lr = parse_header_line(p, line_len);
    if (lr != LINE_MORE)
      return lr;
  }
  p->line_start = p->head_len;
  return LINE_MORE;
}

/* Per-byte checks that fail as soon as a request line part is over its cap. */
static LineResult
check_request_line_byte(SrvHttpParser *p, guint8 c)
{
  gsize pos = p->head_len - 1;
  if (c == ' ') {
    if (p->sp1 < 0) {
      p->sp1 = (gssize) pos;
    } else if (p->sp2 < 0) {
      p->sp2 = (gssize) pos;
    } else {
      return fail(p, 400, "bad-request-line");
    }
    return LINE_MORE;
  }
  if (p->sp1 < 0) {
    if (pos + 1 > METHOD_MAX_LEN)
      return fail(p, 400, "bad-method");
  } else if (p->sp2 < 0) {
    if (pos - (gsize) p->sp1 > p->limits.max_target_bytes)
      return fail(p, 414, "target-too-long");
  } else if (pos - (gsize) p->sp2 > VERSION_LEN) {
    return fail(p, 400, "bad-version");
  }
  return LINE_MORE;
}

static LineResult
feed_head(SrvHttpParser *p, const guint8 *data, gsize len, gsize *used)
{
  LineResult lr = LINE_MORE;
  gsize i = 0;

  if (!ensure_head_cap(p, len))
    return fail(p, 431, "header-too-large");
  while (i < len && lr == LINE_MORE) {
    guint8 c = data[i++]; /* counted as consumed even when it is the offending byte */
    if (c == '\0') {
      lr = fail(p, 400, "nul-byte");
    } else if (p->cr_pending && c != '\n') {
      lr = fail(p, 400, "bare-cr");
    } else if (!p->cr_pending && c == '\n') {
      lr = fail(p, 400, "bare-lf");
    } else if (p->head_len >= p->head_cap) {
      lr = fail(p, 431, "header-too-large"); /* the per-part caps make this unreachable */
    } else {
      p->head[p->head_len++] = c;
      if (c == '\n')
        p->cr_pending = FALSE;
      if (!p->in_request_line && p->head_len - p->fields_start > p->limits.max_header_bytes)
        lr = fail(p, 431, "header-too-large");
      else if (c == '\r')
        p->cr_pending = TRUE;
      else if (c == '\n')
        lr = end_of_line(p);
      else if (p->in_request_line)
        lr = check_request_line_byte(p, c);
    }
  }
  *used = i;
  return lr;
}

SrvHttpResult
srv_http_parser_feed(SrvHttpParser *p, const void *data, gsize len, gsize *consumed)
{
  g_return_val_if_fail(consumed != NULL, SRV_HTTP_ERROR);
  *consumed = 0;
  g_return_val_if_fail(p != NULL, SRV_HTTP_ERROR);
  g_return_val_if_fail(data != NULL || len == 0, SRV_HTTP_ERROR);

  const guint8 *bytes = data;
  gsize used = 0;

  if (p->state == ST_DONE)
    return SRV_HTTP_COMPLETE;
  if (p->state == ST_ERROR)
    return SRV_HTTP_ERROR;

  if (p->state == ST_HEAD) {
    LineResult lr = feed_head(p, bytes, len, &used);
    if (lr == LINE_ERROR) {
      *consumed = used;
      return SRV_HTTP_ERROR;
    }
  }
  if (p->state == ST_BODY) {
    gsize want = (gsize) p->req.content_length - p->body_len;
    gsize n = MIN(want, len - used);
    if (n > 0)
      memcpy(p->body + p->body_len, bytes + used, n);
    p->body_len += n;
    used += n;
    if (p->body_len == (gsize) p->req.content_length) {
      p->req.body = p->body;
      p->req.body_len = p->body_len;
      p->state = ST_DONE;
    }
  }
  *consumed = used;
  return p->state == ST_DONE ? SRV_HTTP_COMPLETE : SRV_HTTP_NEED_MORE;
}

const char *
srv_http_request_header(const SrvHttpRequest *req, const char *name)
{
  g_return_val_if_fail(req != NULL, NULL);
  g_return_val_if_fail(name != NULL, NULL);
  for (guint i = 0; i < req->n_headers; i++) {
    if (g_ascii_strcasecmp(req->headers[i].name, name) == 0)
      return req->headers[i].value;
  }
  return NULL;
}

/* --- path decoding ------------------------------------------------------- */

gboolean
srv_http_path_decode(const char *path, char **decoded)
{
  gboolean ok = FALSE;
  g_return_val_if_fail(decoded != NULL, FALSE);
  *decoded = NULL;
  if (path == NULL || path[0] != '/')
    return FALSE;

  gsize len = strlen(path);
  char *out = g_malloc(len + 1);
  gsize o = 0;
  for (gsize i = 0; i < len; i++) {
    guint8 c = (guint8) path[i];
    if (c == '%') {
      if (i + 2 >= len || !g_ascii_isxdigit(path[i + 1]) || !g_ascii_isxdigit(path[i + 2]))
        goto out;
      c = (guint8) ((g_ascii_xdigit_value(path[i + 1]) << 4) | g_ascii_xdigit_value(path[i + 2]));
      i += 2;
      if (c < 0x20 || c == 0x7f || c == '/')
        goto out;
    } else if (c != '/' && !is_pchar(c)) {
      goto out;
    }
    out[o++] = (char) c;
  }
  out[o] = '\0';

  /* Segments are delimited by raw '/' only, since %2F was refused above. */
  for (const char *seg = out; *seg != '\0';) {
    seg++; /* past '/' */
    const char *end = strchr(seg, '/');
    gsize seg_len = end != NULL ? (gsize) (end - seg) : strlen(seg);
    if ((seg_len == 1 && seg[0] == '.') || (seg_len == 2 && seg[0] == '.' && seg[1] == '.'))
      goto out;
    seg += seg_len;
  }
  if (!g_utf8_validate(out, (gssize) o, NULL))
    goto out;
  ok = TRUE;

out:
  if (ok)
    *decoded = out;
  else
    g_free(out);
  return ok;
}

/* --- responses ------------------------------------------------------------ */

const char *
srv_http_status_reason(guint status)
{
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 416: return "Range Not Satisfiable";
  case 417: return "Expectation Failed";
  case 421: return "Misdirected Request";
  case 422: return "Unprocessable Content";
  case 425: return "Too Early";
  case 426: return "Upgrade Required";
  case 428: return "Precondition Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 451: return "Unavailable For Legal Reasons";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return NULL;
  }
}

static char *
put_2digits(char *o, int v)
{
  v = CLAMP(v, 0, 99);
  *o++ = (char) ('0' + v / 10);
  *o++ = (char) ('0' + v % 10);
  return o;
}

void
srv_http_format_date(gint64 unix_seconds, char out[SRV_HTTP_DATE_SIZE])
{
  static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
  static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
  /* IMF-fixdate has a 4-digit year: clamp to 1970..9999. */
  gint64 t = CLAMP(unix_seconds, (gint64) 0, G_GINT64_CONSTANT(253402300799));
  time_t tt = (time_t) t;
  struct tm tm;
  if (gmtime_r(&tt, &tm) == NULL)
    memset(&tm, 0, sizeof tm);
  /* Fixed layout "Www, DD Mmm YYYY HH:MM:SS GMT", written by hand: no locale. */
  int year = tm.tm_year + 1900;
  char *o = out;
  memcpy(o, days[CLAMP(tm.tm_wday, 0, 6)], 3);
  o += 3;
  *o++ = ',';
  *o++ = ' ';
  o = put_2digits(o, tm.tm_mday);
  *o++ = ' ';
  memcpy(o, months[CLAMP(tm.tm_mon, 0, 11)], 3);
  o += 3;
  *o++ = ' ';
  o = put_2digits(o, year / 100);
  o = put_2digits(o, year % 100);
  *o++ = ' ';
  o = put_2digits(o, tm.tm_hour);
  *o++ = ':';
  o = put_2digits(o, tm.tm_min);
  *o++ = ':';
  o = put_2digits(o, tm.tm_sec);
  memcpy(o, " GMT", 5);
}

static gboolean
header_value_valid(const char *v)
{
  for (; *v != '\0'; v++) {
    if (!is_field_value_char((guint8) *v))
      return FALSE;
  }
  return TRUE;
}

static gboolean
extra_header_allowed(const char *name, const char *value)
{
  static const char *const reserved[] = {
    "content-length", "transfer-encoding", "connection", "date",
    "content-type", "cache-control", "x-content-type-options",
  };
  if (name[0] == '\0')
    return FALSE;
  for (const char *c = name; *c != '\0'; c++) {
    if (!is_tchar((guint8) *c))
      return FALSE;
  }
  for (gsize i = 0; i < G_N_ELEMENTS(reserved); i++) {
    if (g_ascii_strcasecmp(name, reserved[i]) == 0)
      return FALSE;
  }
  return header_value_valid(value);
}

gboolean
srv_http_response_write(GString *out, guint status, const char *content_type,
                        const void *body, gsize len, SrvHttpWriteFlags flags,
                        const char *const *extra_headers)
{
  g_return_val_if_fail(out != NULL, FALSE);
  g_return_val_if_fail(body != NULL || len == 0, FALSE);

  const char *reason = srv_http_status_reason(status);
  if (reason == NULL || status < 200)
    return FALSE;
  gboolean no_content = status == 204 || status == 304;
  if (no_content && len > 0)
    return FALSE;
  if (content_type != NULL && (content_type[0] == '\0' || !header_value_valid(content_type)))
    return FALSE;
  if (extra_headers != NULL) {
    for (gsize i = 0; extra_headers[i] != NULL; i += 2) {
      if (extra_headers[i + 1] == NULL || !extra_header_allowed(extra_headers[i], extra_headers[i + 1]))
        return FALSE;
    }
  }

  char date[SRV_HTTP_DATE_SIZE];
  srv_http_format_date(g_get_real_time() / G_USEC_PER_SEC, date);
  g_string_append_printf(out, "HTTP/1.1 %u %s\r\nDate: %s\r\n", status, reason, date);
  if (content_type != NULL)
    g_string_append_printf(out, "Content-Type: %s\r\n", content_type);
  if (!no_content)
    g_string_append_printf(out, "Content-Length: %" G_GSIZE_FORMAT "\r\n", len);
  g_string_append(out, (flags & SRV_HTTP_WRITE_KEEP_ALIVE) ? "Connection: keep-alive\r\n"
                                                           : "Connection: close\r\n");
  g_string_append(out, "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n");
  if (extra_headers != NULL) {
    for (gsize i = 0; extra_headers[i] != NULL; i += 2)
      g_string_append_printf(out, "%s: %s\r\n", extra_headers[i], extra_headers[i + 1]);
  }
  g_string_append(out, "\r\n");
  if (!(flags & SRV_HTTP_WRITE_HEAD) && len > 0)
    g_string_append_len(out, body, (gssize) len);
  return TRUE;
}

static void
json_escape_append(GString *s, const char *text)
{
  g_autofree char *valid = g_utf8_make_valid(text, -1);
  for (const char *c = valid; *c != '\0'; c++) {
    guint8 b = (guint8) *c;
    if (b == '"' || b == '\\') {
      g_string_append_c(s, '\\');
      g_string_append_c(s, (char) b);
    } else if (b < 0x20 || b == 0x7f || b == '<' || b == '>' || b == '&') {
      g_string_append_printf(s, "\\u%04x", b);
    } else {
      g_string_append_c(s, (char) b);
    }
  }
}

char *
srv_http_error_body(guint status, const char *code, const char *message)
{
  if (message == NULL)
    message = srv_http_status_reason(status);
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "{\"error\":{\"status\":%u,\"code\":\"", status);
  json_escape_append(s, code != NULL ? code : "error");
  g_string_append(s, "\",\"message\":\"");
  json_escape_append(s, message != NULL ? message : "Error");
  g_string_append(s, "\"}}");
  return g_string_free(s, FALSE);
}

gboolean
srv_http_error_response_write(GString *out, guint status, const char *code,
                              const char *message, SrvHttpWriteFlags flags)
{
  g_return_val_if_fail(out != NULL, FALSE);
  if (status < 400)
    return FALSE;
  g_autofree char *body = srv_http_error_body(status, code, message);
  return srv_http_response_write(out, status, "application/json", body, strlen(body),
                                 flags, NULL);
}
