/* Outbox sender threads: claim with a lease, deliver with libcurl (connect and
 * total timeouts, no redirects, TLS verified), then mark delivered, schedule the
 * next attempt (exponential backoff with jitter) or give up after the retry
 * window. Logs name the notification, never its target, secret or contents. */
#include "srv-notify-sender.h"

#include <curl/curl.h>
#include <sodium.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-secure-file.h"
#include "srv-invite.h"
#include "srv-notify.h"
#include "srv-outbox.h"

#define CLAIM_BATCH 8
#define IDLE_POLL_US (1 * G_USEC_PER_SEC)
#define PURGE_EVERY_S 3600
#define MAX_FACTS (64 * 1024)

struct SrvNotifySender {
  SrvStore *store;
  /* settings, read once */
  char *smtp_url;          /* NULL: e-mail not set up */
  gboolean smtp_tls;       /* STARTTLS (or implicit TLS) required */
  char *smtp_from;
  char *smtp_user;
  char *smtp_password;
  char *ca_file;
  long connect_timeout_ms;
  long timeout_ms;
  gint64 lease_s;
  SrvNotifyRetry retry;
  GTimeZone *tz;
  gint64 offline_check_s;
  gint64 retention_s;
  /* threads */
  GPtrArray *threads;
  GMutex lock;
  GCond cond;
  guint64 wakes;           /* bumped by every wake */
  gint stopping;           /* atomic */
};

typedef struct {
  gboolean ok;
  gboolean permanent;      /* retrying cannot help (4xx, 5xx SMTP, no relay) */
  gboolean aborted;        /* cut short by a stop: not really attempted */
  gint64 retry_after_s;
  char *error;
} Attempt;

static gint64
now_s(void)
{
  return g_get_real_time() / G_USEC_PER_SEC;
}

/* ---- transfers ------------------------------------------------------------------------ */

static size_t
discard_body(char *data, size_t size, size_t n, void *user)
{
  return size * n;
}

/* A stop must not wait for a slow receiver's full timeout. */
static int
on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  SrvNotifySender *sender = user;
  return g_atomic_int_get(&sender->stopping) ? 1 : 0;
}

typedef struct {
  const char *data;
  gsize len;
  gsize off;
} Upload;

static size_t
upload_read(char *buf, size_t size, size_t nitems, void *user)
{
  Upload *u = user;
  gsize n = MIN(size * nitems, u->len - u->off);
  memcpy(buf, u->data + u->off, n);
  u->off += n;
  return n;
}

static gboolean
common_options(SrvNotifySender *sender, CURL *curl, const char *url, char *errbuf)
{
  return curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, sender->connect_timeout_ms) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, sender->timeout_ms) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
         (sender->ca_file == NULL || curl_easy_setopt(curl, CURLOPT_CAINFO, sender->ca_file) == CURLE_OK) &&
         curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_XFERINFODATA, sender) == CURLE_OK;
}

static void
transfer_failed(SrvNotifySender *sender, CURLcode rc, const char *errbuf, Attempt *out)
{
  out->aborted = rc == CURLE_ABORTED_BY_CALLBACK && g_atomic_int_get(&sender->stopping);
  out->error = g_strdup(errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
}

static void
http_post(SrvNotifySender *sender, CURL *curl, const SrvNotification *n, const char *body, const char *signature,
          Attempt *out)
{
  char errbuf[CURL_ERROR_SIZE] = "";
  struct curl_slist *headers = NULL;
  g_autofree char *key = g_strconcat("Genkan-Idempotency-Key: ", n->id, NULL);
  g_autofree char *event = g_strconcat("Genkan-Event: ", srv_notify_event_type(n->kind), NULL);
  g_autofree char *sig = signature != NULL ? g_strconcat("Genkan-Signature: ", signature, NULL) : NULL;
  headers = curl_slist_append(headers, "Content-Type: application/json; charset=utf-8");
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, key);
  headers = curl_slist_append(headers, event);
  if (sig != NULL)
    headers = curl_slist_append(headers, sig);
  curl_easy_reset(curl);
  /* Only http(s), and a redirect is an answer, not an instruction: the message
   * and its signature go to the URL an admin set and nowhere else. */
  gboolean set = headers != NULL && common_options(sender, curl, n->target, errbuf) &&
                 curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_USERAGENT, "genkan-server/" GENKAN_VERSION) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body)) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body) == CURLE_OK;
  if (!set) {
    out->error = g_strdup("this libcurl lacks an option the sender needs");
    out->permanent = TRUE;
  } else {
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
      transfer_failed(sender, rc, errbuf, out);
    } else if (status >= 200 && status <= 299) {
      out->ok = TRUE;
    } else {
      curl_off_t retry_after = 0;
      curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after);
      out->retry_after_s = (gint64) retry_after;
      /* 4xx other than timeouts and rate limits will not change by waiting. */
      out->permanent = status >= 300 && status <= 499 && status != 408 && status != 425 && status != 429;
      out->error = g_strdup_printf("the receiver answered HTTP %ld", status);
    }
  }
  curl_slist_free_all(headers);
}

static void
smtp_send(SrvNotifySender *sender, CURL *curl, const SrvNotification *n, const SrvNotifyMessage *message,
          Attempt *out)
{
  if (sender->smtp_url == NULL) {
    out->permanent = TRUE;
    out->error = g_strdup("no SMTP relay is set up (smtp.host in genkan-server.conf)");
    return;
  }
  char errbuf[CURL_ERROR_SIZE] = "";
  g_autoptr(GError) error = NULL;
  g_autofree char *mail = g_strcmp0(n->kind, "invitation") == 0
                            ? srv_invite_email(message, sender->smtp_from, n->target, now_s(), &error)
                            : srv_notify_email(message, sender->smtp_from, n->target, now_s());
  if (mail == NULL) {
    out->permanent = TRUE;
    out->error = g_strdup(error->message);
    return;
  }
  g_autofree char *from = g_strdup_printf("<%s>", sender->smtp_from);
  g_autofree char *to = g_strdup_printf("<%s>", n->target);
  struct curl_slist *rcpt = curl_slist_append(NULL, to);
  Upload upload = { mail, strlen(mail), 0 };
  curl_easy_reset(curl);
  gboolean set = rcpt != NULL && common_options(sender, curl, sender->smtp_url, errbuf) &&
                 curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps") == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_USE_SSL, (long) (sender->smtp_tls ? CURLUSESSL_ALL
                                                                                  : CURLUSESSL_NONE)) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_READDATA, &upload) == CURLE_OK &&
                 curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) upload.len) == CURLE_OK &&
                 (sender->smtp_user == NULL ||
                  (curl_easy_setopt(curl, CURLOPT_USERNAME, sender->smtp_user) == CURLE_OK &&
                   curl_easy_setopt(curl, CURLOPT_PASSWORD, sender->smtp_password) == CURLE_OK));
  if (!set) {
    out->error = g_strdup("this libcurl lacks an option the sender needs");
    out->permanent = TRUE;
  } else {
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_OK) {
      out->ok = TRUE;
    } else {
      transfer_failed(sender, rc, errbuf, out);
      /* A 5xx reply to the recipient or the message is final; a 4xx is "later". */
      out->permanent = code >= 500 && code <= 599 && rc != CURLE_LOGIN_DENIED;
    }
  }
  /* The connection cache must not keep the password past the transfer. */
  curl_easy_setopt(curl, CURLOPT_PASSWORD, NULL);
  curl_slist_free_all(rcpt);
  sodium_memzero(mail, strlen(mail));
}

static void
deliver(SrvNotifySender *sender, CURL *curl, const SrvNotification *n, Attempt *out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) facts = gk_json_parse_object(n->facts ? n->facts : "{}", n->facts ? strlen(n->facts) : 2,
                                                   MAX_FACTS, &error);
  g_autoptr(JsonNode) secrets = NULL;
  if (facts != NULL && n->visitor_secrets != NULL)
    secrets = gk_json_parse_object(n->visitor_secrets, strlen(n->visitor_secrets), MAX_FACTS, &error);
  if (facts == NULL || (n->visitor_secrets != NULL && secrets == NULL)) {
    out->permanent = TRUE;
    out->error = g_strdup_printf("the stored message is damaged: %s", error->message);
    return;
  }
  SrvNotifyMessage message = {
    .id = n->id,
    .kind = n->kind,
    .language = n->language,
    .site_id = n->site_id,
    .created_at = n->created_at,
    .facts = json_node_get_object(facts),
    .secrets = secrets != NULL ? json_node_get_object(secrets) : NULL,
    .tz = sender->tz,
  };
  if (g_strcmp0(n->channel, "email") == 0) {
    smtp_send(sender, curl, n, &message, out);
    return;
  }
  g_autofree char *body = NULL;
  g_autofree char *signature = NULL;
  if (g_strcmp0(n->channel, "slack") == 0) {
    body = srv_notify_slack_body(&message);
  } else if (g_strcmp0(n->channel, "teams") == 0) {
    body = srv_notify_teams_body(&message);
  } else if (g_strcmp0(n->channel, "webhook") == 0) {
    body = srv_notify_webhook_body(&message);
    if (n->secret == NULL) {
      out->permanent = TRUE;
      out->error = g_strdup("the webhook has no secret: set one (genkanctl host notify ... --secret-file)");
      return;
    }
    signature = srv_notify_signature(n->secret, now_s(), body, strlen(body));
  } else {
    out->permanent = TRUE;
    out->error = g_strdup_printf("unknown channel %s", n->channel);
    return;
  }
  http_post(sender, curl, n, body, signature, out);
}

/* ---- the threads ------------------------------------------------------------------------- */

static void
record(SrvNotifySender *sender, const SrvNotification *n, const Attempt *a)
{
  g_autoptr(GError) error = NULL;
  gint64 now = now_s();
  gboolean ok;
  if (a->ok) {
    ok = srv_outbox_delivered(sender->store, n->id, now, &error);
    GK_LOG_INFO("notify.delivered", GK_STR("id", n->id), GK_STR("kind", n->kind), GK_STR("channel", n->channel),
                GK_INT("attempts", n->attempts), GK_INT("age_s", now - n->created_at));
  } else if (a->aborted) {
    ok = srv_outbox_reschedule(sender->store, n->id, now, n->last_error, &error);
  } else {
    gint64 next = 0;
    gboolean again = !a->permanent && srv_notify_next_attempt(&sender->retry, (guint) n->attempts, n->window_start,
                                                              now, a->retry_after_s, g_random_int(), &next);
    if (again)
      ok = srv_outbox_reschedule(sender->store, n->id, next, a->error, &error);
    else
      ok = srv_outbox_fail(sender->store, n->id, now, a->error, &error);
    if (again)
      GK_LOG_WARN("notify.retry", GK_STR("id", n->id), GK_STR("channel", n->channel), GK_INT("attempts", n->attempts),
                  GK_INT("in_s", next - now), GK_STR("error", a->error));
    else
      GK_LOG_ERR("notify.failed", GK_STR("id", n->id), GK_STR("channel", n->channel), GK_INT("attempts", n->attempts),
                 GK_BOOL("permanent", a->permanent), GK_STR("error", a->error));
  }
  if (!ok)
    GK_LOG_ERR("notify.record_failed", GK_STR("id", n->id), GK_STR("error", error->message));
}

/* Waits until woken or @timeout_us passes, unless a wake came since @seen. */
static void
wait_for_work(SrvNotifySender *sender, guint64 *seen, gint64 timeout_us)
{
  gint64 until = g_get_monotonic_time() + timeout_us;
  g_mutex_lock(&sender->lock);
  while (sender->wakes == *seen && !g_atomic_int_get(&sender->stopping))
    if (!g_cond_wait_until(&sender->cond, &sender->lock, until))
      break;
  *seen = sender->wakes;
  g_mutex_unlock(&sender->lock);
}

/* The first thread also looks for silent devices and old rows. */
static void
housekeeping(SrvNotifySender *sender, gint64 *next_offline, gint64 *next_purge)
{
  gint64 now = now_s();
  g_autoptr(GError) error = NULL;
  if (now >= *next_offline) {
    guint queued = 0;
    *next_offline = now + sender->offline_check_s;
    if (!srv_outbox_queue_offline(sender->store, now, &queued, &error))
      GK_LOG_ERR("notify.offline_check_failed", GK_STR("error", error->message));
    else if (queued > 0)
      GK_LOG_WARN("notify.devices_offline", GK_UINT("alerts", queued));
    g_clear_error(&error);
  }
  if (now >= *next_purge) {
    guint deleted = 0;
    *next_purge = now + PURGE_EVERY_S;
    if (!srv_outbox_purge(sender->store, now - sender->retention_s, &deleted, &error))
      GK_LOG_ERR("notify.purge_failed", GK_STR("error", error->message));
    else if (deleted > 0)
      GK_LOG_INFO("notify.purged", GK_UINT("notifications", deleted));
  }
}

typedef struct {
  SrvNotifySender *sender;
  guint index;
} ThreadArgs;

static gpointer
sender_thread(gpointer data)
{
  ThreadArgs *args = data;
  SrvNotifySender *sender = args->sender;
  gboolean first = args->index == 0;
  g_free(args);
  CURL *curl = curl_easy_init();
  guint64 seen = 0;
  gint64 next_offline = 0, next_purge = 0;
  if (curl == NULL) {
    GK_LOG_ERR("notify.sender_failed", GK_STR("error", "cannot start libcurl"));
    return NULL;
  }
  while (!g_atomic_int_get(&sender->stopping)) {
    if (first)
      housekeeping(sender, &next_offline, &next_purge);
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) due = srv_outbox_claim(sender->store, now_s(), sender->lease_s, CLAIM_BATCH, &error);
    if (due == NULL) {
      GK_LOG_ERR("notify.claim_failed", GK_STR("error", error->message));
      wait_for_work(sender, &seen, IDLE_POLL_US);
      continue;
    }
    for (guint i = 0; i < due->len; i++) {
      SrvNotification *n = &g_array_index(due, SrvNotification, i);
      Attempt a = { 0 };
      if (g_atomic_int_get(&sender->stopping))
        a.aborted = TRUE;  /* claimed but not tried: due again at once */
      else
        deliver(sender, curl, n, &a);
      record(sender, n, &a);
      g_free(a.error);
    }
    if (due->len < CLAIM_BATCH)
      wait_for_work(sender, &seen, IDLE_POLL_US);
  }
  curl_easy_cleanup(curl);
  return NULL;
}

void
srv_notify_sender_wake(SrvNotifySender *sender)
{
  if (sender == NULL)
    return;
  g_mutex_lock(&sender->lock);
  sender->wakes++;
  g_cond_broadcast(&sender->cond);
  g_mutex_unlock(&sender->lock);
}

static void
sender_free(SrvNotifySender *sender)
{
  g_free(sender->smtp_url);
  g_free(sender->smtp_from);
  g_free(sender->smtp_user);
  if (sender->smtp_password != NULL)
    sodium_memzero(sender->smtp_password, strlen(sender->smtp_password));
  g_free(sender->smtp_password);
  g_free(sender->ca_file);
  if (sender->tz != NULL)
    g_time_zone_unref(sender->tz);
  if (sender->threads != NULL)
    g_ptr_array_unref(sender->threads);
  g_mutex_clear(&sender->lock);
  g_cond_clear(&sender->cond);
  g_free(sender);
}

void
srv_notify_sender_stop(SrvNotifySender *sender)
{
  if (sender == NULL)
    return;
  g_atomic_int_set(&sender->stopping, 1);
  srv_notify_sender_wake(sender);
  for (guint i = 0; sender->threads != NULL && i < sender->threads->len; i++)
    g_thread_join(g_ptr_array_index(sender->threads, i));
  g_clear_pointer(&sender->threads, g_ptr_array_unref);
  sender_free(sender);
}

/* ---- settings ------------------------------------------------------------------------------ */

static gboolean
config_error(GError **error, const char *message)
{
  g_set_error_literal(error, SRV_NOTIFY_ERROR, SRV_NOTIFY_ERROR_CONFIG, message);
  return FALSE;
}

static gboolean
read_smtp_settings(SrvNotifySender *s, const GkConfig *config, GError **error)
{
  const char *host = gk_config_get_string(config, "smtp.host");
  if (host == NULL || *host == '\0')
    return TRUE;
  const char *security = gk_config_get_string(config, "smtp.security");
  const char *from = gk_config_get_string(config, "smtp.from");
  const char *credentials = gk_config_get_string(config, "smtp.credentials-file");
  for (const char *p = host; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != ':')
      return config_error(error, "smtp.host must be a host name or address");
  if (from == NULL || !srv_notify_target_check("email", from, NULL))
    return config_error(error, "smtp.from must be the e-mail address notifications come from");
  /* Credentials and visitors' names never cross a network in the clear. */
  if (g_strcmp0(security, "none") == 0 && g_ascii_strcasecmp(host, "localhost") != 0 &&
      !g_str_has_prefix(host, "127.") && strcmp(host, "::1") != 0)
    return config_error(error, "smtp.security = none is only allowed for a relay on this machine");
  gboolean v6 = strchr(host, ':') != NULL;
  s->smtp_url = g_strdup_printf("%s://%s%s%s:%" G_GINT64_FORMAT, g_strcmp0(security, "tls") == 0 ? "smtps" : "smtp",
                                v6 ? "[" : "", host, v6 ? "]" : "", gk_config_get_int(config, "smtp.port"));
  s->smtp_tls = g_strcmp0(security, "none") != 0;
  s->smtp_from = g_strdup(from);
  if (credentials != NULL && *credentials != '\0') {
    guint8 *data = NULL;
    gsize len = 0;
    if (!gk_secure_file_read(credentials, 4096, &data, &len, error)) {
      g_prefix_error(error, "smtp.credentials-file: ");
      return FALSE;
    }
    gboolean ok = srv_notify_credentials_parse(data, len, &s->smtp_user, &s->smtp_password, error);
    gk_secure_free(data, len);
    if (!ok) {
      g_prefix_error(error, "smtp.credentials-file: ");
      return FALSE;
    }
  }
  return TRUE;
}

SrvNotifySender *
srv_notify_sender_start(SrvStore *store, const GkConfig *config, GError **error)
{
  g_return_val_if_fail(store != NULL && config != NULL, NULL);
  SrvNotifySender *s = g_new0(SrvNotifySender, 1);
  g_mutex_init(&s->lock);
  g_cond_init(&s->cond);
  s->store = store;
  s->connect_timeout_ms = (long) gk_config_get_int(config, "notify.connect-timeout-ms");
  s->timeout_ms = (long) gk_config_get_int(config, "notify.timeout-ms");
  /* Long enough for any attempt to end; a crashed sender's claims end with it. */
  s->lease_s = s->timeout_ms / 1000 + 10;
  s->retry.base_s = gk_config_get_int(config, "notify.retry-base-s");
  s->retry.max_s = gk_config_get_int(config, "notify.retry-max-s");
  s->retry.give_up_s = gk_config_get_int(config, "notify.give-up-hours") * 3600;
  s->offline_check_s = gk_config_get_int(config, "notify.offline-check-s");
  s->retention_s = gk_config_get_int(config, "notify.retention-days") * 86400;
  const char *ca = gk_config_get_string(config, "notify.ca-file");
  s->ca_file = ca != NULL && *ca != '\0' ? g_strdup(ca) : NULL;
  const char *tz = gk_config_get_string(config, "notify.timezone");
  s->tz = tz != NULL && *tz != '\0' ? g_time_zone_new_identifier(tz) : g_time_zone_new_local();
  if (s->tz == NULL) {
    config_error(error, "notify.timezone is not a time zone this system knows (e.g. Asia/Tokyo)");
    sender_free(s);
    return NULL;
  }
  if (s->ca_file != NULL && !g_file_test(s->ca_file, G_FILE_TEST_IS_REGULAR)) {
    config_error(error, "notify.ca-file is not a readable file");
    sender_free(s);
    return NULL;
  }
  if (!read_smtp_settings(s, config, error)) {
    sender_free(s);
    return NULL;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  guint n = (guint) gk_config_get_int(config, "notify.senders");
  s->threads = g_ptr_array_new();
  for (guint i = 0; i < n; i++) {
    ThreadArgs *args = g_new0(ThreadArgs, 1);
    args->sender = s;
    args->index = i;
    g_ptr_array_add(s->threads, g_thread_new("notify", sender_thread, args));
  }
  GK_LOG_INFO("notify.started", GK_UINT("senders", n), GK_BOOL("smtp", s->smtp_url != NULL));
  return s;
}
