/* The kiosk's local encrypted store: schema (numbered migrations), identity,
 * change-feed application, redemptions, the durable event queue and the purge. */
#include "kiosk-store.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-secure-file.h"
#include "kiosk-settings.h"

G_DEFINE_QUARK(kiosk-store-error-quark, kiosk_store_error)

/* Ticket ids are kept as the 32-hex text the protocol uses: one form everywhere
 * (feed, events, JSON) means no conversion can go wrong. */
static const GkMigration migrations[] = {
  { 1,
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE tickets (id TEXT PRIMARY KEY, valid_from INTEGER NOT NULL, valid_until INTEGER NOT NULL,"
    "  flags INTEGER NOT NULL, key_id INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,"
    "  visitor TEXT, host_id INTEGER);"
    "CREATE TABLE hosts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, reading TEXT, department TEXT);"
    /* One row per one-time ticket: the first admission we know of. */
    "CREATE TABLE redemptions (ticket_id TEXT PRIMARY KEY, at INTEGER NOT NULL, device_id TEXT,"
    "  device_name TEXT, event_id TEXT, expires INTEGER);"
    "CREATE TABLE signing_keys (key_id INTEGER PRIMARY KEY, public_key BLOB NOT NULL,"
    "  retired INTEGER NOT NULL DEFAULT 0);"
    /* n keeps the queue in arrival order; id is what the server deduplicates on. */
    "CREATE TABLE events (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,"
    "  ticket_id TEXT, at INTEGER NOT NULL, offline INTEGER NOT NULL, reason TEXT,"
    "  sent INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX events_unsent ON events (sent, n);" },
  /* 2: reception visits. code_hash: the reception code's hash from the feed
   * (gk_reception_code_hash, 64 hex), to check typed codes offline. A visit is
   * opened by a walk-in or a ticket/code check-in at this device; walk-in
   * data travels to the server from here (the walk-in event names its visit).
   * Personal data: visits.visitor_name, .company, .purpose (purged). */
  { 2,
    "ALTER TABLE tickets ADD COLUMN code_hash TEXT;"
    "CREATE INDEX tickets_code ON tickets (code_hash) WHERE code_hash IS NOT NULL;"
    "ALTER TABLE events ADD COLUMN visit_id TEXT;"
    "CREATE TABLE visits (id TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('walkin', 'ticket')),"
    "  ticket_id TEXT, visitor_name TEXT, company TEXT, purpose TEXT, host_id INTEGER,"
    "  terms_accepted INTEGER NOT NULL DEFAULT 0, checkin_event_id TEXT NOT NULL, checked_in_at INTEGER NOT NULL,"
    "  checked_out_at INTEGER, checkout_event_id TEXT, host_notified INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX visits_open ON visits (checked_out_at, checked_in_at);"
    "CREATE INDEX visits_ticket ON visits (ticket_id, checked_in_at);"
    "CREATE INDEX visits_checkin_event ON visits (checkin_event_id);" },
  /* 3: walk-in photos (the site's "photo" setting), apart from the visit row so
   * lists never read them. A photo leaves the device with its walk-in event and
   * is deleted once the server acknowledged it, or by the retention purge.
   * Personal data: visit_photos.jpeg. */
  { 3,
    "CREATE TABLE visit_photos (visit_id TEXT PRIMARY KEY,"
    "  jpeg BLOB NOT NULL CHECK (length(jpeg) BETWEEN 1 AND 65536));" },
};

struct _KioskStore {
  GkStore *gk;
  sqlite3 *db;
  GHashTable *stmts; /* SQL text (static string) -> sqlite3_stmt */
};

static void
finalize_stmt(gpointer p)
{
  sqlite3_finalize(p);
}

static KioskStore *
wrap(GkStore *gk)
{
  KioskStore *s = g_new0(KioskStore, 1);
  s->gk = gk;
  s->db = gk_store_db(gk);
  s->stmts = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, finalize_stmt);
  /* Deleted photos and names are overwritten with zeros, not left in free
   * pages for anyone who later holds the key. */
  int rc = sqlite3_exec(s->db, "PRAGMA secure_delete=ON", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    GK_LOG_WARN("kiosk.store.secure_delete", GK_STR("error", sqlite3_errstr(rc)));
  return s;
}

static void
paths(const char *data_dir, char **db, char **kek)
{
  *db = g_build_filename(data_dir, KIOSK_DB_NAME, NULL);
  *kek = g_build_filename(data_dir, KIOSK_KEK_NAME, NULL);
}

KioskStore *
kiosk_store_create(const char *data_dir, GError **error)
{
  g_autofree char *db = NULL, *kek = NULL;
  paths(data_dir, &db, &kek);
  if (g_mkdir_with_parents(data_dir, 0700) != 0) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot create the data directory %s: %s",
                data_dir, g_strerror(e));
    return NULL;
  }
  /* The directory holds the KEK: nobody else may even list it. */
  if (g_chmod(data_dir, 0700) != 0) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot make %s private (mode 0700): %s",
                data_dir, g_strerror(e));
    return NULL;
  }
  if (g_file_test(db, G_FILE_TEST_EXISTS)) {
    g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_ENROLLED,
                "%s already holds a kiosk store: this device is enrolled (refusing to overwrite)", data_dir);
    return NULL;
  }
  if (!gk_store_create(db, kek, error))
    return NULL;
  GkStore *gk = gk_store_open(db, kek, migrations, G_N_ELEMENTS(migrations), error);
  return gk ? wrap(gk) : NULL;
}

KioskStore *
kiosk_store_open(const char *data_dir, GError **error)
{
  g_autofree char *db = NULL, *kek = NULL;
  paths(data_dir, &db, &kek);
  if (!g_file_test(db, G_FILE_TEST_EXISTS)) {
    g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_NOT_ENROLLED,
                "%s holds no kiosk store: enroll this device first (genkan-kiosk --data-dir %s enroll CODE)",
                data_dir, data_dir);
    return NULL;
  }
  GkStore *gk = gk_store_open(db, kek, migrations, G_N_ELEMENTS(migrations), error);
  return gk ? wrap(gk) : NULL;
}

void
kiosk_store_close(KioskStore *store)
{
  if (store == NULL)
    return;
  g_hash_table_destroy(store->stmts);
  gk_store_close(store->gk);
  g_free(store);
}

GkStore *
kiosk_store_gk(KioskStore *store)
{
  return store->gk;
}

gboolean
kiosk_store_wipe(const char *data_dir, GError **error)
{
  /* Every file gk-store may make beside the database (lock, rekey and
   * creation leftovers included); the KEK last. */
  static const char *const names[] = { KIOSK_DB_NAME, KIOSK_DB_NAME "-wal", KIOSK_DB_NAME "-shm",
                                       KIOSK_DB_NAME ".key", KIOSK_DB_NAME ".lock", KIOSK_DB_NAME ".rekey",
                                       KIOSK_DB_NAME ".rekey-wal", KIOSK_DB_NAME ".rekey-shm",
                                       KIOSK_DB_NAME ".creating", KIOSK_DB_NAME ".creating-wal",
                                       KIOSK_DB_NAME ".creating-shm", KIOSK_KEK_NAME };
  gboolean ok = TRUE;
  /* Try every file and report the first failure: a half-wiped directory must
   * still lose as much as it can (without the KEK the rest is unreadable). */
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autofree char *p = g_build_filename(data_dir, names[i], NULL);
    if (g_unlink(p) != 0 && errno != ENOENT && ok) {
      int e = errno;
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot delete %s: %s", p, g_strerror(e));
      ok = FALSE;
    }
  }
  if (ok) {
    g_autofree char *db = g_build_filename(data_dir, KIOSK_DB_NAME, NULL);
    gk_fsync_parent_dir(db, NULL);
  }
  return ok;
}

/* A cached prepared statement, reset and unbound; NULL with @error set. */
static sqlite3_stmt *
prep(KioskStore *s, const char *sql, GError **error)
{
  sqlite3_stmt *st = g_hash_table_lookup(s->stmts, sql);
  if (st != NULL) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
  }
  int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  if (rc != SQLITE_OK) {
    gk_store_set_error_from_db(s->gk, rc, error);
    return NULL;
  }
  g_hash_table_insert(s->stmts, (gpointer) sql, st);
  return st;
}

/* Steps a statement that returns no rows. */
static gboolean
run(KioskStore *s, sqlite3_stmt *st, GError **error)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return gk_store_set_error_from_db(s->gk, rc, error);
  return TRUE;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
  if (v == NULL)
    sqlite3_bind_null(st, i);
  else
    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* ---- meta ---------------------------------------------------------------------- */

char *
kiosk_store_get_meta(KioskStore *s, const char *key)
{
  sqlite3_stmt *st = prep(s, "SELECT value FROM meta WHERE key = ?1", NULL);
  if (st == NULL)
    return NULL;
  bind_text(st, 1, key);
  char *v = NULL;
  if (sqlite3_step(st) == SQLITE_ROW)
    v = g_strdup((const char *) sqlite3_column_text(st, 0));
  sqlite3_reset(st);
  return v;
}

gint64
kiosk_store_get_meta_int(KioskStore *s, const char *key, gint64 fallback)
{
  g_autofree char *v = kiosk_store_get_meta(s, key);
  gint64 n = 0;
  if (v == NULL || !g_ascii_string_to_signed(v, 10, G_MININT64, G_MAXINT64, &n, NULL))
    return fallback;
  return n;
}

gboolean
kiosk_store_set_meta(KioskStore *s, const char *key, const char *value, GError **error)
{
  sqlite3_stmt *st = prep(s, "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", error);
  if (st == NULL)
    return FALSE;
  bind_text(st, 1, key);
  bind_text(st, 2, value);
  return run(s, st, error);
}

gboolean
kiosk_store_set_meta_int(KioskStore *s, const char *key, gint64 value, GError **error)
{
  char buf[32];
  g_snprintf(buf, sizeof buf, "%" G_GINT64_FORMAT, value);
  return kiosk_store_set_meta(s, key, buf, error);
}

/* ---- remote settings ------------------------------------------------------------ */

/* Remote settings live in meta as "config.<key>": this range holds them all
 * ('/' follows '.' in ASCII), so a new set replaces the old one whole. */
#define SETTING_PREFIX "config."

char *
kiosk_store_get_setting(KioskStore *s, const char *key)
{
  g_return_val_if_fail(s != NULL && key != NULL, NULL);
  g_autofree char *meta_key = g_strconcat(SETTING_PREFIX, key, NULL);
  return kiosk_store_get_meta(s, meta_key);
}

gboolean
kiosk_store_apply_device_config(KioskStore *s, const KioskDeviceConfig *dc, GError **error)
{
  g_return_val_if_fail(s != NULL && dc != NULL, FALSE);
  if (!gk_store_begin(s->gk, error))
    return FALSE;
  gboolean ok = (dc->name == NULL || kiosk_store_set_meta(s, "name", dc->name, error)) &&
                (dc->mode == NULL || kiosk_store_set_meta(s, "mode", dc->mode, error)) &&
                (dc->cert_expires_at <= 0 || kiosk_store_set_meta_int(s, "cert_expires_at", dc->cert_expires_at, error));
  if (ok && dc->config != NULL) {
    sqlite3_stmt *st = prep(s, "DELETE FROM meta WHERE key >= 'config.' AND key < 'config/'", error);
    ok = st != NULL && run(s, st, error);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, dc->config);
    while (ok && g_hash_table_iter_next(&it, &k, &v)) {
      g_autofree char *meta_key = g_strconcat(SETTING_PREFIX, (const char *) k, NULL);
      ok = kiosk_store_set_meta(s, meta_key, v, error);
    }
    /* A mode set remotely is the device's mode (the server changed the row too). */
    const char *mode = g_hash_table_lookup(dc->config, "mode");
    ok = ok && (mode == NULL || kiosk_store_set_meta(s, "mode", mode, error)) &&
         kiosk_store_set_meta_int(s, "config_version", dc->config_version, error);
  }
  ok = ok && gk_store_commit(s->gk, error);
  if (!ok)
    gk_store_rollback(s->gk);
  return ok;
}

/* ---- identity ------------------------------------------------------------------ */

void
kiosk_identity_clear(KioskIdentity *id)
{
  if (id == NULL)
    return;
  g_free(id->device_id);
  g_free(id->name);
  g_free(id->mode);
  g_free(id->host);
  g_free(id->ca_pem);
  g_free(id->cert_pem);
  if (id->key_pem != NULL)
    gk_secure_free(id->key_pem, strlen(id->key_pem));
  memset(id, 0, sizeof *id);
}

gboolean
kiosk_store_save_identity(KioskStore *s, const KioskIdentity *id, GError **error)
{
  if (!gk_store_begin(s->gk, error))
    return FALSE;
  g_autofree char *existing = kiosk_store_get_meta(s, "device_id");
  if (existing != NULL) {
    gk_store_rollback(s->gk);
    g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_ENROLLED, "this data directory is already enrolled");
    return FALSE;
  }
  gboolean ok = kiosk_store_set_meta(s, "device_id", id->device_id, error) &&
                kiosk_store_set_meta(s, "name", id->name, error) &&
                kiosk_store_set_meta(s, "mode", id->mode, error) &&
                kiosk_store_set_meta_int(s, "site_id", id->site_id, error) &&
                kiosk_store_set_meta(s, "host", id->host, error) &&
                kiosk_store_set_meta_int(s, "admin_port", id->admin_port, error) &&
                kiosk_store_set_meta_int(s, "device_port", id->device_port, error) &&
                kiosk_store_set_meta(s, "ca_pem", id->ca_pem, error) &&
                kiosk_store_set_meta(s, "cert_pem", id->cert_pem, error) &&
                kiosk_store_set_meta(s, "key_pem", id->key_pem, error) && gk_store_commit(s->gk, error);
  if (!ok)
    gk_store_rollback(s->gk);
  return ok;
}

gboolean
kiosk_store_replace_credentials(KioskStore *s, const char *cert_pem, const char *key_pem, gint64 cert_expires_at,
                                GError **error)
{
  if (!gk_store_begin(s->gk, error))
    return FALSE;
  /* One transaction: a certificate must never be stored without its key. */
  gboolean ok = kiosk_store_set_meta(s, "cert_pem", cert_pem, error) &&
                kiosk_store_set_meta(s, "key_pem", key_pem, error) &&
                kiosk_store_set_meta_int(s, "cert_expires_at", cert_expires_at, error) &&
                kiosk_store_set_meta_int(s, "identity_generation",
                                         kiosk_store_get_meta_int(s, "identity_generation", 0) + 1, error) &&
                gk_store_commit(s->gk, error);
  if (!ok)
    gk_store_rollback(s->gk);
  return ok;
}

gboolean
kiosk_store_load_identity(KioskStore *s, KioskIdentity *out, GError **error)
{
  memset(out, 0, sizeof *out);
  out->device_id = kiosk_store_get_meta(s, "device_id");
  out->name = kiosk_store_get_meta(s, "name");
  out->mode = kiosk_store_get_meta(s, "mode");
  out->host = kiosk_store_get_meta(s, "host");
  out->ca_pem = kiosk_store_get_meta(s, "ca_pem");
  out->cert_pem = kiosk_store_get_meta(s, "cert_pem");
  out->key_pem = kiosk_store_get_meta(s, "key_pem");
  out->site_id = kiosk_store_get_meta_int(s, "site_id", -1);
  gint64 ap = kiosk_store_get_meta_int(s, "admin_port", 0), dp = kiosk_store_get_meta_int(s, "device_port", 0);
  out->admin_port = (guint16) CLAMP(ap, 0, 65535);
  out->device_port = (guint16) CLAMP(dp, 0, 65535);
  if (out->device_id == NULL || out->name == NULL || out->mode == NULL || out->host == NULL || out->ca_pem == NULL ||
      out->cert_pem == NULL || out->key_pem == NULL || out->site_id < 0 || out->admin_port == 0 ||
      out->device_port == 0) {
    kiosk_identity_clear(out);
    g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_NOT_ENROLLED,
                "the store holds no complete device identity: enroll this device again");
    return FALSE;
  }
  return TRUE;
}

/* ---- change feed ---------------------------------------------------------------- */

static gboolean
is_hex(const char *s, gsize len)
{
  if (s == NULL || strlen(s) != len)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isxdigit(s[i]))
      return FALSE;
  return TRUE;
}

static gboolean
bad_change(GError **error, guint index, const char *what)
{
  g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_BAD_CHANGE, "changes[%u]: %s", index, what);
  return FALSE;
}

static gboolean
apply_ticket(KioskStore *s, JsonObject *d, const char *where, GError **error)
{
  static const GkJsonField f[] = {
    { "id", GK_JSON_STRING, TRUE, 32, 32 },
    { "valid_from", GK_JSON_INT, TRUE, 0, GK_TICKET_TIME_MAX },
    { "valid_until", GK_JSON_INT, TRUE, 0, GK_TICKET_TIME_MAX },
    { "flags", GK_JSON_INT, TRUE, 0, 255 },
    { "key_id", GK_JSON_INT, TRUE, 0, 65535 },
    { "revoked", GK_JSON_BOOL, TRUE, 0, 0 },
    { "visitor", GK_JSON_STRING, FALSE, 0, 1024 },
    { "host_id", GK_JSON_INT, FALSE, 0, G_MAXINT64 },
    { "code_hash", GK_JSON_STRING, FALSE, 64, 64 },
  };
  if (!gk_json_check(d, f, G_N_ELEMENTS(f), TRUE, where, error))
    return FALSE;
  const char *id = gk_json_get_string(d, "id", "");
  if (!is_hex(id, 32)) {
    g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_BAD_CHANGE, "%s.id is not 32 hex digits", where);
    return FALSE;
  }
  const char *code_hash = gk_json_get_string(d, "code_hash", NULL);
  if (code_hash != NULL && !is_hex(code_hash, 64)) {
    g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_BAD_CHANGE, "%s.code_hash is not 64 hex digits", where);
    return FALSE;
  }
  g_autofree char *lower = g_ascii_strdown(id, -1);
  g_autofree char *code_lower = code_hash != NULL ? g_ascii_strdown(code_hash, -1) : NULL;
  sqlite3_stmt *st = prep(s, "INSERT INTO tickets (id, valid_from, valid_until, flags, key_id, revoked, visitor, host_id,"
                             " code_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO UPDATE SET"
                             " valid_from = excluded.valid_from, valid_until = excluded.valid_until,"
                             " flags = excluded.flags, key_id = excluded.key_id, revoked = excluded.revoked,"
                             " visitor = excluded.visitor, host_id = excluded.host_id,"
                             " code_hash = excluded.code_hash", error);
  if (st == NULL)
    return FALSE;
  bind_text(st, 1, lower);
  sqlite3_bind_int64(st, 2, gk_json_get_int(d, "valid_from", 0));
  sqlite3_bind_int64(st, 3, gk_json_get_int(d, "valid_until", 0));
  sqlite3_bind_int64(st, 4, gk_json_get_int(d, "flags", 0));
  sqlite3_bind_int64(st, 5, gk_json_get_int(d, "key_id", 0));
  sqlite3_bind_int(st, 6, gk_json_get_bool(d, "revoked", FALSE) ? 1 : 0);
  bind_text(st, 7, gk_json_get_string(d, "visitor", NULL));
  if (json_object_has_member(d, "host_id") && gk_json_get_int(d, "host_id", -1) >= 0)
    sqlite3_bind_int64(st, 8, gk_json_get_int(d, "host_id", 0));
  bind_text(st, 9, code_lower);
  return run(s, st, error);
}

/* A host the server removed: gone from the directory, so walk-ins cannot
 * pick it (past visits keep only its id). */
static gboolean
remove_host(KioskStore *s, JsonObject *d, const char *where, GError **error)
{
  static const GkJsonField f[] = {
    { "id", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
    { "removed", GK_JSON_BOOL, TRUE, 0, 0 },
  };
  if (!gk_json_check(d, f, G_N_ELEMENTS(f), TRUE, where, error))
    return FALSE;
  sqlite3_stmt *st = prep(s, "DELETE FROM hosts WHERE id = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64(st, 1, gk_json_get_int(d, "id", 0));
  return run(s, st, error);
}

static gboolean
apply_host(KioskStore *s, JsonObject *d, const char *where, GError **error)
{
  if (json_object_has_member(d, "removed")) {
    static const GkJsonField r[] = { { "removed", GK_JSON_BOOL, TRUE, 0, 0 } };
    if (!gk_json_check(d, r, G_N_ELEMENTS(r), TRUE, where, error))
      return FALSE;
    if (gk_json_get_bool(d, "removed", FALSE))
      return remove_host(s, d, where, error);
  }
  static const GkJsonField f[] = {
    { "id", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
    { "name", GK_JSON_STRING, TRUE, 0, 1024 },
    { "reading", GK_JSON_STRING, FALSE, 0, 1024 },
    { "department", GK_JSON_STRING, FALSE, 0, 1024 },
  };
  if (!gk_json_check(d, f, G_N_ELEMENTS(f), TRUE, where, error))
    return FALSE;
  sqlite3_stmt *st = prep(s, "INSERT INTO hosts (id, name, reading, department) VALUES (?1, ?2, ?3, ?4)"
                             " ON CONFLICT (id) DO UPDATE SET name = excluded.name, reading = excluded.reading,"
                             " department = excluded.department", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64(st, 1, gk_json_get_int(d, "id", 0));
  bind_text(st, 2, gk_json_get_string(d, "name", ""));
  bind_text(st, 3, gk_json_get_string(d, "reading", NULL));
  bind_text(st, 4, gk_json_get_string(d, "department", NULL));
  return run(s, st, error);
}

static gboolean
put_redemption(KioskStore *s, const char *ticket_hex, gint64 at, const char *device_id, const char *device_name,
               const char *event_id, gint64 expires, GError **error)
{
  /* The server's row is the truth and replaces ours; expires is kept when the
   * feed does not know it. */
  sqlite3_stmt *st = prep(s, "INSERT INTO redemptions (ticket_id, at, device_id, device_name, event_id, expires)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (ticket_id) DO UPDATE SET"
                             " at = excluded.at, device_id = excluded.device_id, device_name = excluded.device_name,"
                             " event_id = excluded.event_id, expires = COALESCE(excluded.expires, expires)", error);
  if (st == NULL)
    return FALSE;
  bind_text(st, 1, ticket_hex);
  sqlite3_bind_int64(st, 2, at);
  bind_text(st, 3, device_id);
  bind_text(st, 4, device_name);
  bind_text(st, 5, event_id);
  if (expires > 0)
    sqlite3_bind_int64(st, 6, expires);
  return run(s, st, error);
}

static gboolean
apply_redemption(KioskStore *s, JsonObject *d, const char *where, GError **error)
{
  static const GkJsonField f[] = {
    { "ticket_id", GK_JSON_STRING, TRUE, 32, 32 },
    { "at", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
    { "device_id", GK_JSON_STRING, FALSE, 0, 256 },
    { "device_name", GK_JSON_STRING, FALSE, 0, 1024 },
  };
  if (!gk_json_check(d, f, G_N_ELEMENTS(f), TRUE, where, error))
    return FALSE;
  const char *id = gk_json_get_string(d, "ticket_id", "");
  if (!is_hex(id, 32)) {
    g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_BAD_CHANGE, "%s.ticket_id is not 32 hex digits", where);
    return FALSE;
  }
  g_autofree char *lower = g_ascii_strdown(id, -1);
  return put_redemption(s, lower, gk_json_get_int(d, "at", 0), gk_json_get_string(d, "device_id", NULL),
                        gk_json_get_string(d, "device_name", NULL), NULL, 0, error);
}

static gboolean
apply_key(KioskStore *s, JsonObject *d, const char *where, GError **error)
{
  static const GkJsonField f[] = {
    { "key_id", GK_JSON_INT, TRUE, 0, 65535 },
    { "public_key", GK_JSON_STRING, TRUE, 64, 64 },
    { "retired", GK_JSON_BOOL, TRUE, 0, 0 },
  };
  if (!gk_json_check(d, f, G_N_ELEMENTS(f), TRUE, where, error))
    return FALSE;
  const char *hex = gk_json_get_string(d, "public_key", "");
  guint8 pk[32];
  char half[2][33] = { "", "" };
  if (is_hex(hex, 64)) {
    memcpy(half[0], hex, 32);
    memcpy(half[1], hex + 32, 32);
  }
  if (!is_hex(hex, 64) || !gk_hex_decode_16(half[0], pk) || !gk_hex_decode_16(half[1], pk + 16)) {
    g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_BAD_CHANGE, "%s.public_key is not 64 hex digits", where);
    return FALSE;
  }
  sqlite3_stmt *st = prep(s, "INSERT INTO signing_keys (key_id, public_key, retired) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT (key_id) DO UPDATE SET public_key = excluded.public_key,"
                             " retired = excluded.retired", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64(st, 1, gk_json_get_int(d, "key_id", 0));
  sqlite3_bind_blob(st, 2, pk, sizeof pk, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 3, gk_json_get_bool(d, "retired", FALSE) ? 1 : 0);
  return run(s, st, error);
}

gboolean
kiosk_store_apply_page(KioskStore *s, JsonArray *changes, gint64 cursor, guint *out_applied, GError **error)
{
  guint n = changes ? json_array_get_length(changes) : 0;
  gboolean keys_changed = FALSE;
  if (!gk_store_begin(s->gk, error))
    return FALSE;
  for (guint i = 0; i < n; i++) {
    JsonNode *node = json_array_get_element(changes, i);
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
      bad_change(error, i, "not an object");
      goto fail;
    }
    JsonObject *o = json_node_get_object(node);
    static const GkJsonField f[] = {
      { "seq", GK_JSON_INT, TRUE, 1, G_MAXINT64 },
      { "type", GK_JSON_STRING, TRUE, 1, 32 },
      { "data", GK_JSON_OBJECT, TRUE, 0, 0 },
    };
    char where[48];
    g_snprintf(where, sizeof where, "changes[%u]", i);
    if (!gk_json_check(o, f, G_N_ELEMENTS(f), TRUE, where, error))
      goto fail;
    const char *type = gk_json_get_string(o, "type", "");
    JsonObject *d = json_object_get_object_member(o, "data");
    g_snprintf(where, sizeof where, "changes[%u].data", i);
    gboolean ok;
    if (strcmp(type, "ticket") == 0)
      ok = apply_ticket(s, d, where, error);
    else if (strcmp(type, "host") == 0)
      ok = apply_host(s, d, where, error);
    else if (strcmp(type, "redemption") == 0)
      ok = apply_redemption(s, d, where, error);
    else if (strcmp(type, "key") == 0) {
      ok = apply_key(s, d, where, error);
      keys_changed = TRUE;
    } else {
      /* A newer server's change type: skipping it would lose it for good
       * (the cursor moves on), so refuse the page and say why. */
      ok = bad_change(error, i, "unknown change type (is this kiosk older than the server?)");
    }
    if (!ok)
      goto fail;
  }
  if (!kiosk_store_set_meta_int(s, "cursor", cursor, error))
    goto fail;
  if (keys_changed &&
      !kiosk_store_set_meta_int(s, "keys_generation", kiosk_store_get_meta_int(s, "keys_generation", 0) + 1, error))
    goto fail;
  if (!gk_store_commit(s->gk, error))
    goto fail;
  if (out_applied)
    *out_applied = n;
  return TRUE;
fail:
  gk_store_rollback(s->gk);
  return FALSE;
}

gint64
kiosk_store_keys_generation(KioskStore *s)
{
  return kiosk_store_get_meta_int(s, "keys_generation", 0);
}

GkKeyring *
kiosk_store_load_keyring(KioskStore *s, GError **error)
{
  sqlite3_stmt *st = prep(s, "SELECT key_id, public_key FROM signing_keys WHERE retired = 0", error);
  if (st == NULL)
    return NULL;
  GkKeyring *ring = gk_keyring_new();
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(st, 1) != 32)
      continue;
    gk_keyring_add(ring, (guint16) sqlite3_column_int(st, 0), sqlite3_column_blob(st, 1));
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    gk_keyring_free(ring);
    gk_store_set_error_from_db(s->gk, rc, error);
    return NULL;
  }
  return ring;
}

gboolean
kiosk_store_ticket_state(KioskStore *s, const char *ticket_hex, KioskTicketState *out, GError **error)
{
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = prep(s, "SELECT revoked FROM tickets WHERE id = ?1", error);
  if (st == NULL)
    return FALSE;
  bind_text(st, 1, ticket_hex);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    out->known = TRUE;
    out->revoked = sqlite3_column_int(st, 0) != 0;
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? TRUE : gk_store_set_error_from_db(s->gk, rc, error);
}

void
kiosk_redemption_clear(KioskRedemption *r)
{
  g_free(r->device_id);
  g_free(r->device_name);
  memset(r, 0, sizeof *r);
}

gboolean
kiosk_store_get_redemption(KioskStore *s, const char *ticket_hex, KioskRedemption *out, GError **error)
{
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = prep(s, "SELECT r.at, r.device_id, r.device_name,"
                             " EXISTS (SELECT 1 FROM events e WHERE e.id = r.event_id AND e.sent = 0)"
                             " FROM redemptions r WHERE r.ticket_id = ?1", error);
  if (st == NULL)
    return FALSE;
  bind_text(st, 1, ticket_hex);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    out->found = TRUE;
    out->at = sqlite3_column_int64(st, 0);
    out->device_id = g_strdup((const char *) sqlite3_column_text(st, 1));
    out->device_name = g_strdup((const char *) sqlite3_column_text(st, 2));
    out->pending = sqlite3_column_int(st, 3) != 0;
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? TRUE : gk_store_set_error_from_db(s->gk, rc, error);
}

gboolean
kiosk_store_put_redemption(KioskStore *s, const char *ticket_hex, gint64 at, const char *device_id,
                           const char *device_name, gint64 expires, GError **error)
{
  return put_redemption(s, ticket_hex, at, device_id, device_name, NULL, expires, error);
}

/* ---- event queue ------------------------------------------------------------------ */

void
kiosk_event_free(KioskEvent *e)
{
  if (e == NULL)
    return;
  g_free(e->id);
  g_free(e->kind);
  g_free(e->ticket_id);
  g_free(e->reason);
  g_free(e->visit_id);
  g_free(e->visitor_name);
  g_free(e->company);
  g_free(e->purpose);
  g_clear_pointer(&e->photo, g_bytes_unref);
  g_free(e);
}

static void
wipe_free(gpointer data)
{
  GBytes *copy = data;
  gsize len = 0;
  /* g_bytes_new_take() below owns this buffer: writing to it is ours to do. */
  gpointer p = (gpointer) g_bytes_get_data(copy, &len);
  if (p != NULL)
    memset(p, 0, len);
  g_bytes_unref(copy);
}

GBytes *
kiosk_bytes_new_wiped(const void *data, gsize len)
{
  GBytes *inner = g_bytes_new(data, len);
  gsize n = 0;
  gconstpointer p = g_bytes_get_data(inner, &n);
  return g_bytes_new_with_free_func(p, n, wipe_free, inner);
}

char *
kiosk_event_new_id(void)
{
  guint8 r[16];
  /* getrandom() blocks only before the kernel pool is seeded at boot. */
  gsize got = 0;
  while (got < sizeof r) {
    ssize_t n = getrandom(r + got, sizeof r - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      g_error("getrandom failed: %s", g_strerror(errno));
    got += (gsize) n;
  }
  g_autofree char *hex = gk_hex_encode(r, sizeof r);
  return g_strconcat("evt-", hex, NULL);
}

static gboolean
insert_event(KioskStore *s, const KioskEvent *e, gboolean sent, GError **error)
{
  sqlite3_stmt *st = prep(s, "INSERT INTO events (id, kind, ticket_id, at, offline, reason, sent, visit_id)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", error);
  if (st == NULL)
    return FALSE;
  bind_text(st, 1, e->id);
  bind_text(st, 2, e->kind);
  bind_text(st, 3, e->ticket_id);
  sqlite3_bind_int64(st, 4, e->at);
  sqlite3_bind_int(st, 5, e->offline ? 1 : 0);
  bind_text(st, 6, e->reason);
  sqlite3_bind_int(st, 7, sent ? 1 : 0);
  bind_text(st, 8, e->visit_id);
  return run(s, st, error);
}

static gboolean
insert_visit(KioskStore *s, const KioskVisitRecord *v, GError **error)
{
  sqlite3_stmt *st = prep(s, "INSERT INTO visits (id, kind, ticket_id, visitor_name, company, purpose, host_id,"
                             " terms_accepted, checkin_event_id, checked_in_at, host_notified)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", error);
  if (st == NULL)
    return FALSE;
  bind_text(st, 1, v->id);
  bind_text(st, 2, v->kind);
  bind_text(st, 3, v->ticket_id);
  bind_text(st, 4, v->visitor_name);
  bind_text(st, 5, v->company);
  bind_text(st, 6, v->purpose);
  if (v->host_id > 0)
    sqlite3_bind_int64(st, 7, v->host_id);
  sqlite3_bind_int(st, 8, v->terms_accepted ? 1 : 0);
  bind_text(st, 9, v->checkin_event_id);
  sqlite3_bind_int64(st, 10, v->checked_in_at);
  sqlite3_bind_int(st, 11, v->host_notified ? 1 : 0);
  if (!run(s, st, error))
    return FALSE;
  if (v->photo == NULL)
    return TRUE;
  st = prep(s, "INSERT INTO visit_photos (visit_id, jpeg) VALUES (?1, ?2)", error);
  if (st == NULL)
    return FALSE;
  gsize len = 0;
  gconstpointer jpeg = g_bytes_get_data(v->photo, &len);
  bind_text(st, 1, v->id);
  sqlite3_bind_blob64(st, 2, jpeg, len, SQLITE_STATIC);
  gboolean ok = run(s, st, error);
  /* The statement is cached: it must not keep pointing at the caller's bytes. */
  sqlite3_clear_bindings(st);
  return ok;
}

gboolean
kiosk_store_record_visit(KioskStore *s, const KioskEvent *e, gboolean sent, gboolean redeem, const char *device_id,
                         const char *device_name, gint64 expires, const KioskVisitRecord *visit, GError **error)
{
  if (!gk_store_begin(s->gk, error))
    return FALSE;
  if (e != NULL && !insert_event(s, e, sent, error))
    goto fail;
  if (e != NULL && redeem && !put_redemption(s, e->ticket_id, e->at, device_id, device_name, e->id, expires, error))
    goto fail;
  if (visit != NULL && !insert_visit(s, visit, error))
    goto fail;
  if (!gk_store_commit(s->gk, error))
    goto fail;
  return TRUE;
fail:
  gk_store_rollback(s->gk);
  return FALSE;
}

gboolean
kiosk_store_record_event(KioskStore *s, const KioskEvent *e, gboolean sent, gboolean redeem, const char *device_id,
                         const char *device_name, gint64 expires, GError **error)
{
  return kiosk_store_record_visit(s, e, sent, redeem, device_id, device_name, expires, NULL, error);
}

gboolean
kiosk_store_record_checkout(KioskStore *s, const KioskEvent *e, const char *visit_id, gboolean *out_found,
                            GError **error)
{
  *out_found = FALSE;
  if (!gk_store_begin(s->gk, error))
    return FALSE;
  /* The update decides: of two check-outs of one visit, only the first ends it. */
  sqlite3_stmt *st = prep(s, "UPDATE visits SET checked_out_at = ?2, checkout_event_id = ?3"
                             " WHERE id = ?1 AND checked_out_at IS NULL", error);
  if (st == NULL)
    goto fail;
  bind_text(st, 1, visit_id);
  sqlite3_bind_int64(st, 2, e->at);
  bind_text(st, 3, e->id);
  if (!run(s, st, error))
    goto fail;
  if (sqlite3_changes(s->db) == 0) {
    gk_store_rollback(s->gk);
    return TRUE;
  }
  if (!insert_event(s, e, FALSE, error) || !gk_store_commit(s->gk, error))
    goto fail;
  *out_found = TRUE;
  return TRUE;
fail:
  gk_store_rollback(s->gk);
  return FALSE;
}

/* A walk-in event carries its visitor's data, kept once, in the visit row. */
#define PENDING_EVENT_SQL(condition)                                                                   \
  "SELECT e.id, e.kind, e.ticket_id, e.at, e.offline, e.reason, e.visit_id, v.visitor_name, v.company," \
  " v.purpose, v.host_id, v.terms_accepted, p.jpeg"                                                     \
  " FROM events e LEFT JOIN visits v ON v.id = e.visit_id AND e.kind = 'walkin'"                      \
  " LEFT JOIN visit_photos p ON p.visit_id = v.id"                                                    \
  " WHERE e.sent = 0" condition

static KioskEvent *
read_event(sqlite3_stmt *st)
{
  KioskEvent *e = g_new0(KioskEvent, 1);
  e->id = g_strdup((const char *) sqlite3_column_text(st, 0));
  e->kind = g_strdup((const char *) sqlite3_column_text(st, 1));
  e->ticket_id = g_strdup((const char *) sqlite3_column_text(st, 2));
  e->at = sqlite3_column_int64(st, 3);
  e->offline = sqlite3_column_int(st, 4) != 0;
  e->reason = g_strdup((const char *) sqlite3_column_text(st, 5));
  e->visit_id = g_strdup((const char *) sqlite3_column_text(st, 6));
  e->visitor_name = g_strdup((const char *) sqlite3_column_text(st, 7));
  e->company = g_strdup((const char *) sqlite3_column_text(st, 8));
  e->purpose = g_strdup((const char *) sqlite3_column_text(st, 9));
  e->host_id = sqlite3_column_int64(st, 10);
  e->terms_accepted = sqlite3_column_int(st, 11) != 0;
  if (sqlite3_column_type(st, 12) == SQLITE_BLOB)
    e->photo = kiosk_bytes_new_wiped(sqlite3_column_blob(st, 12), (gsize) sqlite3_column_bytes(st, 12));
  return e;
}

KioskEvent *
kiosk_store_pending_event(KioskStore *s, const char *id, GError **error)
{
  sqlite3_stmt *st = prep(s, PENDING_EVENT_SQL(" AND e.id = ?1"), error);
  if (st == NULL)
    return NULL;
  bind_text(st, 1, id);
  int rc = sqlite3_step(st);
  KioskEvent *e = rc == SQLITE_ROW ? read_event(st) : NULL;
  sqlite3_reset(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    gk_store_set_error_from_db(s->gk, rc, error);
  return e;
}

GPtrArray *
kiosk_store_pending_events(KioskStore *s, guint limit, GError **error)
{
  sqlite3_stmt *st = prep(s, PENDING_EVENT_SQL(" ORDER BY e.n LIMIT ?1"), error);
  if (st == NULL)
    return NULL;
  sqlite3_bind_int64(st, 1, limit);
  GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify) kiosk_event_free);
  int rc;
  gsize photo_bytes = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    /* Photos are large: the batch ends before the one that would make the
     * push body too big for the server (the next batch starts with it). */
    gsize photo = sqlite3_column_type(st, 12) == SQLITE_BLOB ? (gsize) sqlite3_column_bytes(st, 12) : 0;
    if (list->len > 0 && photo_bytes + photo > KIOSK_STORE_PUSH_PHOTO_BYTES) {
      rc = SQLITE_DONE;
      break;
    }
    photo_bytes += photo;
    g_ptr_array_add(list, read_event(st));
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    g_ptr_array_unref(list);
    gk_store_set_error_from_db(s->gk, rc, error);
    return NULL;
  }
  return list;
}

gboolean
kiosk_store_mark_sent(KioskStore *s, const char *const *ids, guint n_ids, GError **error)
{
  if (!gk_store_begin(s->gk, error))
    return FALSE;
  for (guint i = 0; i < n_ids; i++) {
    sqlite3_stmt *st = prep(s, "UPDATE events SET sent = 1 WHERE id = ?1", error);
    if (st == NULL)
      goto fail;
    bind_text(st, 1, ids[i]);
    if (!run(s, st, error))
      goto fail;
    /* The server has the check-in: it notifies the host. */
    st = prep(s, "UPDATE visits SET host_notified = 1 WHERE checkin_event_id = ?1", error);
    if (st == NULL)
      goto fail;
    bind_text(st, 1, ids[i]);
    if (!run(s, st, error))
      goto fail;
    /* ... and keeps the photo: the device has no further use for it. */
    st = prep(s, "DELETE FROM visit_photos WHERE visit_id = (SELECT visit_id FROM events"
                 " WHERE id = ?1 AND kind = 'walkin')", error);
    if (st == NULL)
      goto fail;
    bind_text(st, 1, ids[i]);
    if (!run(s, st, error))
      goto fail;
  }
  if (!gk_store_commit(s->gk, error))
    goto fail;
  return TRUE;
fail:
  gk_store_rollback(s->gk);
  return FALSE;
}

gint64
kiosk_store_queue_length(KioskStore *s)
{
  sqlite3_stmt *st = prep(s, "SELECT count(*) FROM events WHERE sent = 0", NULL);
  if (st == NULL)
    return -1;
  gint64 n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_reset(st);
  return n;
}

gboolean
kiosk_store_purge(KioskStore *s, gint64 now, GError **error)
{
  /* Redemptions whose ticket is long over: by the ticket row, or by the
   * window we saw when we admitted it (tickets not in the feed yet). */
  static const char purge_redemptions[] = "DELETE FROM redemptions WHERE COALESCE(expires, (SELECT t.valid_until"
                                          " FROM tickets t WHERE t.id = redemptions.ticket_id)) + ?2 < ?1";
  static const char *const sql[] = {
    purge_redemptions,
    "UPDATE tickets SET visitor = NULL WHERE visitor IS NOT NULL AND valid_until + ?2 < ?1",
    /* Photos by the visit's retention even when their event still waits: a
     * face is the most personal thing the device holds, and the walk-in itself
     * still reaches the server (without it). Orphans (none expected) too. */
    "DELETE FROM visit_photos WHERE visit_id NOT IN (SELECT id FROM visits"
    " WHERE coalesce(checked_out_at, checked_in_at + 86400) + ?2 >= ?1)",
    /* Visits once they ended (or a day after a check-in nobody closed) plus the
     * retention; never one whose events still wait for the server (a walk-in's
     * data leaves the device only with its event). */
    "DELETE FROM visits WHERE coalesce(checked_out_at, checked_in_at + 86400) + ?2 < ?1"
    " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.sent = 0"
    "  AND (e.visit_id = visits.id OR e.id = visits.checkin_event_id))",
    /* Sent events: the server has them; a pending redemption check only needs unsent ones. */
    "DELETE FROM events WHERE sent = 1",
  };
  /* How long visitor data stays after a visit: set remotely, 24 h by default. */
  gint64 retention_s = kiosk_settings_get_int(s, "retention-hours") * 3600;
  if (!gk_store_begin(s->gk, error))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS(sql); i++) {
    sqlite3_stmt *st = prep(s, sql[i], error);
    if (st == NULL)
      goto fail;
    if (sqlite3_bind_parameter_count(st) > 0) {
      sqlite3_bind_int64(st, 1, now);
      sqlite3_bind_int64(st, 2, retention_s);
    }
    if (!run(s, st, error))
      goto fail;
  }
  if (!gk_store_commit(s->gk, error))
    goto fail;
  return TRUE;
fail:
  gk_store_rollback(s->gk);
  return FALSE;
}
