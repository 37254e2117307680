/* Staff notifications without I/O: settings checks, message rendering for each
 * channel in Japanese and English, MIME e-mail, webhook signatures, retry policy. */
#include "srv-notify.h"

#include <sodium.h>
#include <string.h>

#include "gk-json.h"

G_DEFINE_QUARK(srv-notify-error-quark, srv_notify_error)

static const char *const channels[] = { "email", "slack", "teams", "webhook", "none", NULL };
static const char *const scopes[] = { "host", "default", "security", "admins", NULL };
static const char *const languages[] = { "ja", "en", NULL };

gboolean
srv_notify_channel_known(const char *channel)
{
  return channel != NULL && g_strv_contains(channels, channel);
}

gboolean
srv_notify_scope_known(const char *scope)
{
  return scope != NULL && g_strv_contains(scopes, scope);
}

static gboolean G_GNUC_PRINTF(2, 3)
invalid(GError **error, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_autofree char *message = g_strdup_vprintf(format, args);
  va_end(args);
  g_set_error_literal(error, SRV_NOTIFY_ERROR, SRV_NOTIFY_ERROR_INVALID, message);
  return FALSE;
}

/* ---- targets and secrets ---------------------------------------------------------- */

static gboolean
email_ok(const char *address)
{
  gsize len = strlen(address);
  const char *at = strchr(address, '@');
  if (len < 3 || len > 254 || at == NULL || at == address || strchr(at + 1, '@') != NULL || at - address > 64)
    return FALSE;
  for (const char *p = address; p < at; p++)
    if (*p <= 0x20 || *p >= 0x7f || strchr("()<>[]:;\\,\"", *p) != NULL)
      return FALSE;
  const char *domain = at + 1;
  if (*domain == '\0' || *domain == '.' || *domain == '-' || address[len - 1] == '.' || address[len - 1] == '-')
    return FALSE;
  for (const char *p = domain; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-')
      return FALSE;
  return strstr(domain, "..") == NULL;
}

static gboolean
host_is_loopback(const char *host)
{
  return g_ascii_strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
         (g_hostname_is_ip_address(host) && g_str_has_prefix(host, "127."));
}

static gboolean
url_ok(const char *url, GError **error)
{
  gsize len = strlen(url);
  if (len < 8 || len > 2048)
    return invalid(error, "the URL must be 8 to 2048 characters");
  for (const char *p = url; *p; p++)
    if ((guchar) *p <= 0x20 || (guchar) *p >= 0x7f)
      return invalid(error, "the URL must be plain ASCII without spaces");
  g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_uri_get_host(uri) == NULL || *g_uri_get_host(uri) == '\0')
    return invalid(error, "the URL does not parse as scheme://host/path");
  const char *scheme = g_uri_get_scheme(uri);
  if (g_uri_get_userinfo(uri) != NULL || g_uri_get_fragment(uri) != NULL)
    return invalid(error, "the URL must not carry a user name, password or #fragment");
  /* Plain HTTP would show the message and its signature to the network; it is
   * only allowed to this machine (a local relay, tests). */
  if (g_ascii_strcasecmp(scheme, "https") == 0)
    return TRUE;
  if (g_ascii_strcasecmp(scheme, "http") == 0 && host_is_loopback(g_uri_get_host(uri)))
    return TRUE;
  return invalid(error, "the URL must be https:// (http:// only to this machine)");
}

gboolean
srv_notify_target_check(const char *channel, const char *target, GError **error)
{
  g_return_val_if_fail(channel != NULL && target != NULL, FALSE);
  if (strcmp(channel, "email") == 0)
    return email_ok(target) ? TRUE : invalid(error, "the target is not an e-mail address (local@domain)");
  if (strcmp(channel, "slack") == 0 || strcmp(channel, "teams") == 0 || strcmp(channel, "webhook") == 0)
    return url_ok(target, error);
  return invalid(error, "the channel %s takes no target", channel);
}

gboolean
srv_notify_secret_check(const char *secret, GError **error)
{
  gsize len = strlen(secret);
  if (len < SRV_NOTIFY_SECRET_MIN || len > SRV_NOTIFY_SECRET_MAX)
    return invalid(error, "a webhook secret must be %d to %d characters", SRV_NOTIFY_SECRET_MIN,
                   SRV_NOTIFY_SECRET_MAX);
  for (const char *p = secret; *p; p++)
    if (*p <= 0x20 || *p >= 0x7f)
      return invalid(error, "a webhook secret must be printable ASCII without spaces");
  return TRUE;
}

char *
srv_notify_secret_generate(void)
{
  guint8 raw[32];
  char text[sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(text, sizeof text, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  char *secret = g_strconcat("gks_", text, NULL);
  sodium_memzero(text, sizeof text);
  return secret;
}

char *
srv_notify_target_display(const char *channel, const char *target)
{
  if (target == NULL)
    return NULL;
  if (g_strcmp0(channel, "slack") != 0 && g_strcmp0(channel, "teams") != 0)
    return g_strdup(target);
  g_autoptr(GUri) uri = g_uri_parse(target, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL)
    return g_strdup("…");
  int port = g_uri_get_port(uri);
  if (port > 0)
    return g_strdup_printf("%s://%s:%d/…", g_uri_get_scheme(uri), g_uri_get_host(uri), port);
  return g_strdup_printf("%s://%s/…", g_uri_get_scheme(uri), g_uri_get_host(uri));
}

gboolean
srv_notify_credentials_parse(const guint8 *data, gsize len, char **out_user, char **out_password, GError **error)
{
  *out_user = NULL;
  *out_password = NULL;
  if (len == 0 || len > 1024 || memchr(data, '\0', len) != NULL || memchr(data, '\r', len) != NULL)
    return invalid(error, "the credentials file must be two lines, USER and PASSWORD (no NUL or CR)");
  gsize end = len;
  if (data[end - 1] == '\n')
    end--;
  const guint8 *nl = memchr(data, '\n', end);
  if (nl == NULL || memchr(nl + 1, '\n', end - (gsize) (nl + 1 - data)) != NULL)
    return invalid(error, "the credentials file must be two lines, USER and PASSWORD");
  gsize user_len = (gsize) (nl - data), pw_len = end - user_len - 1;
  if (user_len == 0 || user_len > 256 || pw_len == 0 || pw_len > 256)
    return invalid(error, "the credentials file's user and password must be 1 to 256 bytes each");
  if (!g_utf8_validate((const char *) data, (gssize) end, NULL))
    return invalid(error, "the credentials file is not UTF-8");
  *out_user = g_strndup((const char *) data, user_len);
  *out_password = g_strndup((const char *) nl + 1, pw_len);
  return TRUE;
}

/* ---- settings bodies ------------------------------------------------------------------ */

void
srv_notify_request_clear(SrvNotifyRequest *request)
{
  if (request == NULL)
    return;
  g_free(request->host);
  g_free(request->channel);
  g_free(request->target);
  g_free(request->language);
  if (request->secret != NULL)
    sodium_memzero(request->secret, strlen(request->secret));
  g_free(request->secret);
  memset(request, 0, sizeof *request);
}

gboolean
srv_notify_request_parse(const char *scope, const char *body, gsize len, SrvNotifyRequest *out, GError **error)
{
  static const GkJsonField fields[] = {
    { "host", GK_JSON_STRING, FALSE, 1, 200 },
    { "channel", GK_JSON_STRING, TRUE, 1, 16 },
    { "target", GK_JSON_STRING, FALSE, 1, 2048 },
    { "language", GK_JSON_STRING, FALSE, 2, 2 },
    { "secret", GK_JSON_STRING, FALSE, 1, SRV_NOTIFY_SECRET_MAX },
    { "offline_after_s", GK_JSON_INT, FALSE, 0, SRV_NOTIFY_OFFLINE_MAX },
  };
  memset(out, 0, sizeof *out);
  if (!srv_notify_scope_known(scope))
    return invalid(error, "the scope must be host, default, security or admins");
  g_autoptr(JsonNode) root = gk_json_parse_object(body, len, 64 * 1024, error);
  if (root == NULL)
    return FALSE;
  JsonObject *o = json_node_get_object(root);
  if (!gk_json_check(o, fields, G_N_ELEMENTS(fields), FALSE, "body", error))
    return FALSE;

  const char *host = gk_json_get_string(o, "host", NULL);
  const char *channel = gk_json_get_string(o, "channel", "");
  const char *target = gk_json_get_string(o, "target", NULL);
  const char *language = gk_json_get_string(o, "language", "ja");
  const char *secret = gk_json_get_string(o, "secret", NULL);
  gboolean is_host = strcmp(scope, "host") == 0;
  gboolean has_offline = json_object_has_member(o, "offline_after_s");

  if (is_host != (host != NULL))
    return invalid(error, is_host ? "body.host is required: the host's id or exact name"
                                  : "body.host belongs only to a host's settings");
  if (!srv_notify_channel_known(channel))
    return invalid(error, "body.channel must be email, slack, teams, webhook or none");
  if (!g_strv_contains(languages, language))
    return invalid(error, "body.language must be ja or en");
  if (has_offline && strcmp(scope, "admins") != 0)
    return invalid(error, "body.offline_after_s belongs only to the admins channel");
  if (secret != NULL && strcmp(channel, "webhook") != 0)
    return invalid(error, "body.secret belongs only to the webhook channel");
  if (secret != NULL && !srv_notify_secret_check(secret, error))
    return FALSE;
  if (strcmp(channel, "none") == 0) {
    if (target != NULL)
      return invalid(error, "the channel none takes no target");
  } else if (target == NULL) {
    /* Only a host (or the default for hosts) has an address of its own. */
    if (strcmp(channel, "email") != 0 || !(is_host || strcmp(scope, "default") == 0))
      return invalid(error, "body.target is required for this channel");
  } else if (!srv_notify_target_check(channel, target, error)) {
    g_prefix_error(error, "body.target: ");
    return FALSE;
  }

  out->host = g_strdup(host);
  out->channel = g_strdup(channel);
  out->target = g_strdup(target);
  out->language = g_strdup(language);
  out->secret = g_strdup(secret);
  out->offline_after_s = gk_json_get_int(o, "offline_after_s", 0);
  return TRUE;
}

/* ---- rendering ---------------------------------------------------------------------------- */

typedef char *(*Escape)(const char *text);

typedef struct {
  const char *kind;
  const char *subject[2]; /* ja, en */
  const char *text[2];
} Template;

/* {name} is a fact ({time}: "at" formatted, {ticket}: the ticket id); [...] is
 * left out when a fact inside it is missing. */
static const Template templates[] = {
  { "checkin",
    { "来訪: {visitor} 様が到着しました", "Visitor arrived: {visitor}" },
    { "[{company} ]{visitor} 様が{location}に到着しました[（{host} さん宛て）]。到着時刻: {time}",
      "{visitor}[ ({company})] has arrived at {location}[ to see {host}] ({time})." } },
  { "walkin",
    { "受付: {visitor} 様がお待ちです", "Visitor waiting: {visitor}" },
    { "[{company} ]{visitor} 様が{location}で[{host} さんを]お待ちです。受付時刻: {time}",
      "{visitor}[ ({company})] is waiting at {location}[ for {host}] ({time})." } },
  { "double-entry",
    { "二重入場の検知: {location}", "Double entry at {location}" },
    { "1 回限りのチケット[（{visitor} 様）]で二重入場がありました: {location}[ と {first_location}]。"
      "チケット {ticket}、検知時刻: {time}",
      "A one-time ticket[ ({visitor})] was admitted twice: at {location}[ and at {first_location}]. "
      "Ticket {ticket}, detected {time}." } },
  { "device-offline",
    { "端末オフライン: {location}", "Device offline: {location}" },
    { "{location}（{device_id}）は {time} 以降、サーバーに接続していません。",
      "{location} ({device_id}) has not been in touch since {time}." } },
  /* To the visitor, several lines (e-mail only); {reception_code} is a secret
   * fact and missing for a QR-only ticket. */
  { "invitation",
    { "ご来訪のご案内: {site}[（{host} さん）]", "Your visit to {site}[ ({host})]" },
    { "{visitor} 様\n\n[{host} さんへの]ご来訪のご案内です。\n\n"
      "訪問先: {site}\n"
      "[担当者: {host}\n]"
      "有効期間: {valid_from} ～ {valid_until}\n"
      "[受付コード: {reception_code}\n]\n"
      "ご来訪の際は、受付の端末に添付の QR コードをかざしてください"
      "[（または受付コード {reception_code} を入力してください）]。\n"
      "このメールはあなたの入館証です。他の方に転送しないでください。",
      "Dear {visitor},\n\nYou are invited to visit {site}[ to see {host}].\n\n"
      "Place: {site}\n"
      "[Host: {host}\n]"
      "Valid: {valid_from} to {valid_until}\n"
      "[Reception code: {reception_code}\n]\n"
      "When you arrive, show the attached QR code to the reception kiosk"
      "[ (or type the reception code {reception_code})].\n"
      "This e-mail is your entry pass: please do not forward it." } },
};

static const Template *
template_for(const char *kind)
{
  for (guint i = 0; i < G_N_ELEMENTS(templates); i++)
    if (g_strcmp0(templates[i].kind, kind) == 0)
      return &templates[i];
  return NULL;
}

static int
lang_index(const char *language)
{
  return g_strcmp0(language, "ja") == 0 ? 0 : 1;
}

static char *
format_time(const SrvNotifyMessage *m, gint64 at)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(at);
  if (utc == NULL)
    return NULL;
  g_autoptr(GDateTime) local = m->tz != NULL ? g_date_time_to_timezone(utc, m->tz) : g_date_time_ref(utc);
  return g_date_time_format(local, "%Y-%m-%d %H:%M %Z");
}

/* The fact @name as text (an integer as a time), or NULL when missing or empty. */
static char *
fact(const SrvNotifyMessage *m, const char *name)
{
  if (strcmp(name, "time") == 0) {
    if (m->facts == NULL || !json_object_has_member(m->facts, "at"))
      return format_time(m, m->created_at);
    JsonNode *n = json_object_get_member(m->facts, "at");
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
      return format_time(m, m->created_at);
    return format_time(m, json_node_get_int(n));
  }
  const char *member = strcmp(name, "ticket") == 0 ? "ticket_id" : name;
  JsonObject *holder = m->facts != NULL && json_object_has_member(m->facts, member) ? m->facts
                       : m->secrets != NULL && json_object_has_member(m->secrets, member) ? m->secrets
                                                                                         : NULL;
  if (holder == NULL)
    return NULL;
  JsonNode *n = json_object_get_member(holder, member);
  if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64)
    return format_time(m, json_node_get_int(n));
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return NULL;
  const char *s = json_node_get_string(n);
  return s != NULL && *s != '\0' ? g_strdup(s) : NULL;
}

/* Appends @tpl from @p up to @end (a "]" or the end), expanding {facts}; FALSE
 * when a fact was missing (the caller drops an optional part). */
static gboolean
expand(const SrvNotifyMessage *m, const char **p, gboolean optional, Escape escape, GString *out)
{
  gboolean complete = TRUE;
  while (**p != '\0') {
    char c = **p;
    if (c == ']' && optional) {
      (*p)++;
      break;
    }
    if (c == '[') {
      (*p)++;
      g_autoptr(GString) part = g_string_new(NULL);
      if (expand(m, p, TRUE, escape, part))
        g_string_append_len(out, part->str, (gssize) part->len);
      continue;
    }
    if (c == '{') {
      const char *close = strchr(*p, '}');
      g_assert(close != NULL);
      g_autofree char *name = g_strndup(*p + 1, (gsize) (close - *p - 1));
      *p = close + 1;
      g_autofree char *value = fact(m, name);
      if (value == NULL) {
        complete = FALSE;
        g_string_append_c(out, '-');
        continue;
      }
      g_autofree char *escaped = escape != NULL ? escape(value) : NULL;
      g_string_append(out, escaped != NULL ? escaped : value);
      continue;
    }
    g_string_append_c(out, c);
    (*p)++;
  }
  return complete;
}

static char *
render(const SrvNotifyMessage *m, gboolean subject, Escape escape)
{
  const Template *t = template_for(m->kind);
  if (t == NULL)
    return g_strdup(subject ? "Genkan notification" : "Genkan notification");
  int l = lang_index(m->language);
  const char *p = subject ? t->subject[l] : t->text[l];
  GString *out = g_string_new(NULL);
  expand(m, &p, FALSE, escape, out);
  return g_string_free(out, FALSE);
}

char *
srv_notify_subject(const SrvNotifyMessage *message)
{
  g_return_val_if_fail(message != NULL, NULL);
  return render(message, TRUE, NULL);
}

char *
srv_notify_text(const SrvNotifyMessage *message)
{
  g_return_val_if_fail(message != NULL, NULL);
  return render(message, FALSE, NULL);
}

/* Slack reads &, < and > as markup (<!channel>, <url|text>): names must not. */
static char *
slack_escape(const char *text)
{
  GString *out = g_string_new(NULL);
  for (const char *p = text; *p; p++) {
    if (*p == '&')
      g_string_append(out, "&amp;");
    else if (*p == '<')
      g_string_append(out, "&lt;");
    else if (*p == '>')
      g_string_append(out, "&gt;");
    else
      g_string_append_c(out, *p);
  }
  return g_string_free(out, FALSE);
}

/* Teams renders Markdown and some HTML in card text: a name like
 * "[x](https://…)" must show as typed, not as a link. */
static char *
teams_escape(const char *text)
{
  GString *out = g_string_new(NULL);
  for (const char *p = text; *p; p++) {
    if (*p == '&')
      g_string_append(out, "&amp;");
    else if (*p == '<')
      g_string_append(out, "&lt;");
    else if (*p == '>')
      g_string_append(out, "&gt;");
    else if (strchr("\\`*_~#[](){}+-.!|", *p) != NULL) {
      g_string_append_c(out, '\\');
      g_string_append_c(out, *p);
    } else {
      g_string_append_c(out, *p);
    }
  }
  return g_string_free(out, FALSE);
}

char *
srv_notify_slack_body(const SrvNotifyMessage *message)
{
  g_return_val_if_fail(message != NULL, NULL);
  g_autofree char *subject = render(message, TRUE, slack_escape);
  g_autofree char *text = render(message, FALSE, slack_escape);
  g_autofree char *both = g_strdup_printf("*%s*\n%s", subject, text);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, both);
  json_builder_end_object(b);
  return gk_json_builder_to_string(b);
}

static void
add_card_fact(JsonBuilder *b, const SrvNotifyMessage *m, const char *name, const char *label_ja, const char *label_en)
{
  g_autofree char *value = fact(m, name);
  if (value == NULL)
    return;
  g_autofree char *escaped = teams_escape(value);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, lang_index(m->language) == 0 ? label_ja : label_en);
  json_builder_set_member_name(b, "value");
  json_builder_add_string_value(b, escaped);
  json_builder_end_object(b);
}

char *
srv_notify_teams_body(const SrvNotifyMessage *message)
{
  g_return_val_if_fail(message != NULL, NULL);
  const SrvNotifyMessage *m = message;
  gboolean alert = g_strcmp0(m->kind, "double-entry") == 0 || g_strcmp0(m->kind, "device-offline") == 0;
  g_autofree char *subject = render(m, TRUE, teams_escape);
  g_autofree char *text = render(m, FALSE, teams_escape);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "@type");
  json_builder_add_string_value(b, "MessageCard");
  json_builder_set_member_name(b, "@context");
  json_builder_add_string_value(b, "https://schema.org/extensions");
  json_builder_set_member_name(b, "summary");
  json_builder_add_string_value(b, subject);
  json_builder_set_member_name(b, "themeColor");
  json_builder_add_string_value(b, alert ? "D83B01" : "0078D7");
  json_builder_set_member_name(b, "title");
  json_builder_add_string_value(b, subject);
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, text);
  json_builder_set_member_name(b, "sections");
  json_builder_begin_array(b);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "facts");
  json_builder_begin_array(b);
  add_card_fact(b, m, "visitor", "来訪者", "Visitor");
  add_card_fact(b, m, "company", "会社", "Company");
  add_card_fact(b, m, "host", "担当者", "Host");
  add_card_fact(b, m, "location", "場所", "Location");
  add_card_fact(b, m, "time", "時刻", "Time");
  json_builder_end_array(b);
  json_builder_end_object(b);
  json_builder_end_array(b);
  json_builder_end_object(b);
  return gk_json_builder_to_string(b);
}

const char *
srv_notify_event_type(const char *kind)
{
  static const char *const types[][2] = {
    { "checkin", "visitor.checked_in" },
    { "walkin", "visitor.waiting" },
    { "double-entry", "security.double_entry" },
    { "device-offline", "device.offline" },
    { "invitation", "visitor.invited" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(types); i++)
    if (g_strcmp0(kind, types[i][0]) == 0)
      return types[i][1];
  return "notification";
}

char *
srv_notify_webhook_body(const SrvNotifyMessage *message)
{
  g_return_val_if_fail(message != NULL, NULL);
  const SrvNotifyMessage *m = message;
  g_autofree char *subject = render(m, TRUE, NULL);
  g_autofree char *text = render(m, FALSE, NULL);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "id");
  json_builder_add_string_value(b, m->id);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, srv_notify_event_type(m->kind));
  json_builder_set_member_name(b, "created_at");
  json_builder_add_int_value(b, m->created_at);
  json_builder_set_member_name(b, "site_id");
  json_builder_add_int_value(b, m->site_id);
  json_builder_set_member_name(b, "language");
  json_builder_add_string_value(b, lang_index(m->language) == 0 ? "ja" : "en");
  json_builder_set_member_name(b, "subject");
  json_builder_add_string_value(b, subject);
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, text);
  json_builder_set_member_name(b, "data");
  json_builder_begin_object(b);
  if (m->facts != NULL) {
    g_autoptr(GList) members = json_object_get_members(m->facts);
    for (GList *k = members; k != NULL; k = k->next) {
      json_builder_set_member_name(b, k->data);
      json_builder_add_value(b, json_node_copy(json_object_get_member(m->facts, k->data)));
    }
  }
  json_builder_end_object(b);
  json_builder_end_object(b);
  return gk_json_builder_to_string(b);
}

/* ---- e-mail ------------------------------------------------------------------------------------ */

char *
srv_notify_rfc5322_date(GDateTime *time)
{
  static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
  static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
  gint64 offset_min = g_date_time_get_utc_offset(time) / G_TIME_SPAN_MINUTE;
  gint64 abs_min = offset_min < 0 ? -offset_min : offset_min;
  return g_strdup_printf("%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d", days[g_date_time_get_day_of_week(time) - 1],
                         g_date_time_get_day_of_month(time), months[g_date_time_get_month(time) - 1],
                         g_date_time_get_year(time), g_date_time_get_hour(time), g_date_time_get_minute(time),
                         g_date_time_get_second(time), offset_min < 0 ? '-' : '+', (int) (abs_min / 60),
                         (int) (abs_min % 60));
}

/* 39 bytes make 52 base64 characters: with "=?UTF-8?B?" and "?=" a word of 64,
 * so even "Subject: " and the first word stay under RFC 2047's 76 per line. */
#define MIME_WORD_BYTES 39

char *
srv_notify_mime_header(const char *utf8)
{
  g_return_val_if_fail(utf8 != NULL, NULL);
  gsize len = strlen(utf8);
  gboolean plain = len <= 60 && strstr(utf8, "=?") == NULL;
  for (const char *p = utf8; plain && *p; p++)
    plain = *p >= 0x20 && *p < 0x7f;
  if (plain)
    return g_strdup(utf8);
  GString *out = g_string_new(NULL);
  const char *p = utf8;
  while (*p != '\0') {
    /* Whole characters only: a word must decode to valid UTF-8 on its own. */
    const char *end = p;
    while (*end != '\0') {
      const char *next = g_utf8_next_char(end);
      if ((gsize) (next - p) > MIME_WORD_BYTES)
        break;
      end = next;
    }
    if (end == p)
      end = g_utf8_next_char(p);
    g_autofree char *b64 = g_base64_encode((const guchar *) p, (gsize) (end - p));
    if (out->len > 0)
      g_string_append(out, "\r\n ");
    g_string_append_printf(out, "=?UTF-8?B?%s?=", b64);
    p = end;
  }
  return g_string_free(out, FALSE);
}

void
srv_notify_email_head(GString *out, const SrvNotifyMessage *message, const char *from, const char *to, gint64 now,
                      const char *content)
{
  g_return_if_fail(out != NULL && message != NULL && from != NULL && to != NULL && content != NULL);
  g_autofree char *subject = render(message, TRUE, NULL);
  g_autofree char *subject_header = srv_notify_mime_header(subject);
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(now);
  g_autoptr(GDateTime) local = message->tz != NULL ? g_date_time_to_timezone(utc, message->tz) : g_date_time_ref(utc);
  g_autofree char *date = srv_notify_rfc5322_date(local);
  const char *domain = strchr(from, '@');
  domain = domain != NULL ? domain + 1 : "genkan.invalid";
  g_string_append_printf(out, "From: %s\r\n", from);
  g_string_append_printf(out, "To: %s\r\n", to);
  g_string_append_printf(out, "Subject: %s\r\n", subject_header);
  g_string_append_printf(out, "Date: %s\r\n", date);
  /* The id doubles as the idempotency key: a mail system that dedups on
   * Message-ID shows a resent notification once. */
  g_string_append_printf(out, "Message-ID: <%s@%s>\r\n", message->id, domain);
  g_string_append(out, "MIME-Version: 1.0\r\n");
  g_string_append(out, content);
  g_string_append(out, "Auto-Submitted: auto-generated\r\n");
  g_string_append_printf(out, "Genkan-Idempotency-Key: %s\r\n", message->id);
  g_string_append(out, "\r\n");
}

void
srv_notify_base64_lines(GString *out, const void *data, gsize len)
{
  g_autofree char *b64 = g_base64_encode(data, len);
  for (gsize i = 0, n = strlen(b64); i < n; i += 76) {
    g_string_append_len(out, b64 + i, (gssize) MIN(76, n - i));
    g_string_append(out, "\r\n");
  }
  /* The body may be a visitor's pass (an invitation): no copy stays behind. */
  sodium_memzero(b64, strlen(b64));
}

char *
srv_notify_email(const SrvNotifyMessage *message, const char *from, const char *to, gint64 now)
{
  g_return_val_if_fail(message != NULL && from != NULL && to != NULL, NULL);
  g_autofree char *text = render(message, FALSE, NULL);
  g_autofree char *body = g_strconcat(text, "\r\n\r\n-- \r\nGenkan\r\n", NULL);
  GString *out = g_string_new(NULL);
  srv_notify_email_head(out, message, from, to, now,
                        "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n");
  srv_notify_base64_lines(out, body, strlen(body));
  return g_string_free(out, FALSE);
}

/* ---- signatures -------------------------------------------------------------------------------- */

void
srv_notify_hmac_sha256(const guint8 *key, gsize key_len, const guint8 *data, gsize len, guint8 out[32])
{
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key, key_len);
  crypto_auth_hmacsha256_update(&state, data, len);
  crypto_auth_hmacsha256_final(&state, out);
  sodium_memzero(&state, sizeof state);
}

char *
srv_notify_signature(const char *secret, gint64 timestamp, const char *body, gsize len)
{
  g_return_val_if_fail(secret != NULL && (body != NULL || len == 0), NULL);
  char prefix[32];
  g_snprintf(prefix, sizeof prefix, "%" G_GINT64_FORMAT ".", timestamp);
  crypto_auth_hmacsha256_state state;
  guint8 mac[32];
  crypto_auth_hmacsha256_init(&state, (const guint8 *) secret, strlen(secret));
  crypto_auth_hmacsha256_update(&state, (const guint8 *) prefix, strlen(prefix));
  crypto_auth_hmacsha256_update(&state, (const guint8 *) body, len);
  crypto_auth_hmacsha256_final(&state, mac);
  sodium_memzero(&state, sizeof state);
  g_autofree char *hex = gk_hex_encode(mac, sizeof mac);
  return g_strdup_printf("t=%" G_GINT64_FORMAT ",v1=%s", timestamp, hex);
}

/* ---- retries ------------------------------------------------------------------------------------ */

gint64
srv_notify_backoff(const SrvNotifyRetry *policy, guint attempts, guint32 random)
{
  gint64 delay = MAX(policy->base_s, 1);
  for (guint i = 1; i < attempts && delay < policy->max_s; i++)
    delay *= 2;
  delay = MIN(delay, MAX(policy->max_s, 1));
  gint64 half = delay / 2;
  gint64 v = delay - half + (half > 0 ? (gint64) (random % (guint32) (half + 1)) : 0);
  return MAX(v, 1);
}

gboolean
srv_notify_next_attempt(const SrvNotifyRetry *policy, guint attempts, gint64 window_start, gint64 now,
                        gint64 retry_after_s, guint32 random, gint64 *out_next)
{
  gint64 end = window_start + policy->give_up_s;
  if (now >= end)
    return FALSE;
  gint64 next = now + srv_notify_backoff(policy, attempts, random);
  /* A receiver asking for a pause (429/503 Retry-After) gets it, within reason. */
  if (retry_after_s > 0)
    next = MAX(next, now + MIN(retry_after_s, policy->max_s));
  /* One last attempt right at the end of the window. */
  *out_next = MIN(next, end);
  return TRUE;
}
