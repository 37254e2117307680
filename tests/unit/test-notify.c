/* Staff notifications without I/O: HMAC and webhook signatures, the retry
 * policy, RFC 2047 headers and RFC 5322 dates, the e-mail message, rendering in
 * Japanese and English for each channel (with escaping), and the checks on
 * settings, targets, secrets and SMTP credentials. */
#include <string.h>

#include "gk-json.h"
#include "srv-notify.h"

/* 2026-11-22 00:00:00 UTC */
#define AT ((gint64) 1795305600)

static char *
hex(const guint8 *data, gsize len)
{
  return gk_hex_encode(data, len);
}

/* ---- signatures ------------------------------------------------------------------- */

static void
test_hmac_rfc4231(void)
{
  guint8 mac[32];
  /* RFC 4231 test case 2. */
  const char *data = "what do ya want for nothing?";
  srv_notify_hmac_sha256((const guint8 *) "Jefe", 4, (const guint8 *) data, strlen(data), mac);
  g_autofree char *h = hex(mac, 32);
  g_assert_cmpstr(h, ==, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  /* Test case 6: a key longer than the block is hashed first. */
  guint8 key[131];
  memset(key, 0xaa, sizeof key);
  const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  srv_notify_hmac_sha256(key, sizeof key, (const guint8 *) data6, strlen(data6), mac);
  g_autofree char *h6 = hex(mac, 32);
  g_assert_cmpstr(h6, ==, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void
test_signature(void)
{
  const char *body = "{\"id\":\"ntf-1\"}";
  g_autofree char *sig = srv_notify_signature("whsec-0123456789abcdef", 1700000000, body, strlen(body));
  g_assert_true(g_str_has_prefix(sig, "t=1700000000,v1="));
  g_assert_cmpuint(strlen(sig), ==, strlen("t=1700000000,v1=") + 64);
  /* The MAC is over "timestamp." followed by the body, keyed with the secret. */
  g_autofree char *signed_text = g_strconcat("1700000000.", body, NULL);
  guint8 mac[32];
  srv_notify_hmac_sha256((const guint8 *) "whsec-0123456789abcdef", 22, (const guint8 *) signed_text,
                         strlen(signed_text), mac);
  g_autofree char *want = hex(mac, 32);
  g_assert_cmpstr(sig + strlen("t=1700000000,v1="), ==, want);
  /* Any change to body, time or secret changes it. */
  g_autofree char *other_body = srv_notify_signature("whsec-0123456789abcdef", 1700000000, "{\"id\":\"ntf-2\"}", 14);
  g_autofree char *other_time = srv_notify_signature("whsec-0123456789abcdef", 1700000001, body, strlen(body));
  g_autofree char *other_key = srv_notify_signature("whsec-0123456789abcdeF", 1700000000, body, strlen(body));
  g_assert_cmpstr(sig + 16, !=, other_body + 16);
  g_assert_cmpstr(sig + 16, !=, other_time + 16);
  g_assert_cmpstr(sig + 16, !=, other_key + 16);
}

/* ---- retries ------------------------------------------------------------------------ */

static void
test_backoff(void)
{
  SrvNotifyRetry p = { .base_s = 10, .max_s = 1800, .give_up_s = 86400 };
  /* Equal jitter: between half the delay and the whole of it. */
  g_assert_cmpint(srv_notify_backoff(&p, 1, 0), ==, 5);
  g_assert_cmpint(srv_notify_backoff(&p, 1, 5), ==, 10);
  g_assert_cmpint(srv_notify_backoff(&p, 1, 6), ==, 5);  /* random wraps within the half */
  g_assert_cmpint(srv_notify_backoff(&p, 2, 0), ==, 10);
  g_assert_cmpint(srv_notify_backoff(&p, 2, 10), ==, 20);
  g_assert_cmpint(srv_notify_backoff(&p, 3, 0), ==, 20);
  /* Capped, and never overflowing however many attempts. */
  g_assert_cmpint(srv_notify_backoff(&p, 9, 0), ==, 900);
  g_assert_cmpint(srv_notify_backoff(&p, 9, 900), ==, 1800);
  g_assert_cmpint(srv_notify_backoff(&p, 1000, G_MAXUINT32), <=, 1800);
  g_assert_cmpint(srv_notify_backoff(&p, 1000, G_MAXUINT32), >=, 900);
  for (guint32 r = 0; r < 5000; r += 7) {
    gint64 d = srv_notify_backoff(&p, 4, r);
    g_assert_cmpint(d, >=, 40);
    g_assert_cmpint(d, <=, 80);
  }
  SrvNotifyRetry tiny = { .base_s = 1, .max_s = 1, .give_up_s = 10 };
  g_assert_cmpint(srv_notify_backoff(&tiny, 1, 0), ==, 1);
  g_assert_cmpint(srv_notify_backoff(&tiny, 50, 12345), ==, 1);
}

static void
test_next_attempt(void)
{
  SrvNotifyRetry p = { .base_s = 10, .max_s = 1800, .give_up_s = 86400 };
  gint64 start = 1000, next = 0;
  g_assert_true(srv_notify_next_attempt(&p, 1, start, start + 1, 0, 0, &next));
  g_assert_cmpint(next, ==, start + 1 + 5);
  /* A receiver's Retry-After is honoured, up to the longest delay. */
  g_assert_true(srv_notify_next_attempt(&p, 1, start, start + 1, 120, 0, &next));
  g_assert_cmpint(next, ==, start + 1 + 120);
  g_assert_true(srv_notify_next_attempt(&p, 1, start, start + 1, 999999, 0, &next));
  g_assert_cmpint(next, ==, start + 1 + 1800);
  /* Near the end of the window: one last attempt right at its end... */
  g_assert_true(srv_notify_next_attempt(&p, 30, start, start + 86400 - 5, 0, 0, &next));
  g_assert_cmpint(next, ==, start + 86400);
  /* ...and after it, give up. */
  g_assert_false(srv_notify_next_attempt(&p, 31, start, start + 86400, 0, 0, &next));
  g_assert_false(srv_notify_next_attempt(&p, 31, start, start + 100000, 0, 0, &next));
}

/* ---- MIME ---------------------------------------------------------------------------- */

/* Decodes a header made of encoded words (or plain text) back to UTF-8. */
static char *
decode_header(const char *value)
{
  if (!g_str_has_prefix(value, "=?UTF-8?B?"))
    return g_strdup(value);
  g_auto(GStrv) words = g_strsplit(value, "\r\n ", -1);
  GString *out = g_string_new(NULL);
  for (guint i = 0; words[i] != NULL; i++) {
    const char *w = words[i];
    g_assert_true(g_str_has_prefix(w, "=?UTF-8?B?"));
    g_assert_true(g_str_has_suffix(w, "?="));
    g_assert_cmpuint(strlen(w), <=, 75);
    g_autofree char *b64 = g_strndup(w + 10, strlen(w) - 12);
    gsize len = 0;
    g_autofree guchar *raw = g_base64_decode(b64, &len);
    /* Each word is whole UTF-8 characters on its own. */
    g_assert_true(g_utf8_validate((const char *) raw, (gssize) len, NULL));
    g_string_append_len(out, (const char *) raw, (gssize) len);
  }
  return g_string_free(out, FALSE);
}

static void
test_mime_header(void)
{
  static const char *const cases[] = {
    "Visitor arrived: Taro",
    "来訪: 鈴木 花子 様が到着しました",
    "来訪: 鈴木 花子 (Hanako Suzuki) with a rather long name that needs folding over several lines 様",
    "a =?UTF-8?B?Zm9v?= lookalike",
    "tab\tand\x7f control",
    "x",
    "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *h = srv_notify_mime_header(cases[i]);
    g_autofree char *back = decode_header(h);
    g_assert_cmpstr(back, ==, cases[i]);
    /* "Subject: " and any line of the folded value fit in 76 characters. */
    g_auto(GStrv) lines = g_strsplit(h, "\r\n", -1);
    for (guint k = 0; lines[k] != NULL; k++)
      g_assert_cmpuint(strlen(lines[k]) + (k == 0 ? strlen("Subject: ") : 0), <=, 76);
    /* Folding is CRLF and a space, nothing else. */
    for (const char *p = strchr(h, '\n'); p != NULL; p = strchr(p + 1, '\n'))
      g_assert_true(p[-1] == '\r' && p[1] == ' ');
  }
  g_autofree char *plain = srv_notify_mime_header("Visitor arrived: Taro");
  g_assert_cmpstr(plain, ==, "Visitor arrived: Taro");
  g_autofree char *lookalike = srv_notify_mime_header("a =?UTF-8?B?Zm9v?= lookalike");
  g_assert_true(g_str_has_prefix(lookalike, "=?UTF-8?B?"));
}

static void
test_rfc5322_date(void)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(AT);
  g_autoptr(GTimeZone) tokyo = g_time_zone_new_identifier("+09:00");
  g_autoptr(GTimeZone) west = g_time_zone_new_identifier("-05:30");
  g_autoptr(GDateTime) t1 = g_date_time_to_timezone(utc, tokyo);
  g_autoptr(GDateTime) t2 = g_date_time_to_timezone(utc, west);
  g_autofree char *d0 = srv_notify_rfc5322_date(utc);
  g_autofree char *d1 = srv_notify_rfc5322_date(t1);
  g_autofree char *d2 = srv_notify_rfc5322_date(t2);
  g_assert_cmpstr(d0, ==, "Sun, 22 Nov 2026 00:00:00 +0000");
  g_assert_cmpstr(d1, ==, "Sun, 22 Nov 2026 09:00:00 +0900");
  g_assert_cmpstr(d2, ==, "Sat, 21 Nov 2026 18:30:00 -0530");
}

/* ---- rendering -------------------------------------------------------------------------- */

typedef struct {
  JsonNode *facts;
  GTimeZone *tz;
  SrvNotifyMessage m;
} Msg;

static void
msg_init(Msg *msg, const char *kind, const char *language, const char *facts_json)
{
  msg->facts = gk_json_parse_object(facts_json, strlen(facts_json), 1 << 16, NULL);
  g_assert_nonnull(msg->facts);
  msg->tz = g_time_zone_new_identifier("+09:00");
  msg->m = (SrvNotifyMessage){
    .id = "ntf-0123456789abcdef0123456789abcdef",
    .kind = kind,
    .language = language,
    .site_id = 1,
    .created_at = AT,
    .facts = json_node_get_object(msg->facts),
    .tz = msg->tz,
  };
}

static void
msg_clear(Msg *msg)
{
  json_node_unref(msg->facts);
  g_time_zone_unref(msg->tz);
}

#define CHECKIN_FACTS                                                                                   \
  "{\"visitor\":\"鈴木 花子\",\"company\":\"ACME\",\"host\":\"山田\",\"location\":\"1F 受付\","             \
  "\"device_id\":\"dev-1\",\"at\":1795305600,\"ticket_id\":\"0123456789abcdef0123456789abcdef\"}"

static void
test_render_languages(void)
{
  Msg ja, en, bare;
  msg_init(&ja, "checkin", "ja", CHECKIN_FACTS);
  msg_init(&en, "checkin", "en", CHECKIN_FACTS);
  msg_init(&bare, "checkin", "en", "{\"visitor\":\"Taro\",\"location\":\"Lobby\",\"at\":1795305600}");
  g_autofree char *ja_subject = srv_notify_subject(&ja.m);
  g_autofree char *ja_text = srv_notify_text(&ja.m);
  g_autofree char *en_text = srv_notify_text(&en.m);
  g_autofree char *bare_text = srv_notify_text(&bare.m);
  g_assert_cmpstr(ja_subject, ==, "来訪: 鈴木 花子 様が到着しました");
  g_assert_cmpstr(ja_text, ==, "ACME 鈴木 花子 様が1F 受付に到着しました（山田 さん宛て）。到着時刻: 2026-11-22 09:00 +09:00");
  g_assert_cmpstr(en_text, ==, "鈴木 花子 (ACME) has arrived at 1F 受付 to see 山田 (2026-11-22 09:00 +09:00).");
  /* Missing facts drop their whole optional phrase, no stray brackets. */
  g_assert_cmpstr(bare_text, ==, "Taro has arrived at Lobby (2026-11-22 09:00 +09:00).");
  msg_clear(&ja);
  msg_clear(&en);
  msg_clear(&bare);

  static const char *const kinds[][3] = {
    { "walkin", "ja", "お待ちです" },
    { "walkin", "en", "is waiting at 1F 受付 for 山田" },
    { "double-entry", "ja", "二重入場" },
    { "double-entry", "en", "was admitted twice: at 1F 受付" },
    { "device-offline", "ja", "サーバーに接続していません" },
    { "device-offline", "en", "1F 受付 (dev-1) has not been in touch since 2026-11-22 09:00" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
    Msg m;
    msg_init(&m, kinds[i][0], kinds[i][1], CHECKIN_FACTS);
    g_autofree char *text = srv_notify_text(&m.m);
    if (strstr(text, kinds[i][2]) == NULL)
      g_error("%s/%s: '%s' lacks '%s'", kinds[i][0], kinds[i][1], text, kinds[i][2]);
    g_autofree char *subject = srv_notify_subject(&m.m);
    g_assert_cmpuint(strlen(subject), >, 0);
    msg_clear(&m);
  }
}

static void
test_slack_escaping(void)
{
  Msg m;
  msg_init(&m, "checkin", "en",
           "{\"visitor\":\"<!channel> Eve & <https://evil|click>\",\"location\":\"Lobby\",\"at\":1795305600}");
  g_autofree char *body = srv_notify_slack_body(&m.m);
  g_autoptr(JsonNode) n = gk_json_parse_object(body, strlen(body), 1 << 16, NULL);
  g_assert_nonnull(n);
  JsonObject *o = json_node_get_object(n);
  g_assert_cmpuint(json_object_get_size(o), ==, 1);
  const char *text = json_object_get_string_member(o, "text");
  g_assert_null(strchr(text, '<'));
  g_assert_null(strchr(text, '>'));
  g_assert_nonnull(strstr(text, "&lt;!channel&gt; Eve &amp; &lt;https://evil|click&gt;"));
  msg_clear(&m);
}

static void
test_teams_card(void)
{
  Msg m;
  msg_init(&m, "double-entry", "ja",
           "{\"visitor\":\"[x](https://evil) *bold*\",\"location\":\"Gate 1\",\"first_location\":\"Gate 2\","
           "\"ticket_id\":\"00ff\",\"at\":1795305600}");
  g_autofree char *body = srv_notify_teams_body(&m.m);
  g_autoptr(JsonNode) n = gk_json_parse_object(body, strlen(body), 1 << 16, NULL);
  g_assert_nonnull(n);
  JsonObject *o = json_node_get_object(n);
  g_assert_cmpstr(json_object_get_string_member(o, "@type"), ==, "MessageCard");
  g_assert_cmpstr(json_object_get_string_member(o, "@context"), ==, "https://schema.org/extensions");
  g_assert_cmpstr(json_object_get_string_member(o, "themeColor"), ==, "D83B01");  /* an alert */
  const char *text = json_object_get_string_member(o, "text");
  g_assert_null(strstr(text, "[x](https"));
  g_assert_nonnull(strstr(text, "\\[x\\]\\(https://evil\\) \\*bold\\*"));
  JsonArray *sections = json_object_get_array_member(o, "sections");
  JsonArray *facts = json_object_get_array_member(json_array_get_object_element(sections, 0), "facts");
  g_assert_cmpuint(json_array_get_length(facts), >=, 3);
  g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(facts, 0), "name"), ==, "来訪者");
  msg_clear(&m);
}

static void
test_webhook_body(void)
{
  Msg m;
  msg_init(&m, "checkin", "en", CHECKIN_FACTS);
  g_autofree char *body = srv_notify_webhook_body(&m.m);
  g_autoptr(JsonNode) n = gk_json_parse_object(body, strlen(body), 1 << 16, NULL);
  g_assert_nonnull(n);
  JsonObject *o = json_node_get_object(n);
  g_assert_cmpstr(json_object_get_string_member(o, "id"), ==, "ntf-0123456789abcdef0123456789abcdef");
  g_assert_cmpstr(json_object_get_string_member(o, "type"), ==, "visitor.checked_in");
  g_assert_cmpint(json_object_get_int_member(o, "created_at"), ==, AT);
  g_assert_cmpint(json_object_get_int_member(o, "site_id"), ==, 1);
  JsonObject *data = json_object_get_object_member(o, "data");
  g_assert_cmpstr(json_object_get_string_member(data, "visitor"), ==, "鈴木 花子");
  g_assert_cmpint(json_object_get_int_member(data, "at"), ==, AT);
  g_assert_nonnull(strstr(json_object_get_string_member(o, "text"), "has arrived"));
  g_assert_cmpstr(srv_notify_event_type("device-offline"), ==, "device.offline");
  g_assert_cmpstr(srv_notify_event_type("walkin"), ==, "visitor.waiting");
  msg_clear(&m);
}

static void
test_email_message(void)
{
  Msg m;
  msg_init(&m, "checkin", "ja", CHECKIN_FACTS);
  g_autofree char *mail = srv_notify_email(&m.m, "genkan@example.co.jp", "yamada@example.com", AT);
  /* CRLF only, header lines within 78 characters, header and body apart. */
  for (const char *p = mail; *p; p++)
    if (*p == '\n')
      g_assert_cmpint(p[-1], ==, '\r');
  char *sep = strstr(mail, "\r\n\r\n");
  g_assert_nonnull(sep);
  g_autofree char *head = g_strndup(mail, (gsize) (sep - mail));
  g_auto(GStrv) lines = g_strsplit(head, "\r\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    g_assert_cmpuint(strlen(lines[i]), <=, 78);
  g_assert_nonnull(strstr(head, "From: genkan@example.co.jp\r\n"));
  g_assert_nonnull(strstr(head, "To: yamada@example.com\r\n"));
  g_assert_nonnull(strstr(head, "Subject: =?UTF-8?B?"));
  g_assert_nonnull(strstr(head, "Date: Sun, 22 Nov 2026 09:00:00 +0900\r\n"));
  g_assert_nonnull(strstr(head, "Message-ID: <ntf-0123456789abcdef0123456789abcdef@example.co.jp>\r\n"));
  g_assert_nonnull(strstr(head, "MIME-Version: 1.0\r\n"));
  g_assert_nonnull(strstr(head, "Content-Type: text/plain; charset=UTF-8\r\n"));
  g_assert_nonnull(strstr(head, "Content-Transfer-Encoding: base64\r\n"));
  /* The body decodes to the Japanese text. */
  g_autofree char *b64 = g_strdup(sep + 4);
  g_auto(GStrv) b64_lines = g_strsplit(b64, "\r\n", -1);
  g_autofree char *joined = g_strjoinv("", b64_lines);
  gsize len = 0;
  g_autofree guchar *text = g_base64_decode(joined, &len);
  g_autofree char *body = g_strndup((const char *) text, len);
  g_assert_true(g_utf8_validate(body, -1, NULL));
  g_assert_nonnull(strstr(body, "ACME 鈴木 花子 様が1F 受付に到着しました"));
  /* The subject decodes back. */
  char *subject_line = strstr(head, "Subject: ") + 9;
  char *end = strstr(subject_line, "\r\nDate:");
  g_autofree char *subject_value = g_strndup(subject_line, (gsize) (end - subject_line));
  g_autofree char *subject = decode_header(subject_value);
  g_assert_cmpstr(subject, ==, "来訪: 鈴木 花子 様が到着しました");
  msg_clear(&m);
}

/* ---- settings and their checks ------------------------------------------------------------- */

static void
test_targets(void)
{
  static const char *const good[][2] = {
    { "email", "yamada@example.com" },
    { "email", "a.b+c@sub.example.co.jp" },
    { "slack", "https://hooks.slack.com/services/T0/B0/x" },
    { "teams", "https://example.webhook.office.com/webhookb2/x" },
    { "webhook", "https://hooks.example.com:8443/genkan?x=1" },
    { "webhook", "http://127.0.0.1:9000/hook" },
    { "webhook", "http://localhost/hook" },
    { "webhook", "http://[::1]:9000/hook" },
  };
  static const char *const bad[][2] = {
    { "email", "no-at-sign" },
    { "email", "two@@example.com" },
    { "email", "sp ace@example.com" },
    { "email", "x@-example.com" },
    { "email", "x@example..com" },
    { "email", "\"quoted\"@example.com" },
    { "email", "a@example.com\r\nBcc: evil@example.com" },
    { "webhook", "http://hooks.example.com/x" },
    { "webhook", "http://10.0.0.1/x" },
    { "webhook", "ftp://hooks.example.com/x" },
    { "webhook", "https://user:pw@hooks.example.com/x" },
    { "webhook", "https://hooks.example.com/x#frag" },
    { "webhook", "https://hooks.example.com/a b" },
    { "webhook", "https:///nohost" },
    { "webhook", "hooks.example.com/x" },
    { "slack", "https://hooks.slack.com/ü" },
    { "none", "https://hooks.example.com/x" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autoptr(GError) error = NULL;
    if (!srv_notify_target_check(good[i][0], good[i][1], &error))
      g_error("%s %s refused: %s", good[i][0], good[i][1], error->message);
  }
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    if (srv_notify_target_check(bad[i][0], bad[i][1], &error))
      g_error("%s %s accepted", bad[i][0], bad[i][1]);
    g_assert_error(error, SRV_NOTIFY_ERROR, SRV_NOTIFY_ERROR_INVALID);
  }
  g_autofree char *shown = srv_notify_target_display("slack", "https://hooks.slack.com/services/T0/B0/x");
  g_assert_cmpstr(shown, ==, "https://hooks.slack.com/…");
  g_autofree char *port = srv_notify_target_display("teams", "https://x.example.com:8443/secret/path");
  g_assert_cmpstr(port, ==, "https://x.example.com:8443/…");
  g_autofree char *kept = srv_notify_target_display("webhook", "https://hooks.example.com/genkan");
  g_assert_cmpstr(kept, ==, "https://hooks.example.com/genkan");
}

static void
test_secrets(void)
{
  g_autofree char *a = srv_notify_secret_generate();
  g_autofree char *b = srv_notify_secret_generate();
  g_assert_true(g_str_has_prefix(a, "gks_"));
  g_assert_cmpuint(strlen(a), ==, 47);
  g_assert_cmpstr(a, !=, b);
  g_assert_true(srv_notify_secret_check(a, NULL));
  g_assert_false(srv_notify_secret_check("short", NULL));
  g_assert_false(srv_notify_secret_check("has a space in it ok?", NULL));
  g_assert_false(srv_notify_secret_check("0123456789abcdef\x01", NULL));
  g_autofree char *long_secret = g_strnfill(SRV_NOTIFY_SECRET_MAX + 1, 'x');
  g_assert_false(srv_notify_secret_check(long_secret, NULL));
}

static void
test_credentials(void)
{
  char *user = NULL, *pw = NULL;
  g_assert_true(srv_notify_credentials_parse((const guint8 *) "relay\npa:ss w0rd\n", 17, &user, &pw, NULL));
  g_assert_cmpstr(user, ==, "relay");
  g_assert_cmpstr(pw, ==, "pa:ss w0rd");
  g_free(user);
  g_free(pw);
  g_assert_true(srv_notify_credentials_parse((const guint8 *) "u\np", 3, &user, &pw, NULL));
  g_assert_cmpstr(pw, ==, "p");
  g_free(user);
  g_free(pw);
  static const char *const bad[] = { "", "user", "user\n", "\npass", "u\np\nx", "u\r\np", "u\n\n", "u\np\n\n" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_false(srv_notify_credentials_parse((const guint8 *) bad[i], strlen(bad[i]), &user, &pw, &error));
    g_assert_error(error, SRV_NOTIFY_ERROR, SRV_NOTIFY_ERROR_INVALID);
    g_assert_null(user);
    g_assert_null(pw);
  }
  g_assert_false(srv_notify_credentials_parse((const guint8 *) "u\0x\np", 5, &user, &pw, NULL));
}

static void
test_request_parse(void)
{
  static const char *const good[][2] = {
    { "host", "{\"host\":\"12\",\"channel\":\"email\"}" },
    { "host", "{\"host\":\"山田\",\"channel\":\"webhook\",\"target\":\"https://h.example.com/x\","
              "\"secret\":\"0123456789abcdef\",\"language\":\"en\"}" },
    { "default", "{\"channel\":\"email\"}" },
    { "default", "{\"channel\":\"none\"}" },
    { "security", "{\"channel\":\"teams\",\"target\":\"https://t.example.com/x\"}" },
    { "admins", "{\"channel\":\"slack\",\"target\":\"https://s.example.com/x\",\"offline_after_s\":600}" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
    SrvNotifyRequest r;
    g_autoptr(GError) error = NULL;
    if (!srv_notify_request_parse(good[i][0], good[i][1], strlen(good[i][1]), &r, &error))
      g_error("good %u refused: %s", i, error->message);
    g_assert_nonnull(r.channel);
    g_assert_nonnull(r.language);
    srv_notify_request_clear(&r);
  }
  SrvNotifyRequest r;
  const char *admins = "{\"channel\":\"slack\",\"target\":\"https://s.example.com/x\",\"offline_after_s\":600}";
  g_assert_true(srv_notify_request_parse("admins", admins, strlen(admins), &r, NULL));
  g_assert_cmpint(r.offline_after_s, ==, 600);
  g_assert_cmpstr(r.language, ==, "ja");
  srv_notify_request_clear(&r);

  static const char *const bad[][2] = {
    { "nowhere", "{\"channel\":\"none\"}" },
    { "host", "{\"channel\":\"none\"}" },
    { "default", "{\"host\":\"1\",\"channel\":\"none\"}" },
    { "default", "{\"channel\":\"pager\"}" },
    { "default", "{\"channel\":\"none\",\"language\":\"de\"}" },
    { "default", "{\"channel\":\"none\",\"target\":\"a@example.com\"}" },
    { "default", "{\"channel\":\"slack\"}" },
    { "security", "{\"channel\":\"email\"}" },
    { "default", "{\"channel\":\"slack\",\"target\":\"https://s.example.com/x\",\"secret\":\"0123456789abcdef\"}" },
    { "default", "{\"channel\":\"webhook\",\"target\":\"https://s.example.com/x\",\"secret\":\"tiny\"}" },
    { "default", "{\"channel\":\"slack\",\"target\":\"https://s.example.com/x\",\"offline_after_s\":5}" },
    { "admins", "{\"channel\":\"slack\",\"target\":\"https://s.example.com/x\",\"offline_after_s\":99999999}" },
    { "default", "{\"channel\":\"slack\",\"target\":\"https://s.example.com/x\",\"extra\":1}" },
    { "default", "{\"channel\":1}" },
    { "default", "[\"channel\"]" },
    { "default", "{\"channel\":" },
    { "default", "" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    if (srv_notify_request_parse(bad[i][0], bad[i][1], strlen(bad[i][1]), &r, &error))
      g_error("bad %u (%s) accepted", i, bad[i][1]);
    g_assert_nonnull(error);
    g_assert_null(r.channel);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/notify/hmac-rfc4231", test_hmac_rfc4231);
  g_test_add_func("/notify/signature", test_signature);
  g_test_add_func("/notify/backoff", test_backoff);
  g_test_add_func("/notify/next-attempt", test_next_attempt);
  g_test_add_func("/notify/mime-header", test_mime_header);
  g_test_add_func("/notify/rfc5322-date", test_rfc5322_date);
  g_test_add_func("/notify/render-languages", test_render_languages);
  g_test_add_func("/notify/slack-escaping", test_slack_escaping);
  g_test_add_func("/notify/teams-card", test_teams_card);
  g_test_add_func("/notify/webhook-body", test_webhook_body);
  g_test_add_func("/notify/email-message", test_email_message);
  g_test_add_func("/notify/targets", test_targets);
  g_test_add_func("/notify/secrets", test_secrets);
  g_test_add_func("/notify/credentials", test_credentials);
  g_test_add_func("/notify/request-parse", test_request_parse);
  return g_test_run();
}
