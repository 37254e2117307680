/* Hosts' writes in the SQLite backend: each call is one write transaction, so
 * an import of many rows is all or nothing and devices see it as one batch of
 * feed changes. */
#include "srv-host-store-private.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>

#include "gk-store.h"
#include "srv-notify.h"
#include "srv-outbox-private.h"

/* Every value is a bound parameter. */
static const char sql_seq_next[] = "UPDATE feed_seq SET value = value + 1 WHERE id = 1 RETURNING value";
static const char sql_email_taken[] =
  "SELECT id FROM hosts WHERE site_id = ?1 AND removed_at IS NULL AND email = ?2 AND id <> ?3"
  " ORDER BY id LIMIT 1";
static const char sql_insert[] =
  "INSERT INTO hosts (site_id, name, reading, email, department, created_at, seq)"
  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_get_live[] =
  "SELECT name, reading, email, department FROM hosts WHERE id = ?1 AND site_id = ?2 AND removed_at IS NULL";
static const char sql_update[] =
  "UPDATE hosts SET name = ?3, reading = ?4, email = ?5, department = ?6, seq = ?7"
  " WHERE id = ?1 AND site_id = ?2 AND removed_at IS NULL";
/* The name stays while a ticket or visit names the host (lists of past visits
 * show it); otherwise nothing personal is left. */
static const char sql_remove[] =
  "UPDATE hosts SET removed_at = ?3, seq = ?4, reading = NULL, email = NULL, department = NULL,"
  " name = CASE WHEN EXISTS (SELECT 1 FROM tickets WHERE host_id = ?1 AND site_id = ?2)"
  "               OR EXISTS (SELECT 1 FROM visits WHERE host_id = ?1 AND site_id = ?2)"
  "             THEN name ELSE '-' END"
  " WHERE id = ?1 AND site_id = ?2 AND removed_at IS NULL";
static const char sql_setting_delete[] =
  "DELETE FROM notify_settings WHERE site_id = ?1 AND scope = 'host' AND host_id = ?2";
static const char sql_setting_get[] =
  "SELECT channel, target, secret IS NOT NULL FROM notify_settings"
  " WHERE site_id = ?1 AND scope = 'host' AND host_id = ?2";
/* A new host setting speaks the site default's language; a changed one keeps
 * its own. A NULL secret keeps the current one only for the same endpoint
 * (as srv-outbox-sqlite.c does for settings made one by one). */
static const char sql_setting_put[] =
  "INSERT INTO notify_settings (site_id, scope, host_id, channel, target, language, secret, offline_after_s,"
  " updated_at) VALUES (?1, 'host', ?2, ?3, ?4,"
  " COALESCE((SELECT language FROM notify_settings WHERE site_id = ?1 AND scope = 'default'), 'ja'), ?5, 0, ?6)"
  " ON CONFLICT (site_id, scope, host_id) DO UPDATE SET"
  "  secret = CASE WHEN excluded.secret IS NOT NULL THEN excluded.secret"
  "                WHEN notify_settings.channel = excluded.channel AND notify_settings.target IS excluded.target"
  "                THEN notify_settings.secret END,"
  "  channel = excluded.channel, target = excluded.target, updated_at = excluded.updated_at";

/* ---- small helpers ------------------------------------------------------------------ */

/* Statements are prepared once per transaction (an import runs the same few
 * for every row) and finalized when it ends. */
#define TX_STMTS 12

typedef struct {
  GkStore *gk;
  const char *what;
  GError **error;
  const char *sql[TX_STMTS];
  sqlite3_stmt *stmt[TX_STMTS];
} Tx;

static gboolean
fail_db(Tx *tx, int rc)
{
  sqlite3 *db = gk_store_db(tx->gk);
  int ext = sqlite3_extended_errcode(db);
  int code = SRV_STORE_ERROR_FAILED;
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    code = ext == SQLITE_CONSTRAINT_FOREIGNKEY ? SRV_STORE_ERROR_NOT_FOUND
           : ext == SQLITE_CONSTRAINT_UNIQUE   ? SRV_STORE_ERROR_EXISTS
                                               : SRV_STORE_ERROR_INVALID;
  g_set_error(tx->error, SRV_STORE_ERROR, code, "%s: %s", tx->what, sqlite3_errmsg(db));
  return FALSE;
}

/* The transaction's statement for @sql, reset, with @types bound in order:
 * 'i' gint64, 's' text (NULL binds NULL). The transaction owns it. */
static sqlite3_stmt *
query(Tx *tx, const char *sql, const char *types, ...)
{
  sqlite3_stmt *s = NULL;
  int rc = SQLITE_OK;
  guint slot = 0;
  while (slot < TX_STMTS && tx->sql[slot] != NULL && tx->sql[slot] != sql)
    slot++;
  g_assert(slot < TX_STMTS);
  if (tx->sql[slot] == sql) {
    s = tx->stmt[slot];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  } else {
    rc = sqlite3_prepare_v2(gk_store_db(tx->gk), sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(s);
      fail_db(tx, rc);
      return NULL;
    }
    tx->sql[slot] = sql;
    tx->stmt[slot] = s;
  }
  va_list ap;
  va_start(ap, types);
  for (int i = 0; rc == SQLITE_OK && types[i] != '\0'; i++) {
    if (types[i] == 'i') {
      rc = sqlite3_bind_int64(s, i + 1, va_arg(ap, gint64));
    } else {
      const char *v = va_arg(ap, const char *);
      rc = v != NULL ? sqlite3_bind_text(s, i + 1, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i + 1);
    }
  }
  va_end(ap);
  if (rc != SQLITE_OK) {
    fail_db(tx, rc);
    return NULL;
  }
  return s;
}

/* 1: a row; 0: done; -1: failed. */
static int
step(Tx *tx, sqlite3_stmt *s)
{
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  fail_db(tx, rc);
  return -1;
}

static gboolean
next_seq(Tx *tx, gint64 *out)
{
  sqlite3_stmt *s = query(tx, sql_seq_next, "");
  int r = s != NULL ? step(tx, s) : -1;
  if (r == 0)
    g_set_error(tx->error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "%s: the feed counter is missing", tx->what);
  if (r != 1)
    return FALSE;
  *out = sqlite3_column_int64(s, 0);
  return TRUE;
}

/* "" is "none" in the store. */
static const char *
or_null(const char *v)
{
  return v != NULL && *v != '\0' ? v : NULL;
}

/* E-mail addresses are stored in lower case (ASCII), so one index finds a
 * host by address whatever case a file or an admin wrote it in. */
static char *
email_key(const char *email)
{
  return email != NULL && *email != '\0' ? g_ascii_strdown(email, -1) : NULL;
}

static gboolean
email_free(Tx *tx, gint64 site_id, const char *email, gint64 self_id)
{
  if (email == NULL)
    return TRUE;
  sqlite3_stmt *s = query(tx, sql_email_taken, "isi", site_id, email, self_id);
  int r = s != NULL ? step(tx, s) : -1;
  if (r == 1)
    g_set_error(tx->error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS,
                "host %" G_GINT64_FORMAT " already has that e-mail address", (gint64) sqlite3_column_int64(s, 0));
  return r == 0;
}

/* Sets the host's channel (@text as srv_host_channel_parse() takes it).
 * @email: the host's address after this write, for the "email" channel. */
static gboolean
put_channel(Tx *tx, gint64 site_id, gint64 host_id, const char *text, const char *email, gboolean make_secret,
            gint64 now, char **out_secret)
{
  g_autofree char *channel = NULL, *target = NULL;
  g_autoptr(GError) local = NULL;
  if (!srv_host_channel_parse(text, &channel, &target, &local)) {
    g_set_error(tx->error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID, "channel %s", local->message);
    return FALSE;
  }
  if (strcmp(channel, "email") == 0 && target == NULL && email == NULL) {
    g_set_error(tx->error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID,
                "channel email: the host has no e-mail address (give email:ADDRESS)");
    return FALSE;
  }
  g_autofree char *secret = NULL;
  if (strcmp(channel, "webhook") == 0) {
    /* Every webhook is signed: a new endpoint gets a new secret. */
    sqlite3_stmt *s = query(tx, sql_setting_get, "ii", site_id, host_id);
    int r = s != NULL ? step(tx, s) : -1;
    if (r < 0)
      return FALSE;
    gboolean keeps = r == 1 && g_strcmp0((const char *) sqlite3_column_text(s, 0), channel) == 0 &&
                     g_strcmp0((const char *) sqlite3_column_text(s, 1), target) == 0 &&
                     sqlite3_column_int(s, 2) != 0;
    /* A dry run keeps nothing, so it makes no secret either: a stand-in value
     * satisfies the schema for the row it rolls back. */
    if (!keeps)
      secret = make_secret ? srv_notify_secret_generate() : g_strdup("dry-run-not-stored");
  }
  sqlite3_stmt *s = query(tx, sql_setting_put, "iisss", site_id, host_id, channel, target, secret);
  if (s != NULL)
    sqlite3_bind_int64(s, 6, now);
  gboolean ok = s != NULL && step(tx, s) == 0;
  if (ok && make_secret && secret != NULL)
    *out_secret = g_steal_pointer(&secret);
  return ok;
}

/* ---- one host --------------------------------------------------------------------------- */

static gboolean
add_one(Tx *tx, gint64 site_id, const SrvHostFields *f, gboolean make_secret, gint64 now, SrvHostWritten *out)
{
  gint64 seq = 0;
  g_autofree char *email = email_key(f->email);
  if (!email_free(tx, site_id, email, 0) || !next_seq(tx, &seq))
    return FALSE;
  sqlite3_stmt *s = query(tx, sql_insert, "issssii", site_id, f->name, or_null(f->reading), email,
                          or_null(f->department), now, seq);
  if (s == NULL || step(tx, s) != 0)
    return FALSE;
  out->host_id = sqlite3_last_insert_rowid(gk_store_db(tx->gk));
  out->added = TRUE;
  return or_null(f->channel) == NULL ||
         put_channel(tx, site_id, out->host_id, f->channel, email, make_secret, now, &out->secret);
}

static gboolean
edit_one(Tx *tx, gint64 site_id, gint64 host_id, const SrvHostFields *f, gboolean make_secret, gint64 now,
         SrvHostWritten *out)
{
  sqlite3_stmt *get = query(tx, sql_get_live, "ii", host_id, site_id);
  int r = get != NULL ? step(tx, get) : -1;
  if (r == 0)
    g_set_error(tx->error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no host %" G_GINT64_FORMAT " on this site",
                host_id);
  if (r != 1)
    return FALSE;
  /* NULL keeps the stored value; "" clears it. */
  const char *stored[4];
  for (int i = 0; i < 4; i++)
    stored[i] = (const char *) sqlite3_column_text(get, i);
  const char *name = f->name != NULL ? f->name : stored[0];
  const char *reading = f->reading != NULL ? or_null(f->reading) : stored[1];
  g_autofree char *new_email = email_key(f->email);
  const char *email = f->email != NULL ? new_email : stored[2];
  const char *department = f->department != NULL ? or_null(f->department) : stored[3];
  gint64 seq = 0;
  if (!email_free(tx, site_id, email, host_id) || !next_seq(tx, &seq))
    return FALSE;
  sqlite3_stmt *s = query(tx, sql_update, "iissssi", host_id, site_id, name, reading, email, department,
                                    seq);
  if (s == NULL || step(tx, s) != 0)
    return FALSE;
  out->host_id = host_id;
  out->added = FALSE;
  return or_null(f->channel) == NULL ||
         put_channel(tx, site_id, host_id, f->channel, email, make_secret, now, &out->secret);
}

/* ---- transactions ----------------------------------------------------------------------- */

typedef gboolean (*Work)(Tx *tx, gpointer data);

/* Runs @work in a write transaction; rolls back on failure or when @keep is FALSE. */
static gboolean
in_tx(gpointer backend, const char *what, gboolean keep, Work work, gpointer data, GError **error)
{
  gpointer conn = NULL;
  GkStore *gk = srv_store_sqlite_borrow(backend, &conn);
  Tx tx = { .gk = gk, .what = what, .error = error };
  GError *e = NULL;
  gboolean ok = gk_store_begin(gk, &e);
  if (!ok) {
    g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "%s: %s", what, e->message);
    g_error_free(e);
  } else {
    ok = work(&tx, data);
    for (guint i = 0; i < TX_STMTS; i++)
      sqlite3_reset(tx.stmt[i]); /* nothing in progress at COMMIT */
    if (ok && keep && !gk_store_commit(gk, &e)) {
      g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "%s: %s", what, e->message);
      g_error_free(e);
      ok = FALSE;
    }
    for (guint i = 0; i < TX_STMTS; i++)
      sqlite3_finalize(tx.stmt[i]);
    if (!ok || !keep)
      gk_store_rollback(gk);
  }
  srv_store_sqlite_give_back(backend, conn);
  return ok;
}

typedef struct {
  gint64 site_id, host_id, now;
  const SrvHostFields *fields;
  SrvHostWritten *out;
  GArray *rows, *written;
  gboolean dry_run;
} Job;

static gboolean
add_work(Tx *tx, gpointer data)
{
  Job *j = data;
  return add_one(tx, j->site_id, j->fields, TRUE, j->now, j->out);
}

static gboolean
edit_work(Tx *tx, gpointer data)
{
  Job *j = data;
  return edit_one(tx, j->site_id, j->host_id, j->fields, TRUE, j->now, j->out);
}

static gboolean
remove_work(Tx *tx, gpointer data)
{
  Job *j = data;
  gint64 seq = 0;
  if (!next_seq(tx, &seq))
    return FALSE;
  sqlite3_stmt *s = query(tx, sql_remove, "iiii", j->host_id, j->site_id, j->now, seq);
  if (s == NULL || step(tx, s) != 0)
    return FALSE;
  if (sqlite3_changes(gk_store_db(tx->gk)) == 0) {
    g_set_error(tx->error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no host %" G_GINT64_FORMAT " on this site",
                j->host_id);
    return FALSE;
  }
  sqlite3_stmt *d = query(tx, sql_setting_delete, "ii", j->site_id, j->host_id);
  return d != NULL && step(tx, d) == 0;
}

static gboolean
import_work(Tx *tx, gpointer data)
{
  Job *j = data;
  for (guint i = 0; i < j->rows->len; i++) {
    const SrvHostCsvRow *row = &g_array_index(j->rows, SrvHostCsvRow, i);
    SrvHostFields f = { row->name, row->reading, row->email, row->department, row->channel };
    SrvHostWritten w = { .line = row->line };
    gint64 existing = 0;
    if (row->email != NULL) {
      g_autofree char *key = email_key(row->email);
      sqlite3_stmt *s = query(tx, sql_email_taken, "isi", j->site_id, key, (gint64) 0);
      int r = s != NULL ? step(tx, s) : -1;
      if (r < 0)
        return FALSE;
      existing = r == 1 ? sqlite3_column_int64(s, 0) : 0;
    }
    /* An import sets what the file says: an absent or empty cell clears. */
    if (existing != 0) {
      f.reading = row->reading != NULL ? row->reading : "";
      f.department = row->department != NULL ? row->department : "";
    }
    gboolean ok = existing != 0 ? edit_one(tx, j->site_id, existing, &f, !j->dry_run, j->now, &w)
                                : add_one(tx, j->site_id, &f, !j->dry_run, j->now, &w);
    g_array_append_val(j->written, w);
    if (!ok) {
      g_prefix_error(tx->error, "line %u: ", row->line);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
sq_add(gpointer backend, gint64 site_id, const SrvHostFields *fields, gint64 now, SrvHostWritten *out,
       GError **error)
{
  Job j = { .site_id = site_id, .now = now, .fields = fields, .out = out };
  return in_tx(backend, "cannot add the host", TRUE, add_work, &j, error);
}

static gboolean
sq_edit(gpointer backend, gint64 site_id, gint64 host_id, const SrvHostFields *fields, gint64 now,
        SrvHostWritten *out, GError **error)
{
  Job j = { .site_id = site_id, .host_id = host_id, .now = now, .fields = fields, .out = out };
  return in_tx(backend, "cannot change the host", TRUE, edit_work, &j, error);
}

static gboolean
sq_remove(gpointer backend, gint64 site_id, gint64 host_id, gint64 now, GError **error)
{
  Job j = { .site_id = site_id, .host_id = host_id, .now = now };
  return in_tx(backend, "cannot remove the host", TRUE, remove_work, &j, error);
}

static gboolean
sq_import(gpointer backend, gint64 site_id, GArray *rows, gboolean dry_run, gint64 now, GArray *written,
          GError **error)
{
  Job j = { .site_id = site_id, .now = now, .rows = rows, .written = written, .dry_run = dry_run };
  return in_tx(backend, "cannot import the hosts", !dry_run, import_work, &j, error);
}

const SrvHostBackend srv_host_sqlite_backend = {
  .add = sq_add,
  .edit = sq_edit,
  .remove = sq_remove,
  .import = sq_import,
};
