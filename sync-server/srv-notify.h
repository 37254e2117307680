/* Staff notifications without I/O: the settings an admin sends (parsed and
 * checked), the messages (Slack, Teams, signed JSON webhook, MIME e-mail) in the
 * recipient's language, webhook signatures and the retry policy. The outbox
 * (srv-outbox.h) keeps notifications; the sender (srv-notify-sender.h) sends them. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

#define SRV_NOTIFY_ERROR srv_notify_error_quark()
GQuark srv_notify_error_quark(void);
typedef enum {
  SRV_NOTIFY_ERROR_INVALID,  /* a setting, address, URL or secret the server refuses */
  SRV_NOTIFY_ERROR_CONFIG,   /* the server is not set up for that channel (no SMTP relay) */
} SrvNotifyError;

/* Channels by their protocol names: "email", "slack", "teams", "webhook", "none". */
gboolean srv_notify_channel_known(const char *channel);

/* Who a setting is for: one host, the site default (hosts without their own),
 * the site's security channel (double entries) or admins channel (devices offline). */
gboolean srv_notify_scope_known(const char *scope);

/* ---- settings from the admin API ------------------------------------------------ */

#define SRV_NOTIFY_SECRET_MIN 16
#define SRV_NOTIFY_SECRET_MAX 256
#define SRV_NOTIFY_OFFLINE_MAX (30 * 86400)

typedef struct {
  char *host;             /* scope "host": host id or exact name */
  char *channel;
  char *target;           /* e-mail address or URL; NULL: the host's own e-mail (email channel) */
  char *language;         /* "ja" | "en" */
  char *secret;           /* webhook only; NULL: keep the current one or make one */
  gint64 offline_after_s; /* scope "admins": 0 = no device-offline alerts */
} SrvNotifyRequest;
void srv_notify_request_clear(SrvNotifyRequest *request);

/* Parses and checks a settings body (docs/protocol.md, "Notifications") for
 * @scope: every field, the channel, the target for that channel, the secret.
 * GK_JSON_ERROR for shape problems, SRV_NOTIFY_ERROR_INVALID for values. */
gboolean srv_notify_request_parse(const char *scope, const char *body, gsize len, SrvNotifyRequest *out,
                                  GError **error);
/* An e-mail address (local@domain, no spaces, quotes, brackets or controls), or
 * for slack/teams/webhook an https URL (http only to a loopback address). */
gboolean srv_notify_target_check(const char *channel, const char *target, GError **error);
/* 16-256 printable ASCII characters, no spaces. */
gboolean srv_notify_secret_check(const char *secret, GError **error);
/* "gks_" + 43 base64url characters of 32 random bytes (g_free). */
char *srv_notify_secret_generate(void);
/* A URL shown to admins without its path (Slack and Teams URLs are bearer
 * secrets): "https://hooks.slack.com/…" (g_free). Other targets come back as they are. */
char *srv_notify_target_display(const char *channel, const char *target);

/* SMTP relay credentials file: "USER\nPASSWORD\n" (a trailing newline optional). */
gboolean srv_notify_credentials_parse(const guint8 *data, gsize len, char **out_user, char **out_password,
                                      GError **error);

/* ---- messages ------------------------------------------------------------------------ */

/* What one notification says: the outbox row's kind and language and the facts
 * stored with it (visitor, company, host, location, device_id, at, ticket_id,
 * first_location; an invitation: visitor, company, host, site, valid_from,
 * valid_until, ticket_id; any may be missing). A fact holding an integer is a
 * time and reads as one. */
typedef struct {
  const char *id;         /* the notification id, also the idempotency key */
  const char *kind;       /* checkin | walkin | double-entry | device-offline | invitation */
  const char *language;   /* ja | en (anything else: en) */
  gint64 site_id;
  gint64 created_at;
  JsonObject *facts;
  JsonObject *secrets;    /* facts only the recipient may see (an invitation's
                           * reception_code and qr_text), or NULL */
  GTimeZone *tz;          /* times in messages; NULL: UTC */
} SrvNotifyMessage;

char *srv_notify_subject(const SrvNotifyMessage *message);
/* The message as plain text, one or two lines. */
char *srv_notify_text(const SrvNotifyMessage *message);
/* Slack incoming webhook: {"text": …} with &, < and > escaped (no mentions or links). */
char *srv_notify_slack_body(const SrvNotifyMessage *message);
/* Teams incoming webhook: a MessageCard with a title, the text and the facts;
 * Markdown characters in names are escaped. */
char *srv_notify_teams_body(const SrvNotifyMessage *message);
/* The generic webhook body (docs/webhooks.md). */
char *srv_notify_webhook_body(const SrvNotifyMessage *message);
/* "checkin" -> "visitor.checked_in" and so on (docs/webhooks.md). */
const char *srv_notify_event_type(const char *kind);

/* A complete RFC 5322 message with CRLF line ends: From, To, Subject (RFC 2047,
 * UTF-8), Date, Message-ID <ID@domain-of-from>, MIME headers and a base64 UTF-8
 * text body. @from and @to must have passed srv_notify_target_check(). */
char *srv_notify_email(const SrvNotifyMessage *message, const char *from, const char *to, gint64 now);
/* The header of an e-mail, appended to @out: From, To, Subject, Date,
 * Message-ID, MIME-Version, then @content (the Content-* lines, CRLF-ended),
 * Auto-Submitted, Genkan-Idempotency-Key and the blank line. */
void srv_notify_email_head(GString *out, const SrvNotifyMessage *message, const char *from, const char *to,
                           gint64 now, const char *content);
/* @data base64-encoded in CRLF-ended lines of 76 characters, appended to @out. */
void srv_notify_base64_lines(GString *out, const void *data, gsize len);

/* RFC 2047 "B" encoded words for a header value (CRLF-space folded, each word at
 * most 75 characters, never splitting a UTF-8 character); printable ASCII that
 * fits stays as it is. */
char *srv_notify_mime_header(const char *utf8);
/* "Sun, 22 Nov 2026 09:00:00 +0900" whatever the locale. */
char *srv_notify_rfc5322_date(GDateTime *time);

/* ---- signatures ---------------------------------------------------------------------- */

void srv_notify_hmac_sha256(const guint8 *key, gsize key_len, const guint8 *data, gsize len, guint8 out[32]);
/* The Genkan-Signature header value: "t=TIMESTAMP,v1=HEX" where HEX is the
 * HMAC-SHA256, keyed with the secret's bytes, of "TIMESTAMP." followed by the body. */
char *srv_notify_signature(const char *secret, gint64 timestamp, const char *body, gsize len);

/* ---- retries --------------------------------------------------------------------------- */

typedef struct {
  gint64 base_s;     /* delay after the first failed attempt */
  gint64 max_s;      /* longest delay */
  gint64 give_up_s;  /* after this long from the first attempt: failed */
} SrvNotifyRetry;

/* Exponential backoff with "equal jitter": half of min(max, base * 2^(attempts-1))
 * plus a random part of the other half, from @random; at least 1 s. */
gint64 srv_notify_backoff(const SrvNotifyRetry *policy, guint attempts, guint32 random);
/* After @attempts failed attempts in a window that began at @window_start:
 * TRUE and *out_next (never later than the window's end, never before a
 * receiver's @retry_after, if given), or FALSE when the window is over. */
gboolean srv_notify_next_attempt(const SrvNotifyRetry *policy, guint attempts, gint64 window_start, gint64 now,
                                 gint64 retry_after_s, guint32 random, gint64 *out_next);
