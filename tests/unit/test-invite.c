/* Invitation e-mails without I/O: the visitor's address check, the QR code as a
 * PNG in memory (read back by zbar), and the multipart/related message taken
 * apart here as a mail client would: headers, boundaries, the UTF-8 text and
 * HTML parts in Japanese and English, the inline image and its Content-ID. */
#include <glib/gstdio.h>
#include <string.h>

#include "gk-json.h"
#include "gk-qr.h"
#include "gk-store.h"
#include "gk-test-util.h"
#include "kiosk-scanner.h"
#include "srv-invite.h"
#include "srv-outbox.h"
#include "srv-store-private.h"
#include "srv-store.h"

/* 2026-11-22 00:00:00 UTC */
#define AT ((gint64) 1795305600)
#define ID "ntf-0123456789abcdef0123456789abcdef"
#define FROM "genkan@example.co.jp"
#define TO "guest@example.com"
#define CODE "01234567"

#define FACTS                                                                                                  \
  "{\"visitor\":\"鈴木 花子 <b>&\",\"company\":\"ACME\",\"host\":\"山田 太郎\",\"site\":\"本社\","             \
  "\"valid_from\":1795309200,\"valid_until\":1795316400,\"ticket_id\":\"0123456789abcdef0123456789abcdef\"}"

static const char base45[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/* A ticket-like QR text of @n base45 characters after "GK1:". */
static char *
ticket_text(guint n, guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
  GString *s = g_string_new("GK1:");
  for (guint i = 0; i < n; i++)
    g_string_append_c(s, base45[g_rand_int_range(rand, 0, (gint32) strlen(base45))]);
  return g_string_free(s, FALSE);
}

typedef struct {
  JsonNode *facts;
  JsonNode *secrets;
  GTimeZone *tz;
  SrvNotifyMessage m;
} Msg;

static void
msg_init(Msg *msg, const char *language, const char *secrets_json)
{
  msg->facts = gk_json_parse_object(FACTS, strlen(FACTS), 1 << 16, NULL);
  msg->secrets = secrets_json != NULL ? gk_json_parse_object(secrets_json, strlen(secrets_json), 1 << 16, NULL) : NULL;
  g_assert_nonnull(msg->facts);
  g_assert_true(secrets_json == NULL || msg->secrets != NULL);
  msg->tz = g_time_zone_new_identifier("Asia/Tokyo");
  msg->m = (SrvNotifyMessage){
    .id = ID,
    .kind = "invitation",
    .language = language,
    .site_id = 1,
    .created_at = AT,
    .facts = json_node_get_object(msg->facts),
    .secrets = msg->secrets != NULL ? json_node_get_object(msg->secrets) : NULL,
    .tz = msg->tz,
  };
}

static void
msg_clear(Msg *msg)
{
  json_node_unref(msg->facts);
  if (msg->secrets != NULL)
    json_node_unref(msg->secrets);
  g_time_zone_unref(msg->tz);
}

/* ---- a small MIME reader ------------------------------------------------------------ */

typedef struct {
  char *head;  /* header lines, CRLF-separated, unfolded */
  char *body;
} Part;

static void
part_free(Part *p)
{
  g_free(p->head);
  g_free(p->body);
  g_free(p);
}

static Part *
part_parse(const char *text)
{
  const char *sep = strstr(text, "\r\n\r\n");
  g_assert_nonnull(sep);
  Part *p = g_new0(Part, 1);
  g_autofree char *head = g_strndup(text, (gsize) (sep - text));
  g_autoptr(GRegex) fold = g_regex_new("\r\n[ \t]+", 0, 0, NULL);
  p->head = g_regex_replace_literal(fold, head, -1, 0, " ", 0, NULL);
  p->body = g_strdup(sep + 4);
  return p;
}

/* The value of header @name (unfolded), or NULL. */
static char *
header(const Part *p, const char *name)
{
  g_auto(GStrv) lines = g_strsplit(p->head, "\r\n", -1);
  g_autofree char *prefix = g_strconcat(name, ": ", NULL);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_ascii_strncasecmp(lines[i], prefix, strlen(prefix)) == 0)
      return g_strdup(lines[i] + strlen(prefix));
  return NULL;
}

/* The boundary parameter of a multipart Content-Type. */
static char *
boundary_of(const Part *p)
{
  g_autofree char *type = header(p, "Content-Type");
  g_assert_nonnull(type);
  const char *b = strstr(type, "boundary=\"");
  g_assert_nonnull(b);
  b += strlen("boundary=\"");
  const char *end = strchr(b, '"');
  g_assert_nonnull(end);
  return g_strndup(b, (gsize) (end - b));
}

/* The body parts of multipart @p (RFC 2046: the body starts with the first
 * delimiter, each next one follows a CRLF, the last one ends in "--"). */
static GPtrArray *
children(const Part *p)
{
  g_autofree char *boundary = boundary_of(p);
  g_autofree char *first = g_strconcat("--", boundary, "\r\n", NULL);
  g_autofree char *next = g_strconcat("\r\n--", boundary, NULL);
  g_assert_true(g_str_has_prefix(p->body, first));
  GPtrArray *parts = g_ptr_array_new_with_free_func((GDestroyNotify) part_free);
  const char *at = p->body + strlen(first);
  for (;;) {
    const char *end = strstr(at, next);
    g_assert_nonnull(end);
    g_autofree char *text = g_strndup(at, (gsize) (end - at));
    g_ptr_array_add(parts, part_parse(text));
    at = end + strlen(next);
    if (g_str_has_prefix(at, "--"))
      break;
    g_assert_true(g_str_has_prefix(at, "\r\n"));
    at += 2;
  }
  /* The close delimiter ends the body: no epilogue of ours (an inner part's
   * last CRLF belongs to the outer delimiter). */
  g_assert_true(strcmp(at, "--") == 0 || strcmp(at, "--\r\n") == 0);
  return parts;
}

static GBytes *
base64_body(const Part *p)
{
  g_autofree char *cte = header(p, "Content-Transfer-Encoding");
  g_assert_cmpstr(cte, ==, "base64");
  g_auto(GStrv) lines = g_strsplit(p->body, "\r\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    g_assert_cmpuint(strlen(lines[i]), <=, 76);
  g_autofree char *joined = g_strjoinv("", lines);
  gsize len = 0;
  guchar *raw = g_base64_decode(joined, &len);
  return g_bytes_new_take(raw, len);
}

static char *
text_body(const Part *p)
{
  g_autoptr(GBytes) raw = base64_body(p);
  gsize len = 0;
  const char *data = g_bytes_get_data(raw, &len);
  g_assert_true(g_utf8_validate(data, (gssize) len, NULL));
  char *text = g_strndup(data, len);
  /* Canonical text: CRLF line ends only. */
  for (const char *c = text; *c; c++)
    if (*c == '\n')
      g_assert_cmpint(c > text ? c[-1] : 0, ==, '\r');
  return text;
}

/* zbar's reading of PNG bytes. */
static char *
scan_png(GBytes *png)
{
  g_autofree char *dir = gk_test_make_tmpdir("test-invite");
  g_autofree char *path = g_build_filename(dir, "qr.png", NULL);
  gsize len = 0;
  const char *data = g_bytes_get_data(png, &len);
  g_assert_true(g_file_set_contents(path, data, (gssize) len, NULL));
  char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_scan_image_file(path, &text, &error));
  g_assert_no_error(error);
  gk_test_rmtree(dir);
  return text;
}

/* Takes @mail apart, checking its shape; returns the text, HTML and image. */
static void
dissect(const char *mail, char **out_text, char **out_html, GBytes **out_png, char **out_subject)
{
  /* 7-bit, CRLF only, no line over 78 characters. */
  g_auto(GStrv) lines = g_strsplit(mail, "\r\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_assert_cmpuint(strlen(lines[i]), <=, 78);
    g_assert_null(strchr(lines[i], '\n'));
    for (const char *c = lines[i]; *c; c++)
      g_assert_true(*c > 0 && *c < 0x7f);
  }
  Part *top = part_parse(mail);
  g_autofree char *type = header(top, "Content-Type");
  g_autofree char *expected = g_strdup_printf("multipart/related; boundary=\"=_gk_rel_" ID "\"; "
                                              "type=\"multipart/alternative\"");
  g_assert_cmpstr(type, ==, expected);
  g_autofree char *mime = header(top, "MIME-Version");
  g_assert_cmpstr(mime, ==, "1.0");
  g_autofree char *mid = header(top, "Message-ID");
  g_assert_cmpstr(mid, ==, "<" ID "@example.co.jp>");
  g_autofree char *key = header(top, "Genkan-Idempotency-Key");
  g_assert_cmpstr(key, ==, ID);
  g_autofree char *to = header(top, "To");
  g_assert_cmpstr(to, ==, TO);
  *out_subject = header(top, "Subject");

  g_autoptr(GPtrArray) related = children(top);
  g_assert_cmpuint(related->len, ==, 2);
  Part *alt = related->pdata[0], *image = related->pdata[1];
  g_autofree char *alt_type = header(alt, "Content-Type");
  g_assert_true(g_str_has_prefix(alt_type, "multipart/alternative; boundary=\"=_gk_alt_" ID "\""));
  g_autoptr(GPtrArray) alternatives = children(alt);
  g_assert_cmpuint(alternatives->len, ==, 2);
  g_autofree char *t1 = header(alternatives->pdata[0], "Content-Type");
  g_autofree char *t2 = header(alternatives->pdata[1], "Content-Type");
  g_assert_cmpstr(t1, ==, "text/plain; charset=UTF-8");
  g_assert_cmpstr(t2, ==, "text/html; charset=UTF-8");
  *out_text = text_body(alternatives->pdata[0]);
  *out_html = text_body(alternatives->pdata[1]);

  g_autofree char *image_type = header(image, "Content-Type");
  g_autofree char *cid = header(image, "Content-ID");
  g_autofree char *disposition = header(image, "Content-Disposition");
  g_assert_cmpstr(image_type, ==, "image/png; name=\"genkan-qr.png\"");
  g_assert_cmpstr(cid, ==, "<qr." ID "@example.co.jp>");
  g_assert_cmpstr(disposition, ==, "inline; filename=\"genkan-qr.png\"");
  *out_png = base64_body(image);
  g_assert_nonnull(strstr(*out_html, "<img src=\"cid:qr." ID "@example.co.jp\""));
  part_free(top);
}

/* ---- tests ------------------------------------------------------------------------------ */

/* The words of an RFC 2047 header value (unfolded: words apart by a space),
 * decoded; each must be a whole "=?UTF-8?B?…?=" word of valid UTF-8. */
static char *
decode_words(const char *value)
{
  g_auto(GStrv) words = g_strsplit(value, " ", -1);
  GString *out = g_string_new(NULL);
  for (guint i = 0; words[i] != NULL; i++) {
    gsize n = strlen(words[i]);
    g_assert_true(g_str_has_prefix(words[i], "=?UTF-8?B?") && g_str_has_suffix(words[i], "?="));
    g_autofree char *b64 = g_strndup(words[i] + 10, n - 12);
    gsize len = 0;
    g_autofree guchar *raw = g_base64_decode(b64, &len);
    g_assert_true(g_utf8_validate((const char *) raw, (gssize) len, NULL));
    g_string_append_len(out, (const char *) raw, (gssize) len);
  }
  return g_string_free(out, FALSE);
}

/* One invitation built and taken apart. */
typedef struct {
  Msg msg;
  char *qr;
  char *subject;  /* decoded */
  char *text;
  char *html;
  GBytes *png;
} Built;

static void
build(Built *b, const char *language, gboolean with_code, guint32 seed)
{
  b->qr = ticket_text(100 + seed, seed);
  g_autofree char *secrets = g_strdup_printf("{\"reception_code\":%s,\"qr_text\":\"%s\"}",
                                             with_code ? "\"" CODE "\"" : "null", b->qr);
  msg_init(&b->msg, language, secrets);
  g_autoptr(GError) error = NULL;
  g_autofree char *mail = srv_invite_email(&b->msg.m, FROM, TO, AT, &error);
  g_assert_no_error(error);
  g_autofree char *subject = NULL;
  dissect(mail, &b->text, &b->html, &b->png, &subject);
  g_test_message("%s invitation: %" G_GSIZE_FORMAT " bytes, the PNG %" G_GSIZE_FORMAT " bytes", language,
                 strlen(mail), g_bytes_get_size(b->png));
  b->subject = decode_words(subject);
  /* The picture is the ticket. */
  g_autofree char *decoded = scan_png(b->png);
  g_assert_cmpstr(decoded, ==, b->qr);
  /* The pass is the picture, never text. */
  g_assert_null(strstr(b->text, b->qr));
  g_assert_null(strstr(b->html, b->qr));
}

static void
built_clear(Built *b)
{
  msg_clear(&b->msg);
  g_free(b->qr);
  g_free(b->subject);
  g_free(b->text);
  g_free(b->html);
  g_bytes_unref(b->png);
}

static void
test_email_japanese(void)
{
  Built b;
  build(&b, "ja", TRUE, 7);
  g_assert_cmpstr(b.subject, ==, "ご来訪のご案内: 本社（山田 太郎 さん）");
  /* The visitor, the host, the window (notify.timezone), the code, and the QR
   * code said to be attached. */
  g_assert_true(g_str_has_prefix(b.text, "鈴木 花子 <b>& 様\r\n\r\n山田 太郎 さんへのご来訪のご案内です。\r\n"));
  g_assert_nonnull(strstr(b.text, "訪問先: 本社\r\n担当者: 山田 太郎\r\n"));
  g_assert_nonnull(strstr(b.text, "有効期間: 2026-11-22 10:00 JST ～ 2026-11-22 12:00 JST\r\n"));
  g_assert_nonnull(strstr(b.text, "受付コード: " CODE "\r\n"));
  g_assert_nonnull(strstr(b.text, "添付の QR コードをかざしてください（または受付コード " CODE " を入力してください）。"));
  g_assert_true(g_str_has_suffix(b.text, "\r\n-- \r\nGenkan\r\n"));
  /* The HTML says the same, escaped, and shows the picture. */
  g_assert_true(g_str_has_prefix(b.html, "<!DOCTYPE html>\r\n<html lang=\"ja\">"));
  g_assert_nonnull(strstr(b.html, "<p>鈴木 花子 &lt;b&gt;&amp; 様</p>"));
  g_assert_null(strstr(b.html, "<b>"));
  g_assert_nonnull(strstr(b.html, "<br>\r\n受付コード: " CODE "</p>"));
  g_assert_nonnull(strstr(b.html, "alt=\"QR コード\""));
  built_clear(&b);
}

static void
test_email_english_qr_only(void)
{
  Built b;
  build(&b, "en", FALSE, 11);
  g_assert_cmpstr(b.subject, ==, "Your visit to 本社 (山田 太郎)");
  g_assert_true(g_str_has_prefix(b.text, "Dear 鈴木 花子 <b>&,\r\n\r\nYou are invited to visit 本社 to see 山田 太郎.\r\n"));
  g_assert_nonnull(strstr(b.text, "Valid: 2026-11-22 10:00 JST to 2026-11-22 12:00 JST\r\n"));
  g_assert_nonnull(strstr(b.text, "show the attached QR code to the reception kiosk.\r\n"));
  /* No code: the code line and the hint to type it are left out. */
  g_assert_null(strstr(b.text, "eception code"));
  g_assert_null(strstr(b.html, "eception code"));
  g_assert_nonnull(strstr(b.html, "<html lang=\"en\">"));
  g_assert_nonnull(strstr(b.html, "alt=\"QR code\""));
  built_clear(&b);
}

/* Without its QR text (delivered already, a damaged row) there is no invitation. */
static void
test_email_needs_qr(void)
{
  static const char *const secrets[] = { NULL, "{}", "{\"reception_code\":\"" CODE "\"}", "{\"qr_text\":\"\"}",
                                         "{\"qr_text\":42}" };
  for (guint i = 0; i < G_N_ELEMENTS(secrets); i++) {
    Msg m;
    msg_init(&m, "ja", secrets[i]);
    g_autoptr(GError) error = NULL;
    g_autofree char *mail = srv_invite_email(&m.m, FROM, TO, AT, &error);
    g_assert_null(mail);
    g_assert_error(error, SRV_NOTIFY_ERROR, SRV_NOTIFY_ERROR_INVALID);
    msg_clear(&m);
  }
}

static void
test_qr_png(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *qr = ticket_text(120, 3);
  guint side = 0;
  g_autoptr(GBytes) png = srv_invite_qr_png(qr, 4, &side, &error);
  g_assert_no_error(error);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(png, &len);
  g_assert_cmpuint(len, >, 8);
  g_assert_cmpmem(data, 8, "\x89PNG\r\n\x1a\n", 8);
  /* Whole modules, a quiet zone, and a symbol of a real QR size (21 + 4k). */
  g_assert_cmpuint(side % 4, ==, 0);
  guint modules = side / 4 - 2 * GK_QR_QUIET_ZONE;
  g_assert_cmpuint(modules, >=, 21);
  g_assert_cmpuint((modules - 21) % 4, ==, 0);
  g_autofree char *decoded = scan_png(png);
  g_assert_cmpstr(decoded, ==, qr);

  /* Bad input: a clear error, no image. */
  g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
  g_assert_null(srv_invite_qr_png("", 4, NULL, &e1));
  g_assert_error(e1, GK_QR_ERROR, GK_QR_ERROR_INVALID);
  g_assert_null(srv_invite_qr_png(qr, GK_QR_MAX_MODULE_PX + 1, NULL, &e2));
  g_assert_error(e2, GK_QR_ERROR, GK_QR_ERROR_INVALID);
  g_autofree char *huge = g_strnfill(8000, 'a');
  g_assert_null(srv_invite_qr_png(huge, 4, NULL, &e3));
  g_assert_error(e3, GK_QR_ERROR, GK_QR_ERROR_TOO_LONG);
}

static void
test_address_check(void)
{
  static const GkConfigOption options[] = {
    { "smtp", "host", GK_CONFIG_STRING, 0, 253, "", NULL, "relay" },
  };
  g_autoptr(GkConfig) config = gk_config_new(options, G_N_ELEMENTS(options));
  g_autoptr(GError) error = NULL;
  /* No relay: even a good address is refused, for the right reason. */
  g_assert_false(srv_invite_address_check(config, TO, &error));
  g_assert_error(error, SRV_NOTIFY_ERROR, SRV_NOTIFY_ERROR_CONFIG);
  g_clear_error(&error);
  g_assert_true(gk_config_set(config, "smtp.host", "smtp.example.com", &error));
  g_assert_true(srv_invite_address_check(config, TO, &error));
  g_assert_no_error(error);
  static const char *const bad[] = { "guest", "guest@", "@example.com", "a@b@example.com", "guest@example.com\r\nBcc: x@y.z",
                                     "gu est@example.com", "guest@-example.com", "\"guest\"@example.com" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) e = NULL;
    g_assert_false(srv_invite_address_check(config, bad[i], &e));
    g_assert_error(e, SRV_NOTIFY_ERROR, SRV_NOTIFY_ERROR_INVALID);
  }
}

/* The plain notification e-mail is the same after the header code was shared. */
static void
test_plain_email_unchanged(void)
{
  Msg m;
  msg_init(&m, "en", NULL);
  m.m.kind = "checkin";
  g_autofree char *mail = srv_notify_email(&m.m, FROM, TO, AT);
  g_assert_true(g_str_has_prefix(mail, "From: " FROM "\r\nTo: " TO "\r\nSubject: "));
  g_assert_nonnull(strstr(mail, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                                "Content-Transfer-Encoding: base64\r\nAuto-Submitted: auto-generated\r\n"
                                "Genkan-Idempotency-Key: " ID "\r\n\r\n"));
  msg_clear(&m);
}

/* ---- the outbox row: written with the ticket, secrets until delivery ------------------ */

static gboolean
add_ticket(SrvStore *store, gint64 site, gint64 host, guint8 n, const SrvInvitation *invitation, GError **error)
{
  SrvTicket t = { 0 };
  memset(t.id, n, 16);
  t.site_id = site;
  t.host_id = host;
  t.visitor_name = (char *) "Ada Lovelace";
  t.valid_from = AT;
  t.valid_until = AT + 7200;
  t.key_id = 1;
  t.text = (char *) "GK1:TICKET-TEXT";
  t.created_at = AT;
  t.invitation = invitation;
  return srv_store_ticket_add(store, &t, error);
}

static void
test_outbox_row(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = gk_test_make_tmpdir("genkan-invite");
  g_autofree char *db = g_build_filename(dir, "master.db", NULL);
  g_autofree char *kek = g_build_filename(dir, "master.kek", NULL);
  g_assert_true(srv_store_create(db, kek, &error));
  SrvStore *store = srv_store_open(db, kek, 2, &error);
  g_assert_no_error(error);
  gint64 site = 0, host = 0;
  g_assert_true(srv_store_site_add(store, "HQ", AT, &site, &error));
  SrvHost h = { .site_id = site, .name = (char *) "Ito", .email = (char *) "ito@example.com" };
  g_assert_true(srv_store_host_add(store, &h, AT, &host, &error));
  /* The host reads English: so does the visitor's invitation. */
  SrvNotifySetting en = { .site_id = site, .scope = (char *) "host", .host_id = host, .channel = (char *) "email",
                          .language = (char *) "en" };
  g_assert_true(srv_outbox_setting_set(store, &en, NULL, AT, &error));

  g_autofree char *id = srv_outbox_new_id();
  g_assert_true(g_str_has_prefix(id, "ntf-"));
  g_assert_cmpuint(strlen(id), ==, 36);
  SrvInvitation invitation = { .notification_id = id, .email = TO, .reception_code = CODE };
  g_assert_true(add_ticket(store, site, host, 1, &invitation, &error));
  g_assert_no_error(error);

  /* One transaction: when the invitation cannot be queued (here: its id is
   * taken), the ticket is not stored either. */
  g_assert_false(add_ticket(store, site, host, 2, &invitation, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  guint8 second[16];
  memset(second, 2, sizeof second);
  SrvTicket missing = { 0 };
  g_assert_false(srv_store_ticket_get(store, second, &missing, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* No invitation asked: none queued. */
  g_assert_true(add_ticket(store, site, host, 3, NULL, &error));

  g_autoptr(GArray) due = srv_outbox_claim(store, AT, 30, 8, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(due->len, ==, 1);
  SrvNotification *n = &g_array_index(due, SrvNotification, 0);
  g_assert_cmpstr(n->id, ==, id);
  g_assert_cmpstr(n->kind, ==, "invitation");
  g_assert_cmpstr(n->recipient, ==, "visitor");
  g_assert_cmpstr(n->channel, ==, "email");
  g_assert_cmpstr(n->target, ==, TO);
  g_assert_cmpstr(n->language, ==, "en");
  g_assert_null(n->secret);
  g_assert_nonnull(strstr(n->facts, "\"host\":\"Ito\""));
  g_assert_nonnull(strstr(n->facts, "\"site\":\"HQ\""));
  g_assert_nonnull(strstr(n->facts, "\"valid_until\":1795312800"));
  g_assert_null(strstr(n->facts, CODE));
  g_assert_null(strstr(n->facts, "GK1:"));
  g_assert_nonnull(strstr(n->visitor_secrets, "\"reception_code\":\"" CODE "\""));
  g_assert_nonnull(strstr(n->visitor_secrets, "\"qr_text\":\"GK1:TICKET-TEXT\""));

  /* A failed attempt keeps them (the next one needs them); delivery clears them. */
  g_assert_true(srv_outbox_reschedule(store, id, AT + 1, "relay down", &error));
  g_autoptr(GArray) again = srv_outbox_claim(store, AT + 1, 30, 8, &error);
  g_assert_cmpuint(again->len, ==, 1);
  g_assert_nonnull(g_array_index(again, SrvNotification, 0).visitor_secrets);
  g_autoptr(GArray) listed = srv_outbox_list(store, site, FALSE, 10, &error);
  g_assert_cmpuint(listed->len, ==, 1);
  g_assert_null(g_array_index(listed, SrvNotification, 0).visitor_secrets);  /* lists never carry them */
  g_assert_true(srv_outbox_delivered(store, id, AT + 2, &error));
  g_assert_false(srv_outbox_retry(store, site, id, AT + 3, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED);
  g_clear_error(&error);
  /* Delivered: never claimed again (that the row's secrets are gone is read from
   * the store itself in tests/integration/test-notify-invite.c). */
  g_autoptr(GArray) none = srv_outbox_claim(store, AT + 100000, 30, 8, &error);
  g_assert_cmpuint(none->len, ==, 0);
  srv_store_close(store);
  gk_test_rmtree(dir);
}

/* Migration 7 rebuilds the outbox table: the rows of a store made before it
 * stay, and the new rules hold. */
static void
test_migration_keeps_rows(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = gk_test_make_tmpdir("genkan-invite");
  g_autofree char *db = g_build_filename(dir, "master.db", NULL);
  g_autofree char *kek = g_build_filename(dir, "master.kek", NULL);
  g_assert_true(gk_store_create(db, kek, &error));  /* empty: no migration run yet */
  gsize n = 0;
  const GkMigration *migrations = srv_store_sqlite_migrations(&n);
  g_assert_cmpuint(n, >=, 7);
  g_assert_cmpint(migrations[6].version, ==, 7);
  {
    g_autoptr(GkStore) v6 = gk_store_open(db, kek, migrations, 6, &error);
    g_assert_no_error(error);
    g_assert_cmpint(sqlite3_exec(gk_store_db(v6),
                                 "INSERT INTO sites (id, name, created_at) VALUES (1, 'HQ', 1);"
                                 "INSERT INTO notifications (id, site_id, kind, source, recipient, channel, target,"
                                 " language, secret, facts, status, attempts, next_attempt_at, window_start,"
                                 " created_at, last_error) VALUES ('" ID "', 1, 'checkin', 'ev-1', 'host:1',"
                                 " 'webhook', 'https://h.example.com/x', 'en', 'whsec-0123456789abcdef',"
                                 " '{\"visitor\":\"Ada\"}', 'pending', 3, 100, 50, 40, 'HTTP 503')",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  }
  SrvStore *store = srv_store_open(db, kek, 1, &error);
  g_assert_no_error(error);
  g_autoptr(GArray) due = srv_outbox_claim(store, 100, 30, 8, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(due->len, ==, 1);
  SrvNotification *row = &g_array_index(due, SrvNotification, 0);
  g_assert_cmpstr(row->id, ==, ID);
  g_assert_cmpstr(row->kind, ==, "checkin");
  g_assert_cmpstr(row->secret, ==, "whsec-0123456789abcdef");
  g_assert_cmpstr(row->facts, ==, "{\"visitor\":\"Ada\"}");
  g_assert_cmpint(row->attempts, ==, 4);
  g_assert_cmpint(row->window_start, ==, 50);
  g_assert_cmpstr(row->last_error, ==, "HTTP 503");
  g_assert_null(row->visitor_secrets);
  srv_store_close(store);
  /* An invitation goes to the visitor, and only an invitation does. */
  g_autoptr(GkStore) gk = gk_store_open(db, kek, migrations, n, &error);
  g_assert_no_error(error);
  static const char *const refused[] = {
    "INSERT INTO notifications (id, site_id, kind, source, recipient, channel, target, language, facts,"
    " next_attempt_at, window_start, created_at) VALUES ('ntf-11111111111111111111111111111111', 1, 'invitation',"
    " 't', 'host:1', 'email', 'a@example.com', 'ja', '{}', 1, 1, 1)",
    "INSERT INTO notifications (id, site_id, kind, source, recipient, channel, target, language, facts,"
    " next_attempt_at, window_start, created_at) VALUES ('ntf-22222222222222222222222222222222', 1, 'checkin',"
    " 't', 'visitor', 'email', 'a@example.com', 'ja', '{}', 1, 1, 1)",
    "INSERT INTO notifications (id, site_id, kind, source, recipient, channel, target, language, facts,"
    " visitor_secrets, next_attempt_at, window_start, created_at) VALUES ('ntf-33333333333333333333333333333333',"
    " 1, 'invitation', 't', 'visitor', 'email', 'a@example.com', 'ja', '{}', 'not json', 1, 1, 1)",
  };
  for (guint i = 0; i < G_N_ELEMENTS(refused); i++)
    g_assert_cmpint(sqlite3_exec(gk_store_db(gk), refused[i], NULL, NULL, NULL), ==, SQLITE_CONSTRAINT_CHECK);
  gk_test_rmtree(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/notify/invite/email-japanese", test_email_japanese);
  g_test_add_func("/notify/invite/email-english-qr-only", test_email_english_qr_only);
  g_test_add_func("/notify/invite/email-needs-qr", test_email_needs_qr);
  g_test_add_func("/notify/invite/qr-png", test_qr_png);
  g_test_add_func("/notify/invite/address-check", test_address_check);
  g_test_add_func("/notify/invite/plain-email-unchanged", test_plain_email_unchanged);
  g_test_add_func("/notify/invite/outbox-row", test_outbox_row);
  g_test_add_func("/notify/invite/migration-keeps-rows", test_migration_keeps_rows);
  return g_test_run();
}
