/* Sign-in's tables in the SQLite master store (migration 6 in
 * srv-store-sqlite.c): every SQL string of accounts, sites, sessions, failed
 * attempts, TOTP and allow-lists, run on connections borrowed from
 * srv-store-sqlite.c. */
#include "srv-auth-store-private.h"

#include <stdarg.h>
#include <string.h>

#include "gk-store.h"
#include "srv-outbox-private.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

#define FAILURE_KEEP_S 86400

static const char *const roles[] = { "owner", "admin", "receptionist", "security", "auditor", NULL };

/* Flags instead of secrets where a list needs no secret. */
#define ACCOUNT_COLS(secrets)                                                                             \
  "SELECT a.id, a.username, " secrets ", a.role, a.must_change_password, a.created_at,"                    \
  " coalesce(a.disabled_at, 0), coalesce(a.last_login_at, 0), a.totp_secret IS NOT NULL,"                  \
  " a.totp_pending IS NOT NULL, a.totp_last_step,"                                                        \
  " (SELECT count(*) FROM recovery_codes r WHERE r.account_id = a.id AND r.used_at IS NULL),"             \
  " (SELECT group_concat(site_id) FROM"                                                                   \
  "   (SELECT site_id FROM account_sites WHERE account_id = a.id ORDER BY site_id)), a.may_export"
static const char sql_account_by_name[] =
  ACCOUNT_COLS("a.password_hash, a.totp_secret, a.totp_pending") " FROM accounts a WHERE a.username = ?1";
static const char sql_account_by_id[] =
  ACCOUNT_COLS("a.password_hash, a.totp_secret, a.totp_pending") " FROM accounts a WHERE a.id = ?1";
static const char sql_account_list[] =
  ACCOUNT_COLS("NULL, NULL, NULL") " FROM accounts a"
  " WHERE ?1 = 0 OR a.role = 'owner'"
  "  OR EXISTS (SELECT 1 FROM account_sites s WHERE s.account_id = a.id AND s.site_id = ?1)"
  " ORDER BY a.username";

static const char sql_account_add[] =
  "INSERT INTO accounts (username, password_hash, role, must_change_password, created_at) VALUES (?1, ?2, ?3, 1, ?4)";
static const char sql_account_role[] = "SELECT role, disabled_at IS NULL FROM accounts WHERE id = ?1";
static const char sql_other_owners[] =
  "SELECT count(*) FROM accounts WHERE role = 'owner' AND disabled_at IS NULL AND id <> ?1";
static const char sql_set_role[] = "UPDATE accounts SET role = ?2 WHERE id = ?1";
static const char sql_site_count[] = "SELECT count(*) FROM account_sites WHERE account_id = ?1";
static const char sql_sites_clear[] = "DELETE FROM account_sites WHERE account_id = ?1";
static const char sql_site_grant[] =
  "INSERT INTO account_sites (account_id, site_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
static const char sql_set_disabled[] =
  "UPDATE accounts SET disabled_at = CASE WHEN ?2 THEN coalesce(disabled_at, ?3) END WHERE id = ?1";
static const char sql_reset_password[] =
  "UPDATE accounts SET password_hash = ?2, must_change_password = 1 WHERE id = ?1";
static const char sql_end_sessions[] = "DELETE FROM sessions WHERE account_id = ?1";
static const char sql_forget_failures[] = "DELETE FROM login_failures WHERE account_id = ?1";

static const char sql_session_add[] =
  "INSERT INTO sessions (token_hash, account_id, created_at, last_used_at, ip, second_factor)"
  " VALUES (?1, ?2, ?3, ?3, ?4, ?5)";
static const char sql_session_get[] =
  "SELECT account_id, created_at, last_used_at, second_factor FROM sessions WHERE token_hash = ?1";
static const char sql_session_touch[] = "UPDATE sessions SET last_used_at = ?2 WHERE token_hash = ?1";
static const char sql_session_delete[] = "DELETE FROM sessions WHERE token_hash = ?1";

static const char sql_failure_add[] = "INSERT INTO login_failures (account_id, ip, at) VALUES (?1, ?2, ?3)";
static const char sql_failure_prune[] = "DELETE FROM login_failures WHERE at < ?1";
/* Times are whole seconds: a failure in the second of the last success counts
 * as after it (the stricter reading). */
static const char sql_failures_account[] =
  "SELECT count(*), coalesce(sum(f.at >= coalesce(a.last_login_at, 0)), 0), coalesce(max(f.at), 0),"
  " coalesce(min(f.at), 0)"
  " FROM login_failures f JOIN accounts a ON a.id = f.account_id WHERE f.account_id = ?1 AND f.at > ?2";
static const char sql_failures_ip[] =
  "SELECT count(*), coalesce(max(at), 0), coalesce(min(at), 0) FROM login_failures WHERE ip = ?1 AND at > ?2";
static const char sql_login_ok[] = "UPDATE accounts SET last_login_at = ?2 WHERE id = ?1";

static const char sql_totp_begin[] = "UPDATE accounts SET totp_pending = ?2 WHERE id = ?1 AND totp_secret IS NULL";
static const char sql_account_exists[] = "SELECT 1 FROM accounts WHERE id = ?1";
static const char sql_totp_confirm[] =
  "UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = ?2"
  " WHERE id = ?1 AND totp_pending IS NOT NULL AND totp_secret IS NULL";
static const char sql_recovery_clear[] = "DELETE FROM recovery_codes WHERE account_id = ?1";
static const char sql_recovery_add[] = "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)";
/* The conditional update is the replay guard: two requests with one code
 * cannot both change the row. */
static const char sql_totp_use[] =
  "UPDATE accounts SET totp_last_step = ?2 WHERE id = ?1 AND totp_secret IS NOT NULL AND totp_last_step < ?2";
static const char sql_recovery_use[] =
  "UPDATE recovery_codes SET used_at = ?3 WHERE account_id = ?1 AND code_hash = ?2 AND used_at IS NULL";
static const char sql_recovery_known[] = "SELECT 1 FROM recovery_codes WHERE account_id = ?1 AND code_hash = ?2";
static const char sql_totp_reset[] =
  "UPDATE accounts SET totp_secret = NULL, totp_pending = NULL, totp_last_step = 0 WHERE id = ?1";

/* One statement per scope (SrvAuthAllowScope order). */
static const char *const sql_allow_get[] = {
  "SELECT cidr FROM site_allow_list WHERE site_id = ?1 ORDER BY cidr",
  "SELECT cidr FROM account_allow_list WHERE account_id = ?1 ORDER BY cidr",
};
static const char *const sql_allow_owner[] = {
  "SELECT 1 FROM sites WHERE id = ?1",
  "SELECT 1 FROM accounts WHERE id = ?1",
};
static const char *const sql_allow_clear[] = {
  "DELETE FROM site_allow_list WHERE site_id = ?1",
  "DELETE FROM account_allow_list WHERE account_id = ?1",
};
static const char *const sql_allow_add[] = {
  "INSERT INTO site_allow_list (site_id, cidr) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
  "INSERT INTO account_allow_list (account_id, cidr) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
};

static const char sql_site_list[] = "SELECT id, name, created_at FROM sites ORDER BY id";

/* ---- a borrowed connection and its statements -------------------------------------------- */

typedef struct {
  gpointer backend;
  gpointer conn;
  GkStore *gk;
  sqlite3 *db;
  gboolean in_tx;
} Db;

static void
db_take(Db *d, gpointer backend)
{
  d->backend = backend;
  d->gk = srv_store_sqlite_borrow(backend, &d->conn);
  d->db = gk_store_db(d->gk);
  d->in_tx = FALSE;
}

/* Gives the connection back; a transaction still open (a failure) is rolled back. */
static void
db_give(Db *d)
{
  if (d->in_tx)
    gk_store_rollback(d->gk);
  srv_store_sqlite_give_back(d->backend, d->conn);
}

static gboolean G_GNUC_PRINTF(3, 4)
refuse(GError **error, int code, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_autofree char *msg = g_strdup_vprintf(format, args);
  va_end(args);
  g_set_error_literal(error, SRV_STORE_ERROR, code, msg);
  return FALSE;
}

/* A constraint names its kind; other failures carry SQLite's words (never a value). */
static gboolean
db_fail(Db *d, int rc, const char *what, GError **error)
{
  int ext = sqlite3_extended_errcode(d->db);
  int code = SRV_STORE_ERROR_FAILED;
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    code = ext == SQLITE_CONSTRAINT_FOREIGNKEY                                     ? SRV_STORE_ERROR_NOT_FOUND
           : ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY ? SRV_STORE_ERROR_EXISTS
                                                                                    : SRV_STORE_ERROR_INVALID;
  return refuse(error, code, "%s: %s", what, sqlite3_errmsg(d->db));
}

/* Prepares @sql and binds its parameters from @types: 'i' gint64, 's' text
 * (NULL binds NULL), 'k' a 32-byte blob, 't' a TOTP secret. */
static sqlite3_stmt *
db_prepare(Db *d, const char *what, GError **error, const char *sql, const char *types, ...)
{
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(d->db, sql, -1, &s, NULL);
  va_list args;
  va_start(args, types);
  for (int i = 0; rc == SQLITE_OK && types[i] != '\0'; i++) {
    if (types[i] == 'i') {
      rc = sqlite3_bind_int64(s, i + 1, va_arg(args, gint64));
    } else if (types[i] == 's') {
      const char *v = va_arg(args, const char *);
      rc = v != NULL ? sqlite3_bind_text(s, i + 1, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i + 1);
    } else {
      const guint8 *v = va_arg(args, const guint8 *);
      rc = sqlite3_bind_blob(s, i + 1, v, types[i] == 'k' ? 32 : SRV_AUTH_TOTP_SECRET_LEN, SQLITE_STATIC);
    }
  }
  va_end(args);
  if (rc != SQLITE_OK) {
    db_fail(d, rc, what, error);
    sqlite3_finalize(s);
    return NULL;
  }
  return s;
}

/* 1: a row; 0: done; -1: failed. */
static int
db_step(Db *d, sqlite3_stmt *s, const char *what, GError **error)
{
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  db_fail(d, rc, what, error);
  return -1;
}

/* Runs a statement that returns no rows; *out_changes (may be NULL) gets how
 * many rows it changed. */
#define db_exec(d, changes, what, error, sql, ...)                                              \
  db_run(d, db_prepare(d, what, error, sql, __VA_ARGS__), changes, what, error)

static gboolean
db_run(Db *d, sqlite3_stmt *stmt, int *out_changes, const char *what, GError **error)
{
  /* Takes @stmt (NULL: preparing failed, @error is set). */
  g_autoptr(sqlite3_stmt) s = stmt;
  if (s == NULL || db_step(d, s, what, error) != 0)
    return FALSE;
  if (out_changes != NULL)
    *out_changes = sqlite3_changes(d->db);
  return TRUE;
}

/* The first column of the first row as an integer; @fallback when no row. */
static gboolean
db_int(Db *d, gint64 *out, gint64 fallback, const char *what, GError **error, const char *sql, const char *types,
       gint64 a, gint64 b)
{
  g_autoptr(sqlite3_stmt) s = db_prepare(d, what, error, sql, types, a, b);
  int r = s != NULL ? db_step(d, s, what, error) : -1;
  if (r < 0)
    return FALSE;
  *out = r == 1 ? sqlite3_column_int64(s, 0) : fallback;
  return TRUE;
}

static gboolean
db_begin(Db *d, GError **error)
{
  g_autoptr(GError) e = NULL;
  if (!gk_store_begin(d->gk, &e))
    return refuse(error, SRV_STORE_ERROR_FAILED, "cannot start a transaction: %s", e->message);
  d->in_tx = TRUE;
  return TRUE;
}

static gboolean
db_commit(Db *d, const char *what, GError **error)
{
  g_autoptr(GError) e = NULL;
  if (!gk_store_commit(d->gk, &e))
    return refuse(error, SRV_STORE_ERROR_FAILED, "%s: %s", what, e->message);
  d->in_tx = FALSE;
  return TRUE;
}

/* ---- accounts --------------------------------------------------------------------------------- */

static void
copy_secret(sqlite3_stmt *s, int col, guint8 out[SRV_AUTH_TOTP_SECRET_LEN])
{
  if (sqlite3_column_type(s, col) == SQLITE_BLOB && sqlite3_column_bytes(s, col) == SRV_AUTH_TOTP_SECRET_LEN)
    memcpy(out, sqlite3_column_blob(s, col), SRV_AUTH_TOTP_SECRET_LEN);
}

static void
read_account(sqlite3_stmt *s, SrvAuthAccount *out)
{
  memset(out, 0, sizeof *out);
  out->id = sqlite3_column_int64(s, 0);
  out->username = g_strdup((const char *) sqlite3_column_text(s, 1));
  out->password_hash = g_strdup((const char *) sqlite3_column_text(s, 2));
  copy_secret(s, 3, out->totp_secret);
  copy_secret(s, 4, out->totp_pending_secret);
  out->role = g_strdup((const char *) sqlite3_column_text(s, 5));
  out->must_change_password = sqlite3_column_int(s, 6) != 0;
  out->created_at = sqlite3_column_int64(s, 7);
  out->disabled_at = sqlite3_column_int64(s, 8);
  out->last_login_at = sqlite3_column_int64(s, 9);
  out->totp_enrolled = sqlite3_column_int(s, 10) != 0;
  out->totp_pending = sqlite3_column_int(s, 11) != 0;
  out->totp_last_step = sqlite3_column_int64(s, 12);
  out->recovery_left = (guint) sqlite3_column_int64(s, 13);
  out->may_export = sqlite3_column_int(s, 15) != 0;
  out->sites = g_array_new(FALSE, FALSE, sizeof(gint64));
  const char *csv = (const char *) sqlite3_column_text(s, 14);
  if (csv != NULL) {
    g_auto(GStrv) parts = g_strsplit(csv, ",", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
      gint64 id = g_ascii_strtoll(parts[i], NULL, 10);
      g_array_append_val(out->sites, id);
    }
  }
}

static gboolean
sq_account_get(gpointer backend, const char *username, gint64 id, SrvAuthAccount *out, GError **error)
{
  const char *what = "cannot read the account";
  Db d;
  db_take(&d, backend);
  g_autoptr(sqlite3_stmt) s = username != NULL
                                ? db_prepare(&d, what, error, sql_account_by_name, "s", username)
                                : db_prepare(&d, what, error, sql_account_by_id, "i", id);
  int r = s != NULL ? db_step(&d, s, what, error) : -1;
  if (r == 1)
    read_account(s, out);
  else if (r == 0)
    refuse(error, SRV_STORE_ERROR_NOT_FOUND, "no such account");
  g_clear_pointer(&s, sqlite3_finalize);
  db_give(&d);
  return r == 1;
}

static GArray *
sq_account_list(gpointer backend, gint64 site_id, GError **error)
{
  const char *what = "cannot list the accounts";
  Db d;
  db_take(&d, backend);
  GArray *list = g_array_new(FALSE, TRUE, sizeof(SrvAuthAccount));
  g_array_set_clear_func(list, (GDestroyNotify) srv_auth_store_account_clear);
  g_autoptr(sqlite3_stmt) s = db_prepare(&d, what, error, sql_account_list, "i", site_id);
  int r = s != NULL ? 1 : -1;
  while (r == 1 && (r = db_step(&d, s, what, error)) == 1) {
    SrvAuthAccount a;
    read_account(s, &a);
    g_array_append_val(list, a);
  }
  g_clear_pointer(&s, sqlite3_finalize);
  db_give(&d);
  if (r < 0)
    g_clear_pointer(&list, g_array_unref);
  return list;
}

static gboolean
role_ok(const char *role, GError **error)
{
  if (role != NULL && g_strv_contains(roles, role))
    return TRUE;
  return refuse(error, SRV_STORE_ERROR_INVALID, "the role must be owner, admin, receptionist, security or auditor");
}

/* Replaces the account's sites inside the caller's transaction. */
static gboolean
put_sites(Db *d, gint64 account_id, const gint64 *sites, guint n, GError **error)
{
  const char *what = "cannot set the account's sites";
  if (!db_exec(d, NULL, what, error, sql_sites_clear, "i", account_id))
    return FALSE;
  for (guint i = 0; i < n; i++) {
    g_autoptr(GError) e = NULL;
    if (!db_exec(d, NULL, what, &e, sql_site_grant, "ii", account_id, sites[i])) {
      if (g_error_matches(e, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND))
        return refuse(error, SRV_STORE_ERROR_NOT_FOUND, "there is no site %" G_GINT64_FORMAT, sites[i]);
      g_propagate_error(error, g_steal_pointer(&e));
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
sq_account_create(gpointer backend, const char *username, const char *password_hash, const char *role,
                  const gint64 *sites, guint n_sites, gint64 now, gint64 *out_id, GError **error)
{
  const char *what = "cannot add the account";
  if (!role_ok(role, error))
    return FALSE;
  gboolean owner = strcmp(role, "owner") == 0;
  if (!owner && n_sites == 0)
    return refuse(error, SRV_STORE_ERROR_INVALID, "an account other than an owner needs at least one site");
  Db d;
  db_take(&d, backend);
  gboolean ok = db_begin(&d, error) &&
                db_exec(&d, NULL, what, error, sql_account_add, "sssi", username, password_hash, role, now);
  gint64 id = ok ? sqlite3_last_insert_rowid(d.db) : 0;
  ok = ok && put_sites(&d, id, sites, owner ? 0 : n_sites, error) && db_commit(&d, what, error);
  db_give(&d);
  if (ok && out_id != NULL)
    *out_id = id;
  if (!ok && error != NULL && *error != NULL && (*error)->code == SRV_STORE_ERROR_EXISTS)
    g_prefix_error(error, "the user name is taken: ");
  return ok;
}

/* INVALID when @id is the last active owner (the installation would have
 * nobody left who can manage it). */
static gboolean
keeps_an_owner(Db *d, gint64 id, const char *what, GError **error)
{
  g_autoptr(sqlite3_stmt) s = db_prepare(d, what, error, sql_account_role, "i", id);
  int r = s != NULL ? db_step(d, s, what, error) : -1;
  if (r <= 0)
    return r == 0 ? refuse(error, SRV_STORE_ERROR_NOT_FOUND, "no such account") : FALSE;
  gboolean active_owner = strcmp((const char *) sqlite3_column_text(s, 0), "owner") == 0 &&
                          sqlite3_column_int(s, 1) != 0;
  gint64 others = 0;
  if (!active_owner)
    return TRUE;
  if (!db_int(d, &others, 0, what, error, sql_other_owners, "i", id, 0))
    return FALSE;
  if (others == 0)
    return refuse(error, SRV_STORE_ERROR_INVALID, "this is the last active owner: make another owner first");
  return TRUE;
}

static gboolean
sq_account_set_role(gpointer backend, gint64 id, const char *role, const gint64 *sites, guint n_sites, GError **error)
{
  const char *what = "cannot change the role";
  if (!role_ok(role, error))
    return FALSE;
  gboolean owner = strcmp(role, "owner") == 0;
  Db d;
  db_take(&d, backend);
  gint64 have_sites = 0;
  gboolean ok = db_begin(&d, error) && (owner || keeps_an_owner(&d, id, what, error)) &&
                db_int(&d, &have_sites, 0, what, error, sql_site_count, "i", id, 0);
  if (ok && !owner && n_sites == 0 && have_sites == 0)
    ok = refuse(error, SRV_STORE_ERROR_INVALID, "an account other than an owner needs at least one site");
  int changed = 0;
  ok = ok && db_exec(&d, &changed, what, error, sql_set_role, "is", id, role);
  if (ok && changed == 0)
    ok = refuse(error, SRV_STORE_ERROR_NOT_FOUND, "no such account");
  /* Owners act on every site; a list kept for them would only mislead. */
  if (ok && (owner || n_sites > 0))
    ok = put_sites(&d, id, sites, owner ? 0 : n_sites, error);
  ok = ok && db_commit(&d, what, error);
  db_give(&d);
  return ok;
}

static gboolean
sq_account_set_disabled(gpointer backend, gint64 id, gboolean disabled, gint64 now, GError **error)
{
  const char *what = "cannot change the account";
  Db d;
  db_take(&d, backend);
  int changed = 0;
  gboolean ok = db_begin(&d, error) && (!disabled || keeps_an_owner(&d, id, what, error)) &&
                db_exec(&d, &changed, what, error, sql_set_disabled, "iii", id, (gint64) disabled, now);
  if (ok && changed == 0)
    ok = refuse(error, SRV_STORE_ERROR_NOT_FOUND, "no such account");
  ok = ok && (!disabled || db_exec(&d, NULL, what, error, sql_end_sessions, "i", id)) && db_commit(&d, what, error);
  db_give(&d);
  return ok;
}

static gboolean
sq_account_reset_password(gpointer backend, gint64 id, const char *password_hash, GError **error)
{
  const char *what = "cannot reset the password";
  Db d;
  db_take(&d, backend);
  int changed = 0;
  gboolean ok = db_begin(&d, error) &&
                db_exec(&d, &changed, what, error, sql_reset_password, "is", id, password_hash);
  if (ok && changed == 0)
    ok = refuse(error, SRV_STORE_ERROR_NOT_FOUND, "no such account");
  ok = ok && db_exec(&d, NULL, what, error, sql_end_sessions, "i", id) &&
       db_exec(&d, NULL, what, error, sql_forget_failures, "i", id) && db_commit(&d, what, error);
  db_give(&d);
  return ok;
}

/* ---- sessions ----------------------------------------------------------------------------------- */

static gboolean
sq_session_add(gpointer backend, const guint8 token_hash[32], gint64 account_id, const char *ip, gint64 now,
               gboolean second_factor, GError **error)
{
  Db d;
  db_take(&d, backend);
  gboolean ok = db_exec(&d, NULL, "cannot add the session", error, sql_session_add, "kiisi", token_hash, account_id,
                        now, ip, (gint64) (second_factor ? 1 : 0));
  db_give(&d);
  return ok;
}

static gboolean
sq_session_check(gpointer backend, const guint8 token_hash[32], gint64 now, gint64 max_age, gint64 max_idle,
                 gint64 *out_account_id, gboolean *out_second_factor, GError **error)
{
  const char *what = "cannot check the session";
  Db d;
  db_take(&d, backend);
  gboolean ok = db_begin(&d, error);
  g_autoptr(sqlite3_stmt) s = ok ? db_prepare(&d, what, error, sql_session_get, "k", token_hash) : NULL;
  int r = s != NULL ? db_step(&d, s, what, error) : -1;
  gboolean live = FALSE;
  if (r == 1) {
    *out_account_id = sqlite3_column_int64(s, 0);
    *out_second_factor = sqlite3_column_int(s, 3) != 0;
    /* Subtractions, not additions: a huge max_age must not overflow. */
    live = now - sqlite3_column_int64(s, 1) < max_age && now - sqlite3_column_int64(s, 2) < max_idle;
  }
  g_clear_pointer(&s, sqlite3_finalize);
  ok = r == 1 &&
       (live ? db_exec(&d, NULL, what, error, sql_session_touch, "ki", token_hash, now)
             : db_exec(&d, NULL, what, error, sql_session_delete, "k", token_hash)) &&
       db_commit(&d, what, error);
  db_give(&d);
  if (r == 0 || (ok && !live))
    return refuse(error, SRV_STORE_ERROR_NOT_FOUND, "no such session");
  return ok;
}

/* ---- failed sign-ins --------------------------------------------------------------------------- */

static gboolean
sq_failure_add(gpointer backend, gint64 account_id, const char *ip, gint64 now, GError **error)
{
  const char *what = "cannot record the failed sign-in";
  Db d;
  db_take(&d, backend);
  g_autoptr(sqlite3_stmt) s = db_prepare(&d, what, error, sql_failure_add, "isi", account_id, ip, now);
  /* No account: NULL, so the row counts for the address only. */
  if (s != NULL && account_id == 0)
    sqlite3_bind_null(s, 1);
  gboolean ok = db_begin(&d, error) && db_run(&d, g_steal_pointer(&s), NULL, what, error) &&
                db_exec(&d, NULL, what, error, sql_failure_prune, "i", now - FAILURE_KEEP_S) &&
                db_commit(&d, what, error);
  g_clear_pointer(&s, sqlite3_finalize);
  db_give(&d);
  return ok;
}

static gboolean
sq_failures(gpointer backend, gint64 account_id, const char *ip, gint64 now, gint64 window_s, SrvAuthFailures *out,
            GError **error)
{
  const char *what = "cannot count failed sign-ins";
  memset(out, 0, sizeof *out);
  Db d;
  db_take(&d, backend);
  g_autoptr(sqlite3_stmt) a = db_prepare(&d, what, error, sql_failures_account, "ii", account_id, now - window_s);
  int r = a != NULL ? db_step(&d, a, what, error) : -1;
  if (r == 1) {
    out->account_window = (guint) sqlite3_column_int64(a, 0);
    out->account_since_ok = (guint) sqlite3_column_int64(a, 1);
    out->account_last_at = sqlite3_column_int64(a, 2);
    out->account_oldest_at = sqlite3_column_int64(a, 3);
  }
  g_autoptr(sqlite3_stmt) i = r >= 0 ? db_prepare(&d, what, error, sql_failures_ip, "si", ip, now - window_s) : NULL;
  r = i != NULL ? db_step(&d, i, what, error) : -1;
  if (r == 1) {
    out->ip_window = (guint) sqlite3_column_int64(i, 0);
    out->ip_last_at = sqlite3_column_int64(i, 1);
    out->ip_oldest_at = sqlite3_column_int64(i, 2);
  }
  g_clear_pointer(&a, sqlite3_finalize);
  g_clear_pointer(&i, sqlite3_finalize);
  db_give(&d);
  return r >= 0;
}

static gboolean
sq_login_succeeded(gpointer backend, gint64 account_id, gint64 now, GError **error)
{
  Db d;
  db_take(&d, backend);
  gboolean ok = db_exec(&d, NULL, "cannot record the sign-in", error, sql_login_ok, "ii", account_id, now);
  db_give(&d);
  return ok;
}

/* ---- TOTP ---------------------------------------------------------------------------------------------- */

static gboolean
sq_totp_begin(gpointer backend, gint64 account_id, const guint8 *secret, GError **error)
{
  const char *what = "cannot start the enrollment";
  Db d;
  db_take(&d, backend);
  int changed = 0;
  gint64 exists = 0;
  gboolean ok = db_exec(&d, &changed, what, error, sql_totp_begin, "it", account_id, secret);
  /* Nothing changed: enrolled already, or no such account. */
  if (ok && changed == 0 && db_int(&d, &exists, 0, what, error, sql_account_exists, "i", account_id, 0))
    ok = refuse(error, exists ? SRV_STORE_ERROR_EXISTS : SRV_STORE_ERROR_NOT_FOUND, "%s",
                exists ? "this account has a second factor already: an owner or admin must reset it first"
                       : "no such account");
  else if (ok && changed == 0)
    ok = FALSE;
  db_give(&d);
  return ok;
}

static gboolean
sq_totp_confirm(gpointer backend, gint64 account_id, gint64 step, const guint8 (*recovery)[32], guint n,
                GError **error)
{
  const char *what = "cannot finish the enrollment";
  Db d;
  db_take(&d, backend);
  int changed = 0;
  gboolean ok = db_begin(&d, error) && db_exec(&d, &changed, what, error, sql_totp_confirm, "ii", account_id, step);
  if (ok && changed == 0)
    ok = refuse(error, SRV_STORE_ERROR_NOT_FOUND, "no enrollment is under way: start one first");
  ok = ok && db_exec(&d, NULL, what, error, sql_recovery_clear, "i", account_id);
  for (guint i = 0; ok && i < n; i++)
    ok = db_exec(&d, NULL, what, error, sql_recovery_add, "ik", account_id, recovery[i]);
  ok = ok && db_commit(&d, what, error);
  db_give(&d);
  return ok;
}

static gboolean
sq_totp_use_step(gpointer backend, gint64 account_id, gint64 step, GError **error)
{
  Db d;
  db_take(&d, backend);
  int changed = 0;
  gboolean ok = db_exec(&d, &changed, "cannot record the code", error, sql_totp_use, "ii", account_id, step);
  db_give(&d);
  if (ok && changed == 0)
    return refuse(error, SRV_STORE_ERROR_USED, "this code was used already: wait for the next one");
  return ok;
}

static gboolean
sq_recovery_use(gpointer backend, gint64 account_id, const guint8 *hash, gint64 now, GError **error)
{
  const char *what = "cannot use the recovery code";
  Db d;
  db_take(&d, backend);
  int changed = 0;
  gboolean ok = db_exec(&d, &changed, what, error, sql_recovery_use, "iki", account_id, hash, now);
  if (ok && changed == 0) {
    /* Spent before, or never one of this account's. */
    g_autoptr(sqlite3_stmt) s = db_prepare(&d, what, error, sql_recovery_known, "ik", account_id, hash);
    int r = s != NULL ? db_step(&d, s, what, error) : -1;
    ok = r >= 0 && refuse(error, r == 1 ? SRV_STORE_ERROR_USED : SRV_STORE_ERROR_NOT_FOUND, "%s",
                          r == 1 ? "this recovery code was used already" : "no such recovery code");
  }
  db_give(&d);
  return ok;
}

static gboolean
sq_totp_reset(gpointer backend, gint64 account_id, GError **error)
{
  const char *what = "cannot reset the second factor";
  Db d;
  db_take(&d, backend);
  int changed = 0;
  gboolean ok = db_begin(&d, error) && db_exec(&d, &changed, what, error, sql_totp_reset, "i", account_id);
  if (ok && changed == 0)
    ok = refuse(error, SRV_STORE_ERROR_NOT_FOUND, "no such account");
  ok = ok && db_exec(&d, NULL, what, error, sql_recovery_clear, "i", account_id) &&
       db_exec(&d, NULL, what, error, sql_end_sessions, "i", account_id) && db_commit(&d, what, error);
  db_give(&d);
  return ok;
}

/* ---- allow-lists and sites ----------------------------------------------------------------------------- */

static GPtrArray *
sq_allow_list(gpointer backend, SrvAuthAllowScope scope, gint64 id, GError **error)
{
  const char *what = "cannot read the allow-list";
  Db d;
  db_take(&d, backend);
  GPtrArray *list = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(sqlite3_stmt) s = db_prepare(&d, what, error, sql_allow_get[scope], "i", id);
  int r = s != NULL ? 1 : -1;
  while (r == 1 && (r = db_step(&d, s, what, error)) == 1)
    g_ptr_array_add(list, g_strdup((const char *) sqlite3_column_text(s, 0)));
  g_clear_pointer(&s, sqlite3_finalize);
  db_give(&d);
  if (r < 0)
    g_clear_pointer(&list, g_ptr_array_unref);
  return list;
}

static gboolean
sq_allow_list_set(gpointer backend, SrvAuthAllowScope scope, gint64 id, const char *const *cidrs, guint n,
                  GError **error)
{
  const char *what = "cannot set the allow-list";
  Db d;
  db_take(&d, backend);
  gint64 exists = 0;
  gboolean ok = db_begin(&d, error) && db_int(&d, &exists, 0, what, error, sql_allow_owner[scope], "i", id, 0);
  if (ok && !exists)
    ok = refuse(error, SRV_STORE_ERROR_NOT_FOUND, scope == SRV_AUTH_ALLOW_SITE ? "no such site" : "no such account");
  ok = ok && db_exec(&d, NULL, what, error, sql_allow_clear[scope], "i", id);
  for (guint i = 0; ok && i < n; i++)
    ok = db_exec(&d, NULL, what, error, sql_allow_add[scope], "is", id, cidrs[i]);
  ok = ok && db_commit(&d, what, error);
  db_give(&d);
  return ok;
}

static GArray *
sq_site_list(gpointer backend, GError **error)
{
  const char *what = "cannot list the sites";
  Db d;
  db_take(&d, backend);
  GArray *list = g_array_new(FALSE, TRUE, sizeof(SrvAuthSite));
  g_array_set_clear_func(list, (GDestroyNotify) srv_auth_store_site_clear);
  g_autoptr(sqlite3_stmt) s = db_prepare(&d, what, error, sql_site_list, "");
  int r = s != NULL ? 1 : -1;
  while (r == 1 && (r = db_step(&d, s, what, error)) == 1) {
    SrvAuthSite site = {
      .id = sqlite3_column_int64(s, 0),
      .name = g_strdup((const char *) sqlite3_column_text(s, 1)),
      .created_at = sqlite3_column_int64(s, 2),
    };
    g_array_append_val(list, site);
  }
  g_clear_pointer(&s, sqlite3_finalize);
  db_give(&d);
  if (r < 0)
    g_clear_pointer(&list, g_array_unref);
  return list;
}

const SrvAuthBackend srv_auth_sqlite_backend = {
  .account_get = sq_account_get,
  .account_list = sq_account_list,
  .account_create = sq_account_create,
  .account_set_role = sq_account_set_role,
  .account_set_disabled = sq_account_set_disabled,
  .account_reset_password = sq_account_reset_password,
  .session_add = sq_session_add,
  .session_check = sq_session_check,
  .failure_add = sq_failure_add,
  .failures = sq_failures,
  .login_succeeded = sq_login_succeeded,
  .totp_begin = sq_totp_begin,
  .totp_confirm = sq_totp_confirm,
  .totp_use_step = sq_totp_use_step,
  .recovery_use = sq_recovery_use,
  .totp_reset = sq_totp_reset,
  .allow_list = sq_allow_list,
  .allow_list_set = sq_allow_list_set,
  .site_list = sq_site_list,
};
