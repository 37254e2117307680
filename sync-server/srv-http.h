/* Strict, incremental, I/O-free HTTP/1.1 request parser and response writer for
 * genkan-server. The event loop (plain TCP or TLS) feeds it bytes; it never reads
 * or writes a socket. Content-Length bodies only; every size is capped. */
#pragma once
#include <glib.h>

#define SRV_HTTP_WUR __attribute__((warn_unused_result))

/* Caps for one request. What each one counts, precisely:
 *  - max_target_bytes: the request-target (path + '?' + query), raw bytes.
 *    Longer: 414 "target-too-long", detected as soon as the byte arrives.
 *  - max_header_bytes: every byte after the request line's CRLF up to and
 *    including the CRLF of the empty line that ends the head. The request line
 *    is capped separately (method <= 15 bytes, target, version).
 *    Larger: 431 "header-too-large".
 *  - max_headers: header field lines. More: 431 "too-many-headers".
 *  - max_body_bytes: Content-Length. Larger: 413 "body-too-large", before any
 *    body byte is buffered. A route may lower it per request (SrvHttpHeadFunc).
 * srv_http_parser_new() refuses 0 values and values above 1 MiB of headers,
 * 1024 headers, 64 KiB of target or 1 GiB of body. */
typedef struct {
  gsize max_header_bytes;
  guint max_headers;
  gsize max_body_bytes;
  gsize max_target_bytes;
} SrvHttpLimits;

#define SRV_HTTP_DEFAULT_MAX_HEADER_BYTES ((gsize) 8 * 1024)
#define SRV_HTTP_DEFAULT_MAX_HEADERS      50u
#define SRV_HTTP_DEFAULT_MAX_BODY_BYTES   ((gsize) 1024 * 1024)
#define SRV_HTTP_DEFAULT_MAX_TARGET_BYTES ((gsize) 2 * 1024)

void srv_http_limits_init_default(SrvHttpLimits *limits);

/* What the parser refuses (status, code):
 *  - request line other than METHOD SP origin-form SP HTTP/1.x CRLF, single
 *    spaces, nothing before it (not even an empty line): 400 bad-request-line,
 *    bad-method (not a token or > 15 bytes), bad-target (not starting with '/',
 *    absolute-form, '*', '#', bytes outside RFC 3986 pchar/'/'/'?', bad %XX),
 *    bad-version; HTTP/x.y other than 1.1 and 1.0: 505 version-not-supported;
 *    a method not in SrvHttpMethod: 501 method-not-implemented.
 *  - LF without CR: 400 bare-lf; CR without LF: 400 bare-cr; NUL anywhere in
 *    the head: 400 nul-byte.
 *  - header line starting with SP/HTAB: 400 obs-fold; no colon: bad-header;
 *    name not a token: bad-header-name; SP/HTAB before the colon:
 *    space-before-colon; CTL other than HTAB in a value: bad-header-value.
 *  - any Transfer-Encoding: 501 transfer-encoding-unsupported; more than one
 *    Content-Length (even equal): 400 duplicate-content-length; one that is not
 *    1*DIGIT: 400 bad-content-length; POST/PUT/PATCH without it: 411
 *    length-required.
 *  - HTTP/1.1 without Host: 400 missing-host; two Host: duplicate-host; empty
 *    or odd characters: bad-host. HTTP/1.0 may omit Host.
 *  - Expect other than one "100-continue": 417 expectation-failed.
 *  - the caps above: 413, 414, 431. 408 (too slow) is the event loop's. */
typedef enum {
  SRV_HTTP_NEED_MORE, /* every byte given was consumed; feed more */
  SRV_HTTP_COMPLETE,  /* one request is ready; bytes past *consumed are the next one's */
  SRV_HTTP_ERROR,     /* answer with srv_http_parser_error_status() and close */
} SrvHttpResult;

/* Methods the server implements. Any other method, including OPTIONS, TRACE and
 * CONNECT, is 501 "method-not-implemented" (the server does not implement it at
 * all); 405 for a known method on the wrong route is the router's answer. */
typedef enum {
  SRV_HTTP_METHOD_NONE = 0,
  SRV_HTTP_METHOD_GET,
  SRV_HTTP_METHOD_HEAD,
  SRV_HTTP_METHOD_POST,
  SRV_HTTP_METHOD_PUT,
  SRV_HTTP_METHOD_PATCH,
  SRV_HTTP_METHOD_DELETE,
} SrvHttpMethod;

typedef struct {
  const char *name;  /* as received (case kept), NUL-terminated, an RFC 9110 token */
  const char *value; /* leading/trailing SP and HTAB removed; no CTL but HTAB */
} SrvHttpHeader;

/* A parsed request: a read-only view into the parser's buffers, valid until the
 * next srv_http_parser_reset() or srv_http_parser_free(). */
typedef struct {
  SrvHttpMethod method;
  guint version_minor;          /* 1: HTTP/1.1, 0: HTTP/1.0 */
  const char *path;             /* raw origin-form path, starts with '/', NOT decoded */
  const char *query;            /* raw text after the first '?'; NULL when no '?' */
  const SrvHttpHeader *headers; /* in arrival order */
  guint n_headers;
  guint64 content_length;       /* 0 when the header is absent */
  const guint8 *body;           /* body_len bytes followed by a NUL (the body itself
                                 * may hold NULs); never NULL after COMPLETE, NULL
                                 * inside a SrvHttpHeadFunc */
  gsize body_len;
  gboolean keep_alive;          /* HTTP/1.1 without "Connection: close"; HTTP/1.0
                                 * is always FALSE (we do not do 1.0 keep-alive) */
  gboolean expect_continue;     /* HTTP/1.1 "Expect: 100-continue" */
} SrvHttpRequest;

typedef struct _SrvHttpParser SrvHttpParser;

/* Called once per request, inside srv_http_parser_feed(), right after the head
 * is parsed and before any body byte is buffered: @head has everything but the
 * body. Returns the body cap for this request (the route's); the parser uses the
 * smaller of it and limits.max_body_bytes, and fails with 413 when
 * head->content_length is larger. The loop may queue SRV_HTTP_CONTINUE here when
 * head->expect_continue and the length fits. */
typedef gsize (*SrvHttpHeadFunc)(const SrvHttpRequest *head, gpointer user_data);

/* "HTTP/1.1 100 Continue", for Expect: 100-continue (libcurl 7.x sends it for
 * request bodies over 1 KiB and waits a second for it). */
#define SRV_HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* NULL @limits means the defaults. Returns NULL when a limit is out of range. */
SrvHttpParser *srv_http_parser_new(const SrvHttpLimits *limits) SRV_HTTP_WUR;
void srv_http_parser_free(SrvHttpParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SrvHttpParser, srv_http_parser_free)

void srv_http_parser_set_head_func(SrvHttpParser *parser, SrvHttpHeadFunc func,
                                   gpointer user_data);

/* Buffer ownership: the caller owns @data and may reuse it as soon as this
 * returns. The parser copies the bytes it needs into buffers it owns (the head,
 * capped by the limits, grows on demand; the body is allocated once, at its
 * Content-Length) and never takes a byte beyond the end of the current request:
 *  - NEED_MORE: *consumed == len.
 *  - COMPLETE:  *consumed <= len; data[*consumed .. len) is the start of the next
 *    pipelined request and stays with the caller, who feeds it again after
 *    srv_http_parser_reset() (and after it has answered, to keep responses in
 *    order). The request view is srv_http_parser_request().
 *  - ERROR:     *consumed <= len (up to the offending byte); the connection is
 *    out of sync: send the error response with Connection: close, then close.
 * Once COMPLETE or ERROR, further calls consume nothing and return the same
 * result until srv_http_parser_reset(). */
SrvHttpResult srv_http_parser_feed(SrvHttpParser *parser, const void *data, gsize len,
                                   gsize *consumed) SRV_HTTP_WUR;

/* The finished request after COMPLETE, otherwise NULL. */
const SrvHttpRequest *srv_http_parser_request(const SrvHttpParser *parser);
/* After ERROR: the HTTP status (400, 411, 413, 414, 417, 431, 501 or 505) and a
 * short machine code ("bare-lf", "header-too-large", ...); 0 and NULL otherwise. */
guint srv_http_parser_error_status(const SrvHttpParser *parser);
const char *srv_http_parser_error_code(const SrvHttpParser *parser);
/* TRUE while no byte of a request has arrived: the loop applies its keep-alive
 * idle timeout then, and its header-time limit (408) otherwise. */
gboolean srv_http_parser_idle(const SrvHttpParser *parser);
/* Ready for the next request on the same connection (also after ERROR). Ends the
 * life of the last request view. */
void srv_http_parser_reset(SrvHttpParser *parser);

/* Case-insensitive lookup of the first header called @name; NULL when absent. */
const char *srv_http_request_header(const SrvHttpRequest *request, const char *name);
const char *srv_http_method_name(SrvHttpMethod method);

/* Percent-decodes a raw path into a new string (g_free). Fails, with *decoded
 * NULL, when the path does not start with '/', has a bad escape, a raw byte
 * outside the origin-form path characters, %00 or any other control byte, an
 * encoded '/' (%2F would change segment boundaries), a "." or ".." segment
 * (raw or encoded), or is not UTF-8 once decoded. */
gboolean srv_http_path_decode(const char *path, char **decoded) SRV_HTTP_WUR;

/* The reason phrase of a status the server may send, or NULL. */
const char *srv_http_status_reason(guint status);

/* IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (29 chars + NUL), UTC. */
#define SRV_HTTP_DATE_SIZE 30
void srv_http_format_date(gint64 unix_seconds, char out[SRV_HTTP_DATE_SIZE]);

typedef enum {
  SRV_HTTP_WRITE_CLOSE = 0,
  SRV_HTTP_WRITE_KEEP_ALIVE = 1 << 0, /* "Connection: keep-alive", else "close" */
  SRV_HTTP_WRITE_HEAD = 1 << 1,       /* answer to HEAD: headers for @len, no body */
} SrvHttpWriteFlags;

/* Appends one response to @out: status line, Date (now, UTC), Content-Type (when
 * @content_type is not NULL), Content-Length (not for 204/304), Connection,
 * Cache-Control: no-store, X-Content-Type-Options: nosniff, then @extra_headers
 * (NULL or a NULL-terminated list of name, value, name, value...), then the body.
 * Returns FALSE, leaving @out unchanged, for a status without a reason phrase or
 * below 200, a body on 204/304, a name that is not a token or is one of the
 * headers written here, or a value with a control byte (no header injection). */
gboolean srv_http_response_write(GString *out, guint status, const char *content_type,
                                 const void *body, gsize len, SrvHttpWriteFlags flags,
                                 const char *const *extra_headers) SRV_HTTP_WUR;

/* The one JSON error body for every 4xx/5xx (g_free):
 *   {"error":{"status":431,"code":"header-too-large","message":"..."}}
 * @message NULL means the reason phrase. Strings are JSON-escaped (and '<', '>',
 * '&' as \u00XX); invalid UTF-8 is replaced with U+FFFD. */
char *srv_http_error_body(guint status, const char *code, const char *message);

/* An error response with srv_http_error_body() as application/json. */
gboolean srv_http_error_response_write(GString *out, guint status, const char *code,
                                       const char *message,
                                       SrvHttpWriteFlags flags) SRV_HTTP_WUR;
