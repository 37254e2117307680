/* Reception visits in the kiosk engine: host search (kana-aware), walk-ins,
 * check-in by reception code (the server first, then the synced code hashes)
 * behind a lock against guessing that survives restarts, check-in by ticket
 * through the gate's verdict path, and check-out by badge or ticket.
 * Docs: docs/kiosk.md, "Reception visits". */
#include "kiosk-visit.h"

#include <stdarg.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-visit.h"
#include "kiosk-settings.h"
#include "kiosk-sync.h"

G_DEFINE_QUARK(kiosk-visit-error-quark, kiosk_visit_error)

/* The contract's limits are the protocol's: the server checks the same. */
G_STATIC_ASSERT(KIOSK_VISIT_NAME_MAX == GK_VISIT_NAME_MAX);
G_STATIC_ASSERT(KIOSK_VISIT_COMPANY_MAX == GK_VISIT_COMPANY_MAX);
G_STATIC_ASSERT(KIOSK_VISIT_PURPOSE_MAX == GK_VISIT_PURPOSE_MAX);
G_STATIC_ASSERT(KIOSK_RECEPTION_CODE_DIGITS == GK_RECEPTION_CODE_DIGITS);

/* The longest keypad lock, and how long without a wrong code before the count
 * starts again (as long as the longest lock, so waiting out locks never buys
 * more guesses than the doubling allows). */
#define LOCK_MAX_S 3600
#define WRONG_FORGET_S 3600

/* Meta keys of the wrong-code state (kept in the store: a restart keeps the lock). */
#define META_WRONG "reception_code.wrong"
#define META_LAST_WRONG "reception_code.last_wrong"
#define META_LOCKED_UNTIL "reception_code.locked_until"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/* ---- small helpers ------------------------------------------------------------------- */

void
kiosk_host_free(KioskHost *host)
{
  if (host == NULL)
    return;
  g_free(host->name);
  g_free(host->reading);
  g_free(host->department);
  g_free(host);
}

void
kiosk_visit_result_clear(KioskVisitResult *r)
{
  if (r == NULL)
    return;
  g_free(r->visit_id);
  g_free(r->visitor_name);
  g_free(r->company);
  g_free(r->host_name);
  memset(r, 0, sizeof *r);
}

void
kiosk_visit_result_free(KioskVisitResult *r)
{
  if (r == NULL)
    return;
  kiosk_visit_result_clear(r);
  g_free(r);
}

void
kiosk_code_answer_clear(KioskCodeAnswer *a)
{
  if (a == NULL)
    return;
  g_free(a->visitor);
  g_free(a->company);
  g_free(a->host_name);
  g_free(a->used_by);
  memset(a, 0, sizeof *a);
}

static gint64
wall_now(void)
{
  return g_get_real_time() / G_USEC_PER_SEC;
}

/* The device time for validity windows: as kiosk_gate_now(), the local clock
 * corrected by the offset the last sync measured when it is 2 s or more. */
static gint64
device_now(KioskStore *store)
{
  gint64 off = kiosk_store_get_meta_int(store, "clock_offset_ms", 0);
  if (ABS(off) < 2000)
    off = 0;
  return (g_get_real_time() / 1000 + off) / 1000;
}

static char *
col_text(sqlite3_stmt *st, int i)
{
  return g_strdup((const char *) sqlite3_column_text(st, i));
}

/* A prepared read on the store's connection (NULL with @error set). */
static sqlite3_stmt *
query(KioskStore *store, const char *sql, GError **error)
{
  GkStore *gk = kiosk_store_gk(store);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(gk_store_db(gk), sql, -1, &st, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(st);
    gk_store_set_error_from_db(gk, rc, error);
    return NULL;
  }
  return st;
}

/* 1: a row, 0: none, -1: failed (@error set). */
static int
next_row(KioskStore *store, sqlite3_stmt *st, GError **error)
{
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  gk_store_set_error_from_db(kiosk_store_gk(store), rc, error);
  return -1;
}

static gboolean G_GNUC_PRINTF(3, 4)
visit_error(GError **error, KioskVisitError code, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  GError *e = g_error_new_valist(KIOSK_VISIT_ERROR, code, format, args);
  va_end(args);
  g_propagate_error(error, e);
  return FALSE;
}

/* The host's name, or NULL when the directory has no such host. */
static char *
host_name(KioskStore *store, gint64 host_id, GError **error)
{
  g_autoptr(sqlite3_stmt) st = query(store, "SELECT name FROM hosts WHERE id = ?1", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64(st, 1, host_id);
  return next_row(store, st, error) == 1 ? col_text(st, 0) : NULL;
}

/* ---- host search ------------------------------------------------------------------------ */

/* The form names are compared in: NFKC (full-width Latin and half-width kana
 * become the usual forms), ASCII lower case, katakana as hiragana. */
static char *
fold(const char *s)
{
  g_autofree char *nfkc = s != NULL ? g_utf8_normalize(s, -1, G_NORMALIZE_ALL_COMPOSE) : NULL;
  if (nfkc == NULL)
    return g_strdup("");
  GString *out = g_string_sized_new(strlen(nfkc));
  for (const char *p = nfkc; *p != '\0'; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (c >= 0x30a1 && c <= 0x30f6) /* ァ..ヶ -> ぁ..ゖ */
      c -= 0x60;
    else if (c < 0x80)
      c = (gunichar) g_ascii_tolower((gchar) c);
    g_string_append_unichar(out, c);
  }
  return g_string_free(out, FALSE);
}

typedef struct {
  KioskHost *host;
  char *key;  /* folded reading (or name): the sort order */
} Candidate;

static gint
candidate_cmp(gconstpointer a, gconstpointer b)
{
  const Candidate *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c != 0 ? c : g_strcmp0(x->host->name, y->host->name);
}

static void
candidate_clear(gpointer p)
{
  Candidate *c = p;
  kiosk_host_free(c->host);
  g_free(c->key);
}

GPtrArray *
kiosk_visit_search_hosts(KioskStore *store, const char *query_text, guint limit, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  if (query_text != NULL && !g_utf8_validate(query_text, -1, NULL)) {
    visit_error(error, KIOSK_VISIT_ERROR_INVALID, "the search text is not valid UTF-8");
    return NULL;
  }
  g_autofree char *needle = fold(query_text);
  /* A directory is hundreds of names: folding each in C is simpler and
   * surer than teaching SQLite kana. */
  g_autoptr(sqlite3_stmt) st = query(store, "SELECT id, name, reading, department FROM hosts", error);
  if (st == NULL)
    return NULL;
  g_autoptr(GArray) found = g_array_new(FALSE, TRUE, sizeof(Candidate));
  g_array_set_clear_func(found, candidate_clear);
  int r;
  while ((r = next_row(store, st, error)) == 1) {
    const char *name = (const char *) sqlite3_column_text(st, 1);
    const char *reading = (const char *) sqlite3_column_text(st, 2);
    g_autofree char *fname = fold(name);
    g_autofree char *freading = fold(reading);
    if (needle[0] != '\0' && strstr(fname, needle) == NULL && strstr(freading, needle) == NULL)
      continue;
    KioskHost *h = g_new0(KioskHost, 1);
    h->id = sqlite3_column_int64(st, 0);
    h->name = g_strdup(name);
    h->reading = reading != NULL && reading[0] != '\0' ? g_strdup(reading) : NULL;
    h->department = col_text(st, 3);
    Candidate c = { h, g_strdup(freading[0] != '\0' ? freading : fname) };
    g_array_append_val(found, c);
  }
  if (r < 0)
    return NULL;
  g_array_sort(found, candidate_cmp);
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify) kiosk_host_free);
  for (guint i = 0; i < found->len && i < limit; i++) {
    Candidate *c = &g_array_index(found, Candidate, i);
    g_ptr_array_add(out, g_steal_pointer(&c->host));
  }
  return out;
}

/* ---- delivery ------------------------------------------------------------------------ */

/* After a refusal the certificate may have been renewed by the sync (which
 * has its own client): take the stored one for the next attempt. */
static void
refresh_credentials(KioskStore *store, KioskClient *client)
{
  KioskIdentity id = { 0 };
  if (kiosk_store_load_identity(store, &id, NULL))
    kiosk_client_set_credentials(client, id.cert_pem, id.key_pem);
  kiosk_identity_clear(&id);
}

/* Tries to hand the queued event to the server now; the visitor sees whether
 * the host was told. A failure leaves the event queued for the next sync. */
static void
deliver(KioskStore *store, KioskClient *client, const char *event_id, KioskVisitResult *out)
{
  out->offline = TRUE;
  if (client == NULL)
    return;
  gboolean acked = FALSE, notified = FALSE;
  g_autoptr(GError) error = NULL;
  if (!kiosk_sync_push_event(store, client, event_id, KIOSK_VISIT_ONLINE_TIMEOUT_MS, &acked, &notified, &error)) {
    GK_LOG_INFO("kiosk.visit.queued", GK_STR("event", event_id), GK_STR("error", error->message));
    if (kiosk_sync_error_suggests_revocation(error, NULL))
      refresh_credentials(store, client);
    return;
  }
  out->offline = !acked;
  /* Only the server's word: a host without a channel is not "notified". */
  out->host_notified = notified;
}

/* ---- walk-ins ------------------------------------------------------------------------ */

/* A walk-in field: NULL/"" is allowed unless @required; else the visitor text
 * rules. The message names the field, never its value. */
static gboolean
check_field(const char *value, gsize max, gboolean required, const char *what, GError **error)
{
  if (value == NULL || value[0] == '\0')
    return !required || visit_error(error, KIOSK_VISIT_ERROR_INVALID, "the %s is required", what);
  const char *why = NULL;
  if (!gk_visit_text_ok(value, max, &why))
    return visit_error(error, KIOSK_VISIT_ERROR_INVALID, "the %s %s", what, why);
  return TRUE;
}

static const char *
empty_to_null(const char *s)
{
  return s != NULL && s[0] != '\0' ? s : NULL;
}

gboolean
kiosk_visit_photo_ok(GBytes *photo)
{
  gsize len = 0;
  const guint8 *p = photo != NULL ? g_bytes_get_data(photo, &len) : NULL;
  return p != NULL && len >= 5 && len <= KIOSK_VISIT_PHOTO_MAX && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff &&
         p[len - 2] == 0xff && p[len - 1] == 0xd9;
}

gboolean
kiosk_visit_walkin(KioskStore *store, KioskClient *client, const KioskWalkin *w, KioskVisitResult *out,
                   GError **error)
{
  g_return_val_if_fail(store != NULL && w != NULL && out != NULL, FALSE);
  memset(out, 0, sizeof *out);
  /* The site says which fields the form requires; a name always is (a visit
   * without one helps nobody at an evacuation). */
  g_autofree char *required_list = kiosk_settings_get(store, "walkin-required");
  g_auto(GStrv) required = g_strsplit(required_list != NULL ? required_list : "", ",", -1);
  if (!check_field(w->visitor_name, KIOSK_VISIT_NAME_MAX, TRUE, "name", error) ||
      !check_field(w->company, KIOSK_VISIT_COMPANY_MAX, g_strv_contains((const char *const *) required, "company"),
                   "company", error) ||
      !check_field(w->purpose, KIOSK_VISIT_PURPOSE_MAX, g_strv_contains((const char *const *) required, "purpose"),
                   "purpose", error))
    return FALSE;
  g_autofree char *host = NULL;
  if (w->host_id > 0) {
    g_autoptr(GError) local = NULL;
    host = host_name(store, w->host_id, &local);
    if (local != NULL) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    if (host == NULL)
      return visit_error(error, KIOSK_VISIT_ERROR_NO_HOST, "the chosen host is not in the directory");
  } else if (g_strv_contains((const char *const *) required, "host")) {
    return visit_error(error, KIOSK_VISIT_ERROR_NO_HOST, "choose the person you are visiting");
  }
  g_autofree char *terms = kiosk_settings_get(store, "terms-text");
  if (terms != NULL && terms[0] != '\0' && !w->terms_accepted)
    return visit_error(error, KIOSK_VISIT_ERROR_INVALID, "the terms were not accepted");
  /* Optional even where the site takes photos: a kiosk without a working
   * camera must still let the visitor in. */
  if (w->photo != NULL && !kiosk_visit_photo_ok(w->photo))
    return visit_error(error, KIOSK_VISIT_ERROR_INVALID, "the photo is not a JPEG of at most %d bytes",
                       KIOSK_VISIT_PHOTO_MAX);

  g_autofree char *visit_id = gk_visit_id_new();
  g_autofree char *event_id = kiosk_event_new_id();
  gint64 at = wall_now();
  /* A walk-in asks the server nothing: it is never an offline decision. */
  KioskEvent ev = { .id = event_id, .kind = (char *) "walkin", .at = at, .offline = FALSE, .visit_id = visit_id };
  KioskVisitRecord v = {
    .id = visit_id,
    .kind = "walkin",
    .visitor_name = w->visitor_name,
    .company = empty_to_null(w->company),
    .purpose = empty_to_null(w->purpose),
    .host_id = w->host_id > 0 ? w->host_id : 0,
    .terms_accepted = w->terms_accepted,
    .checkin_event_id = event_id,
    .checked_in_at = at,
    .photo = w->photo,
  };
  if (!kiosk_store_record_visit(store, &ev, FALSE, FALSE, NULL, NULL, 0, &v, error))
    return FALSE;
  out->visit_id = g_strdup(visit_id);
  out->visitor_name = g_strdup(w->visitor_name);
  out->company = g_strdup(empty_to_null(w->company));
  out->host_name = g_steal_pointer(&host);
  out->at = at;
  deliver(store, client, event_id, out);
  GK_LOG_INFO("kiosk.visit.walkin", GK_STR("visit", visit_id), GK_BOOL("host_notified", out->host_notified),
              GK_BOOL("image", w->photo != NULL));
  return TRUE;
}

/* ---- the lock against guessing codes --------------------------------------------------- */

typedef struct {
  gint64 wrong;        /* wrong codes counted */
  gint64 last_wrong;   /* wall time of the last one */
  gint64 locked_until; /* wall time */
} CodeLock;

static void
lock_load(KioskStore *store, gint64 now, CodeLock *l)
{
  l->wrong = kiosk_store_get_meta_int(store, META_WRONG, 0);
  l->last_wrong = kiosk_store_get_meta_int(store, META_LAST_WRONG, 0);
  l->locked_until = kiosk_store_get_meta_int(store, META_LOCKED_UNTIL, 0);
  /* A clock set back must not turn a lock into a day-long one. */
  l->locked_until = MIN(l->locked_until, now + LOCK_MAX_S);
  if (l->locked_until <= now && now - l->last_wrong >= WRONG_FORGET_S)
    l->wrong = 0;
}

static gboolean
lock_save(KioskStore *store, const CodeLock *l, GError **error)
{
  GkStore *gk = kiosk_store_gk(store);
  if (!gk_store_begin(gk, error))
    return FALSE;
  if (kiosk_store_set_meta_int(store, META_WRONG, l->wrong, error) &&
      kiosk_store_set_meta_int(store, META_LAST_WRONG, l->last_wrong, error) &&
      kiosk_store_set_meta_int(store, META_LOCKED_UNTIL, l->locked_until, error) && gk_store_commit(gk, error))
    return TRUE;
  gk_store_rollback(gk);
  return FALSE;
}

static gboolean
rate_limited(KioskVisitResult *out, gint64 seconds, GError **error)
{
  out->retry_after = MAX(seconds, 1);
  return visit_error(error, KIOSK_VISIT_ERROR_RATE_LIMITED, "too many wrong codes: try again in %" G_GINT64_FORMAT
                     " s", out->retry_after);
}

/* Counts a wrong code; from the KIOSK_RECEPTION_CODE_FREE_TRIES-th on, the
 * keypad locks for FIRST_LOCK, doubling with every further one. Always FALSE:
 * BAD_CODE, RATE_LIMITED when this code locked it, or the store's error. */
static gboolean
wrong_code(KioskStore *store, gint64 now, KioskVisitResult *out, GError **error)
{
  CodeLock l;
  lock_load(store, now, &l);
  l.wrong++;
  l.last_wrong = now;
  if (l.wrong >= KIOSK_RECEPTION_CODE_FREE_TRIES) {
    gint64 doublings = l.wrong - KIOSK_RECEPTION_CODE_FREE_TRIES;
    gint64 lock = doublings >= 7 ? LOCK_MAX_S : MIN((gint64) KIOSK_RECEPTION_CODE_FIRST_LOCK << doublings, LOCK_MAX_S);
    l.locked_until = now + lock;
  }
  if (!lock_save(store, &l, error))
    return FALSE;
  GK_LOG_WARN("kiosk.visit.wrong_code", GK_INT("wrong", l.wrong), GK_INT("locked_s", MAX(l.locked_until - now, 0)));
  if (l.locked_until > now)
    return rate_limited(out, l.locked_until - now, error);
  return visit_error(error, KIOSK_VISIT_ERROR_BAD_CODE, "no valid invitation has this reception code");
}

/* A right code (a check-in happened): the next visitor starts with a clean count. */
static void
lock_reset(KioskStore *store, gint64 now)
{
  CodeLock l;
  lock_load(store, now, &l);
  if (l.wrong == 0)
    return;
  CodeLock clean = { 0 };
  g_autoptr(GError) error = NULL;
  if (!lock_save(store, &clean, &error))
    GK_LOG_WARN("kiosk.visit.lock_reset_failed", GK_STR("error", error->message));
}

/* ---- check-in by reception code ------------------------------------------------------------ */

gboolean
kiosk_visit_parse_code_answer(JsonObject *o, KioskCodeAnswer *out, GError **error)
{
  static const GkJsonField f[] = {
    { "result", GK_JSON_STRING, TRUE, 1, 32 },
    { "reason", GK_JSON_STRING, FALSE, 1, 32 },
    { "ticket_id", GK_JSON_STRING, FALSE, 32, 32 },
    { "multi", GK_JSON_BOOL, FALSE, 0, 0 },
    { "visit_id", GK_JSON_STRING, FALSE, GK_VISIT_ID_LEN, GK_VISIT_ID_LEN },
    { "visitor", GK_JSON_STRING, FALSE, 1, 1024 },
    { "company", GK_JSON_STRING, FALSE, 0, 1024 },
    { "host_id", GK_JSON_INT, FALSE, 1, G_MAXINT64 },
    { "host_name", GK_JSON_STRING, FALSE, 0, 1024 },
    { "host_notified", GK_JSON_BOOL, FALSE, 0, 0 },
    { "used_at", GK_JSON_INT, FALSE, 0, G_MAXINT64 },
    { "used_by", GK_JSON_STRING, FALSE, 0, 256 },
    { "used_by_name", GK_JSON_STRING, FALSE, 0, 256 },
    { "server_time", GK_JSON_INT, TRUE, 0, G_MAXUINT32 },
  };
  memset(out, 0, sizeof *out);
  if (!gk_json_check(o, f, G_N_ELEMENTS(f), TRUE, "redeem-code", error))
    return FALSE;
  const char *result = gk_json_get_string(o, "result", "");
  const char *reason = gk_json_get_string(o, "reason", "");
  const char *ticket = gk_json_get_string(o, "ticket_id", NULL);
  guint8 raw[16];
  if (ticket != NULL && !gk_hex_decode_16(ticket, raw)) {
    g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_RANGE, "redeem-code.ticket_id is not 32 hex digits");
    return FALSE;
  }
  if (ticket != NULL) {
    g_autofree char *lower = g_ascii_strdown(ticket, -1);
    g_strlcpy(out->ticket_id, lower, sizeof out->ticket_id);
  }
  if (strcmp(result, "accepted") == 0 && ticket != NULL) {
    out->result = KIOSK_CODE_ACCEPTED;
    out->multi = gk_json_get_bool(o, "multi", FALSE);
    out->visitor = g_strdup(gk_json_get_string(o, "visitor", NULL));
    out->company = g_strdup(empty_to_null(gk_json_get_string(o, "company", NULL)));
    out->host_id = gk_json_get_int(o, "host_id", 0);
    out->host_name = g_strdup(empty_to_null(gk_json_get_string(o, "host_name", NULL)));
    out->host_notified = gk_json_get_bool(o, "host_notified", FALSE);
    return TRUE;
  }
  if (strcmp(result, "already-used") == 0 && ticket != NULL) {
    out->result = KIOSK_CODE_ALREADY_USED;
    out->used_at = gk_json_get_int(o, "used_at", 0);
    const char *name = gk_json_get_string(o, "used_by_name", "");
    out->used_by = g_strdup(name[0] != '\0' ? name : gk_json_get_string(o, "used_by", ""));
    return TRUE;
  }
  if (strcmp(result, "rejected") == 0 && strcmp(reason, "bad-code") == 0) {
    out->result = KIOSK_CODE_BAD;
    return TRUE;
  }
  if (strcmp(result, "rejected") == 0 && strcmp(reason, "not-yet-valid") == 0) {
    out->result = KIOSK_CODE_NOT_YET_VALID;
    return TRUE;
  }
  g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_RANGE, "redeem-code: an unknown result or reason");
  return FALSE;
}

typedef enum {
  ONLINE_NO_ANSWER, /* decide offline */
  ONLINE_ANSWER,    /* *answer holds what the server decided */
  ONLINE_LIMITED,   /* 429: the server's own limit */
} OnlineResult;

static OnlineResult
redeem_code_online(KioskStore *store, KioskClient *client, const char *code, const char *event_id, gint64 at,
                   KioskCodeAnswer *answer)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "code");
  json_builder_add_string_value(b, code);
  json_builder_set_member_name(b, "event_id");
  json_builder_add_string_value(b, event_id);
  json_builder_set_member_name(b, "at");
  json_builder_add_int_value(b, at);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *server_code = NULL;
  long status = 0;
  gboolean ok = kiosk_client_request(client, KIOSK_PORT_DEVICE, "POST", "/v1/redeem-code", body,
                                     KIOSK_VISIT_ONLINE_TIMEOUT_MS, &status, &root, NULL, &server_code, &error);
  /* The body held the code: it goes no further than this call. */
  memset(body, 0, strlen(body));
  if (!ok) {
    if (status == 429)
      return ONLINE_LIMITED;
    GK_LOG_INFO("kiosk.visit.code_offline", GK_STR("error", error->message));
    if (kiosk_sync_error_suggests_revocation(error, server_code))
      refresh_credentials(store, client);
    return ONLINE_NO_ANSWER;
  }
  if (!kiosk_visit_parse_code_answer(json_node_get_object(root), answer, &error)) {
    GK_LOG_WARN("kiosk.visit.bad_answer", GK_STR("error", error->message));
    kiosk_code_answer_clear(answer);
    return ONLINE_NO_ANSWER;
  }
  return ONLINE_ANSWER;
}

/* What the code check-in knows about the ticket (from the server or the feed). */
typedef struct {
  const char *ticket_id;
  const char *visitor;
  const char *company;
  gint64 host_id;
  const char *host_name;
  gboolean one_time;
  gint64 valid_until;    /* 0: unknown */
  gboolean host_notified;/* the server's answer said so */
} CodeTicket;

/* Records the check-in (event + redemption of a one-time ticket + visit, one
 * transaction) and fills @out. */
static gboolean
record_code_checkin(KioskStore *store, const char *event_id, gint64 at, gboolean online, const CodeTicket *t,
                    KioskVisitResult *out, GError **error)
{
  g_autofree char *device_id = kiosk_store_get_meta(store, "device_id");
  g_autofree char *device_name = kiosk_store_get_meta(store, "name");
  g_autofree char *visit_id = gk_visit_id_for_event(event_id);
  KioskEvent ev = {
    .id = (char *) event_id, .kind = (char *) "checkin", .ticket_id = (char *) t->ticket_id, .at = at, .offline = !online
  };
  KioskVisitRecord v = {
    .id = visit_id,
    .kind = "ticket",
    .ticket_id = t->ticket_id,
    .visitor_name = t->visitor,
    .company = t->company,
    .host_id = t->host_id,
    .checkin_event_id = event_id,
    .checked_in_at = at,
    .host_notified = t->host_notified,
  };
  /* Online, the server stored this event when it redeemed: queue it as sent. */
  if (!kiosk_store_record_visit(store, &ev, online, t->one_time, device_id, device_name, t->valid_until, &v, error))
    return FALSE;
  lock_reset(store, at);
  out->visit_id = g_steal_pointer(&visit_id);
  out->visitor_name = g_strdup(t->visitor);
  out->company = g_strdup(t->company);
  out->host_name = g_strdup(t->host_name);
  out->at = at;
  out->offline = !online;
  out->host_notified = t->host_notified;
  GK_LOG_INFO("kiosk.visit.code_checkin", GK_STR("visit", out->visit_id), GK_BOOL("offline", !online));
  return TRUE;
}

/* The feed's view of a typed code: the live ticket whose code hash matches. */
static gboolean
code_checkin_offline(KioskStore *store, const char *code, const char *event_id, gint64 at, KioskVisitResult *out,
                     GError **error)
{
  gint64 site_id = kiosk_store_get_meta_int(store, "site_id", -1);
  g_autofree char *hash = gk_reception_code_hash_hex(site_id, code);
  gint64 now = device_now(store);
  g_autoptr(sqlite3_stmt) st =
    query(store, "SELECT t.id, t.valid_from, t.valid_until, t.flags, t.visitor, t.host_id, h.name"
                 " FROM tickets t LEFT JOIN hosts h ON h.id = t.host_id"
                 " WHERE t.code_hash = ?1 AND t.revoked = 0 AND t.valid_until >= ?2 LIMIT 1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, now);
  int r = next_row(store, st, error);
  if (r < 0)
    return FALSE;
  if (r == 0)
    return wrong_code(store, at, out, error);
  if (sqlite3_column_int64(st, 1) > now)
    return visit_error(error, KIOSK_VISIT_ERROR_BAD_CODE, "this invitation is not valid yet");
  g_autofree char *ticket_id = col_text(st, 0);
  gboolean one_time = (sqlite3_column_int64(st, 3) & GK_TICKET_FLAG_MULTI_ENTRY) == 0;
  if (one_time) {
    KioskRedemption red = { 0 };
    if (!kiosk_store_get_redemption(store, ticket_id, &red, error))
      return FALSE;
    gboolean used = red.found;
    kiosk_redemption_clear(&red);
    if (used)
      return visit_error(error, KIOSK_VISIT_ERROR_BAD_CODE, "this invitation was used already");
  }
  g_autofree char *visitor = col_text(st, 4);
  g_autofree char *host = col_text(st, 6);
  CodeTicket t = {
    .ticket_id = ticket_id,
    .visitor = visitor,
    .host_id = sqlite3_column_int64(st, 5),
    .host_name = host,
    .one_time = one_time,
    .valid_until = sqlite3_column_int64(st, 2),
  };
  return record_code_checkin(store, event_id, at, FALSE, &t, out, error);
}

/* The ticket's valid_until from the feed (0: not there yet), for the purge. */
static gint64
ticket_valid_until(KioskStore *store, const char *ticket_id)
{
  g_autoptr(sqlite3_stmt) st = query(store, "SELECT valid_until FROM tickets WHERE id = ?1", NULL);
  if (st == NULL)
    return 0;
  sqlite3_bind_text(st, 1, ticket_id, -1, SQLITE_STATIC);
  return next_row(store, st, NULL) == 1 ? sqlite3_column_int64(st, 0) : 0;
}

gboolean
kiosk_visit_reception_code(KioskStore *store, KioskClient *client, const char *code, KioskVisitResult *out,
                           GError **error)
{
  g_return_val_if_fail(store != NULL && out != NULL, FALSE);
  memset(out, 0, sizeof *out);
  if (!gk_reception_code_ok(code))
    return visit_error(error, KIOSK_VISIT_ERROR_INVALID, "a reception code is %d digits",
                       KIOSK_RECEPTION_CODE_DIGITS);
  gint64 at = wall_now();
  CodeLock lock;
  lock_load(store, at, &lock);
  if (lock.locked_until > at)
    return rate_limited(out, lock.locked_until - at, error);

  /* One event id for the online attempt and the offline decision: a request
   * that reached the server before the timeout and the later push count once. */
  g_autofree char *event_id = kiosk_event_new_id();
  if (client != NULL) {
    KioskCodeAnswer a = { 0 };
    OnlineResult r = redeem_code_online(store, client, code, event_id, at, &a);
    if (r == ONLINE_LIMITED)
      return rate_limited(out, MAX(lock.locked_until - at, (gint64) KIOSK_RECEPTION_CODE_FIRST_LOCK), error);
    if (r == ONLINE_ANSWER) {
      gboolean ok = FALSE;
      switch (a.result) {
      case KIOSK_CODE_ACCEPTED: {
        CodeTicket t = {
          .ticket_id = a.ticket_id,
          .visitor = a.visitor,
          .company = a.company,
          .host_id = a.host_id,
          .host_name = a.host_name,
          .one_time = !a.multi,
          .valid_until = ticket_valid_until(store, a.ticket_id),
          .host_notified = a.host_notified,
        };
        ok = record_code_checkin(store, event_id, at, TRUE, &t, out, error);
        break;
      }
      case KIOSK_CODE_ALREADY_USED: {
        /* Remember it, so this kiosk says the same when the server is away. */
        g_autoptr(GError) put_error = NULL;
        if (!kiosk_store_put_redemption(store, a.ticket_id, a.used_at, NULL, a.used_by,
                                        ticket_valid_until(store, a.ticket_id), &put_error))
          GK_LOG_WARN("kiosk.redemption_not_stored", GK_STR("error", put_error->message));
        visit_error(error, KIOSK_VISIT_ERROR_BAD_CODE, "this invitation was used already");
        break;
      }
      case KIOSK_CODE_NOT_YET_VALID:
        visit_error(error, KIOSK_VISIT_ERROR_BAD_CODE, "this invitation is not valid yet");
        break;
      case KIOSK_CODE_BAD:
      default:
        ok = wrong_code(store, at, out, error);
        break;
      }
      kiosk_code_answer_clear(&a);
      return ok;
    }
  }
  return code_checkin_offline(store, code, event_id, at, out, error);
}

/* ---- check-in by ticket -------------------------------------------------------------------- */

gboolean
kiosk_visit_ticket(KioskGate *gate, KioskStore *store, const char *text, gsize len, KioskVerdict *verdict,
                   KioskVisitResult *out, GError **error)
{
  g_return_val_if_fail(gate != NULL && store != NULL && verdict != NULL && out != NULL, FALSE);
  memset(out, 0, sizeof *out);
  if (!kiosk_gate_scan(gate, text, len, 0, verdict, error))
    return FALSE;
  /* A rejection, or an exit scan (a gate set to checkout opens no visit). */
  if (!verdict->accepted || verdict->checkout || verdict->event_id == NULL)
    return TRUE;

  g_autoptr(sqlite3_stmt) st = query(store, "SELECT t.visitor, t.host_id, h.name FROM tickets t"
                                            " LEFT JOIN hosts h ON h.id = t.host_id WHERE t.id = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_text(st, 1, verdict->ticket_id, -1, SQLITE_STATIC);
  int r = next_row(store, st, error);
  if (r < 0)
    return FALSE;
  /* A ticket issued after the last sync is admitted by its signature; its
   * visitor's name arrives with the next pull. */
  g_autofree char *visitor = r == 1 ? col_text(st, 0) : NULL;
  gint64 host_id = r == 1 ? sqlite3_column_int64(st, 1) : 0;
  g_autofree char *host = r == 1 ? col_text(st, 2) : NULL;
  g_autofree char *visit_id = gk_visit_id_for_event(verdict->event_id);
  gint64 at = wall_now();
  KioskVisitRecord v = {
    .id = visit_id,
    .kind = "ticket",
    .ticket_id = verdict->ticket_id,
    .visitor_name = visitor,
    .host_id = host_id,
    .checkin_event_id = verdict->event_id,
    .checked_in_at = at,
    .host_notified = verdict->host_notified,
  };
  if (!kiosk_store_record_visit(store, NULL, FALSE, FALSE, NULL, NULL, 0, &v, error))
    return FALSE;
  out->visit_id = g_steal_pointer(&visit_id);
  out->visitor_name = g_steal_pointer(&visitor);
  out->host_name = g_steal_pointer(&host);
  out->at = at;
  out->offline = verdict->offline;
  out->host_notified = verdict->host_notified;
  return TRUE;
}

/* ---- check-out and the list of visitors present ---------------------------------------------- */

#define VISIT_COLS                                                                                   \
  "v.id, v.visitor_name, v.company, h.name, v.checked_in_at, v.checked_out_at, v.ticket_id"
#define VISIT_FROM " FROM visits v LEFT JOIN hosts h ON h.id = v.host_id"

static void
read_visit(sqlite3_stmt *st, KioskVisitResult *out, gboolean *out_open, char **out_ticket)
{
  out->visit_id = col_text(st, 0);
  out->visitor_name = col_text(st, 1);
  out->company = col_text(st, 2);
  out->host_name = col_text(st, 3);
  out->at = sqlite3_column_int64(st, 4);
  if (out_open != NULL)
    *out_open = sqlite3_column_type(st, 5) == SQLITE_NULL;
  if (out_ticket != NULL)
    *out_ticket = col_text(st, 6);
}

/* The visit a badge or ticket QR names: 1 found (open or not), 0 none, -1 failed. */
static int
find_visit(KioskStore *store, const char *text, gsize len, KioskVisitResult *found, gboolean *open, char **ticket_id,
           GError **error)
{
  g_autoptr(sqlite3_stmt) st = NULL;
  if (g_str_has_prefix(text, KIOSK_BADGE_PREFIX)) {
    const char *id = text + strlen(KIOSK_BADGE_PREFIX);
    if (!gk_visit_id_ok(id)) {
      visit_error(error, KIOSK_VISIT_ERROR_INVALID, "this is not a Genkan visitor badge");
      return -1;
    }
    st = query(store, "SELECT " VISIT_COLS VISIT_FROM " WHERE v.id = ?1", error);
    if (st == NULL)
      return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  } else {
    /* A ticket QR: verified first (an out-of-window one is still genuine: a
     * visitor may leave after the invitation's window), then its latest visit. */
    g_autoptr(GkKeyring) ring = kiosk_store_load_keyring(store, error);
    if (ring == NULL)
      return -1;
    GkTicket t;
    g_autoptr(GError) decode_error = NULL;
    if (!gk_ticket_decode(text, len, ring, device_now(store), &t, &decode_error) &&
        !g_error_matches(decode_error, GK_TICKET_ERROR, GK_TICKET_ERROR_EXPIRED) &&
        !g_error_matches(decode_error, GK_TICKET_ERROR, GK_TICKET_ERROR_NOT_YET_VALID)) {
      visit_error(error, KIOSK_VISIT_ERROR_INVALID, "this is neither a visitor badge nor a valid ticket");
      return -1;
    }
    if ((gint64) t.site_id != kiosk_store_get_meta_int(store, "site_id", -1))
      return 0;
    g_autofree char *hex = gk_ticket_id_to_hex(t.id);
    st = query(store, "SELECT " VISIT_COLS VISIT_FROM " WHERE v.ticket_id = ?1"
                      " ORDER BY v.checked_out_at IS NULL DESC, v.checked_in_at DESC LIMIT 1", error);
    if (st == NULL)
      return -1;
    sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
  }
  int r = next_row(store, st, error);
  if (r == 1)
    read_visit(st, found, open, ticket_id);
  return r;
}

gboolean
kiosk_visit_checkout(KioskStore *store, KioskClient *client, const char *text, gsize len, KioskVisitResult *out,
                     GError **error)
{
  g_return_val_if_fail(store != NULL && out != NULL && (text != NULL || len == 0), FALSE);
  memset(out, 0, sizeof *out);
  len = kiosk_scan_line_strip(text, len);
  /* Scanned bytes: bounded, and no NUL may hide a tail. */
  if (len == 0 || len > KIOSK_SCAN_LINE_MAX || memchr(text, '\0', len) != NULL)
    return visit_error(error, KIOSK_VISIT_ERROR_INVALID, "this is neither a visitor badge nor a valid ticket");
  g_autofree char *line = g_strndup(text, len);
  KioskVisitResult found = { 0 };
  gboolean open = FALSE;
  g_autofree char *ticket_id = NULL;
  int r = find_visit(store, line, len, &found, &open, &ticket_id, error);
  if (r < 0)
    return FALSE;
  if (r == 0 || !open) {
    kiosk_visit_result_clear(&found);
    return visit_error(error, KIOSK_VISIT_ERROR_NOT_VISITING, "this visitor is not checked in here");
  }
  g_autofree char *event_id = kiosk_event_new_id();
  gint64 at = wall_now();
  KioskEvent ev = {
    .id = event_id, .kind = (char *) "checkout", .ticket_id = ticket_id, .at = at, .visit_id = found.visit_id
  };
  gboolean ended = FALSE;
  if (!kiosk_store_record_checkout(store, &ev, found.visit_id, &ended, error)) {
    kiosk_visit_result_clear(&found);
    return FALSE;
  }
  if (!ended) {
    kiosk_visit_result_clear(&found);
    return visit_error(error, KIOSK_VISIT_ERROR_NOT_VISITING, "this visitor has checked out already");
  }
  *out = found;
  out->at = at;
  deliver(store, client, event_id, out);
  GK_LOG_INFO("kiosk.visit.checkout", GK_STR("visit", out->visit_id), GK_BOOL("offline", out->offline));
  return TRUE;
}

GPtrArray *
kiosk_visit_list_present(KioskStore *store, guint limit, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autoptr(sqlite3_stmt) st = query(store, "SELECT " VISIT_COLS VISIT_FROM " WHERE v.checked_out_at IS NULL"
                                            " ORDER BY v.checked_in_at DESC, v.id LIMIT ?1", error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64(st, 1, limit);
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func((GDestroyNotify) kiosk_visit_result_free);
  int r;
  while ((r = next_row(store, st, error)) == 1) {
    KioskVisitResult *v = g_new0(KioskVisitResult, 1);
    read_visit(st, v, NULL, NULL);
    /* The list shows who is here: name and id only, nothing more than needed. */
    g_clear_pointer(&v->company, g_free);
    g_clear_pointer(&v->host_name, g_free);
    g_ptr_array_add(list, v);
  }
  return r < 0 ? NULL : g_steal_pointer(&list);
}
