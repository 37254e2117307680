/* The restore drill: a real server under write load (tickets issued through the
 * admin API), `genkan-server backup` while it writes, `genkan-server restore`
 * into a new directory, integrity_check, every acknowledged ticket from before
 * the backup present and nothing from after it, a server started on the
 * restored directory accepting the owner's sign-in. Also the scheduled backups
 * (interval 1 s, keep 3) and their refusals. */
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>

#include "gk-json.h"
#include "gk-store.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "srv-app.h"
#include "srv-backup.h"
#include "srv-store-private.h"

#define OWNER_PW "Drill-Passw0rd!x"
#define SERVER_BIN GK_BUILD_DIR "/sync-server/genkan-server"

typedef struct {
  GkTestServer *server;
  char *token;
  char *parent;    /* the server's temp dir: backups and keys go beside the data dir */
  char *key_path;
} Fixture;

static void
setup(Fixture *f, gconstpointer unused)
{
  (void) unused;
  f->server = gk_test_server_init();
  f->parent = g_path_get_dirname(f->server->data_dir);
  f->key_path = g_build_filename(f->parent, "backup.key", NULL);
  int status = 0;
  g_autofree char *out = NULL, *err = NULL;
  const char *argv[] = { SERVER_BIN, "backup-key", "--out", f->key_path, NULL };
  g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, NULL));
  g_assert_true(g_spawn_check_wait_status(status, NULL));
}

static void
teardown(Fixture *f, gconstpointer unused)
{
  (void) unused;
  g_free(f->token);
  gk_test_server_free(f->server);
  g_free(f->parent);
  g_free(f->key_path);
}

static long
admin(GkTestServer *server, const char *token, const char *method, const char *path, const char *body,
      JsonNode **reply)
{
  GkTestClient c = { .ca_path = server->ca_path, .token = token };
  g_autofree char *url = g_strconcat(server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

/* Runs genkan-server with @args; returns its exit status, stdout in *out. */
static int
run_server_cmd(const char *const *args, char **out, char **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer) SERVER_BIN);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add(argv, (gpointer) args[i]);
  g_ptr_array_add(argv, NULL);
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_spawn_sync(NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                             &error));
  g_assert_no_error(error);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* ---- the writer ------------------------------------------------------------------------ */

typedef struct {
  GkTestServer *server;
  const char *token;
  gint64 host_id;
  gint stop;
  gint acked;      /* tickets answered 201, in order: visitor "drill-N" for N < acked */
  gint refused;    /* any other answer */
} Writer;

static gpointer
writer_thread(gpointer data)
{
  Writer *w = data;
  while (!g_atomic_int_get(&w->stop)) {
    /* One writer, so acknowledgements come in the order of the names. */
    int n = g_atomic_int_get(&w->acked);
    g_autofree char *body = g_strdup_printf("{\"visitor\":\"drill-%06d\",\"host\":\"%" G_GINT64_FORMAT "\"}", n,
                                            w->host_id);
    long status = admin(w->server, w->token, "POST", "/v1/tickets", body, NULL);
    if (status == 201)
      g_atomic_int_inc(&w->acked);
    else
      g_atomic_int_inc(&w->refused);
  }
  return NULL;
}

/* ---- the restored store ------------------------------------------------------------------ */

static GkStore *
open_restored(const char *dir)
{
  g_autofree char *db = g_build_filename(dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(dir, SRV_DATA_KEK, NULL);
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  g_autoptr(GError) error = NULL;
  GkStore *store = gk_store_open(db, kek, m, n, &error);
  g_assert_no_error(error);
  return store;
}

static char *
query_text(GkStore *store, const char *sql)
{
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(store), sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  char *v = g_strdup((const char *) sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

static guint audit_count_by(GkTestServer *server, const char *token, const char *action, const char *actor_prefix);

/* The drill itself. */
static void
test_drill(Fixture *f, gconstpointer unused)
{
  (void) unused;
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f->server, f->token, "POST", "/v1/hosts", "{\"name\":\"Drill host\"}", &reply), ==, 201);

  Writer w = { .server = f->server, .token = f->token, .host_id = gk_test_json_int(reply, "id") };
  GThread *thread = g_thread_new("writer", writer_thread, &w);
  /* Let the load run a while first, so the store is not empty. */
  while (g_atomic_int_get(&w.acked) < 200)
    g_usleep(10000);

  g_autofree char *backup = g_build_filename(f->parent, "drill.gkbackup", NULL);
  const char *backup_args[] = { "backup", "--data-dir", f->server->data_dir, "--out", backup, "--key",
                                f->key_path, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int before = g_atomic_int_get(&w.acked);
  int rc = run_server_cmd(backup_args, &out, &err);
  int after = g_atomic_int_get(&w.acked);
  /* Still writing after the backup: the load spanned it. */
  while (g_atomic_int_get(&w.acked) < after + 20)
    g_usleep(10000);
  g_atomic_int_set(&w.stop, 1);
  g_thread_join(thread);
  g_assert_cmpint(rc, ==, 0);
  g_assert_cmpint(w.refused, ==, 0);
  g_test_message("acknowledged: %d before the backup, %d when it ended, %d in all", before, after, w.acked);
  g_assert_nonnull(strstr(out, "bytes"));
  /* The command-line backup is on record in the live store's audit log. */
  g_assert_cmpuint(audit_count_by(f->server, f->token, "backup", "unix:"), ==, 1);

  g_autofree char *restored = g_build_filename(f->parent, "restored", NULL);
  g_autofree char *out2 = NULL, *err2 = NULL;
  const char *restore_args[] = { "restore", "--in", backup, "--key", f->key_path, "--data-dir", restored, NULL };
  rc = run_server_cmd(restore_args, &out2, &err2);
  if (rc != 0)
    g_error("restore failed: %s", err2);
  g_assert_nonnull(strstr(out2, "integrity_check and foreign_key_check ok"));

  {
    g_autoptr(GkStore) store = open_restored(restored);
    g_autofree char *check = query_text(store, "PRAGMA integrity_check");
    g_assert_cmpstr(check, ==, "ok");
    g_autofree char *count_text = query_text(store, "SELECT count(*) FROM tickets");
    gint64 count = g_ascii_strtoll(count_text, NULL, 10);
    /* Every ticket acknowledged before the backup began is there; none beyond
     * those acknowledged when it ended, plus the one request in flight then. */
    g_assert_cmpint(count, >=, before);
    g_assert_cmpint(count, <=, after + 1);
    g_autofree char *in_order = query_text(store, "SELECT count(*) FROM tickets WHERE visitor_name < 'drill-'"
                                                  " OR visitor_name >= printf('drill-%06d', (SELECT count(*) FROM tickets))");
    g_assert_cmpstr(in_order, ==, "0");
    g_autofree char *distinct = query_text(store, "SELECT count(*) - count(DISTINCT visitor_name) FROM tickets");
    g_assert_cmpstr(distinct, ==, "0");  /* so: exactly drill-000000 .. drill-(count-1) */
    g_autofree char *summary_line = g_strdup_printf("tickets %" G_GINT64_FORMAT "\n", count);
    g_assert_nonnull(strstr(out2, summary_line));
    g_autofree char *restores = query_text(store, "SELECT count(*) FROM audit_log WHERE action = 'restore'");
    g_assert_cmpstr(restores, ==, "1");
  }

  /* The restored directory runs: a server starts on it and the owner signs in
   * with the password (and second factor) set before the backup. */
  gk_test_server_stop(f->server);
  GkTestServer *second = g_new0(GkTestServer, 1);
  second->data_dir = g_strdup(restored);
  second->log_path = g_build_filename(f->parent, "restored.log", NULL);
  second->ca_path = g_build_filename(restored, SRV_CA_CERT_FILE, NULL);
  gk_test_server_start(second);
  g_autofree char *token = gk_test_server_login_owner(second, OWNER_PW);
  g_assert_nonnull(token);
  g_autoptr(JsonNode) hosts = NULL;
  g_assert_cmpint(admin(second, token, "GET", "/v1/hosts", NULL, &hosts), ==, 200);
  /* The audit chain came through whole, the restore's own entry included. */
  g_autoptr(JsonNode) verify = NULL;
  g_assert_cmpint(admin(second, token, "GET", "/v1/audit/verify", NULL, &verify), ==, 200);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(verify), "ok"));
  gk_test_server_stop(second);
  g_free(second->data_dir);
  g_free(second->log_path);
  g_free(second->ca_path);
  g_free(second->admin_url);
  g_free(second->device_url);
  g_free(second);

  /* A restore never lands in a directory that holds anything. */
  g_autofree char *out3 = NULL, *err3 = NULL;
  g_assert_cmpint(run_server_cmd(restore_args, &out3, &err3), ==, 1);
  g_assert_nonnull(strstr(err3, "already holds files"));
}

static guint
count_backup_files(const char *dir, guint *others)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  guint n = 0;
  const char *name;
  *others = 0;
  while ((name = g_dir_read_name(d)) != NULL) {
    if (g_str_has_prefix(name, SRV_BACKUP_FILE_PREFIX) && g_str_has_suffix(name, SRV_BACKUP_FILE_SUFFIX))
      n++;
    else
      (*others)++;
  }
  g_dir_close(d);
  return n;
}

static guint
audit_count_by(GkTestServer *server, const char *token, const char *action, const char *actor_prefix)
{
  g_autoptr(JsonNode) list = NULL;
  g_autofree char *path = g_strdup_printf("/v1/audit?action=%s&since=0&limit=1000", action);
  g_assert_cmpint(admin(server, token, "GET", path, NULL, &list), ==, 200);
  JsonArray *entries = json_object_get_array_member(json_node_get_object(list), "entries");
  guint n = 0;
  for (guint i = 0; i < json_array_get_length(entries); i++) {
    JsonObject *e = json_array_get_object_element(entries, i);
    if (g_strcmp0(gk_json_get_string(e, "action", NULL), action) == 0 &&
        g_str_has_prefix(gk_json_get_string(e, "actor", ""), actor_prefix) &&
        g_strcmp0(gk_json_get_string(e, "actor_kind", NULL), "system") == 0)
      n++;
  }
  return n;
}

static guint
audit_count(GkTestServer *server, const char *token, const char *action)
{
  return audit_count_by(server, token, action, "server");
}

static void
test_scheduled(Fixture *f, gconstpointer unused)
{
  (void) unused;
  g_autofree char *dir = g_build_filename(f->parent, "backups", NULL);
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  /* Files that are not ours are never pruned. */
  g_autofree char *foreign = g_build_filename(dir, "notes.txt", NULL);
  g_assert_true(g_file_set_contents(foreign, "keep me", -1, NULL));
  g_autofree char *conf = g_strdup_printf("[backup]\ndir = %s\nkey-file = %s\ninterval-s = 1\nkeep = 3\n", dir,
                                          f->key_path);
  gk_test_server_configure(f->server, conf);
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  /* Wait for at least 5 backups (audited), so pruning had to delete some. */
  for (int i = 0; i < 300 && audit_count(f->server, f->token, "backup") < 5; i++)
    g_usleep(100000);
  g_assert_cmpuint(audit_count(f->server, f->token, "backup"), >=, 5);
  g_assert_cmpuint(audit_count(f->server, f->token, "backup.failed"), ==, 0);
  gk_test_server_stop(f->server);
  guint others = 0;
  g_assert_cmpuint(count_backup_files(dir, &others), ==, 3);
  g_assert_cmpuint(others, ==, 1);  /* notes.txt, and no temp file */

  /* The newest generation restores. */
  GDir *d = g_dir_open(dir, 0, NULL);
  g_autofree char *newest = NULL;
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL)
    if (g_str_has_prefix(name, SRV_BACKUP_FILE_PREFIX) && g_strcmp0(name, newest) > 0) {
      g_free(newest);
      newest = g_strdup(name);
    }
  g_dir_close(d);
  g_autofree char *newest_path = g_build_filename(dir, newest, NULL);
  g_autofree char *restored = g_build_filename(f->parent, "restored", NULL);
  const char *restore_args[] = { "restore", "--in", newest_path, "--key", f->key_path, "--data-dir", restored, NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(run_server_cmd(restore_args, &out, &err), ==, 0);
  g_assert_nonnull(strstr(out, "accounts 1\n"));
}

/* A scheduled backup that fails (the key file went away after start) is
 * audited as backup.failed and leaves no file, not even a temporary one. */
static void
test_scheduled_failure(Fixture *f, gconstpointer unused)
{
  (void) unused;
  g_autofree char *dir = g_build_filename(f->parent, "backups", NULL);
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  g_autofree char *conf = g_strdup_printf("[backup]\ndir = %s\nkey-file = %s\ninterval-s = 1\nkeep = 3\n", dir,
                                          f->key_path);
  gk_test_server_configure(f->server, conf);
  gk_test_server_start(f->server);
  g_autofree char *moved = g_strconcat(f->key_path, ".moved", NULL);
  g_assert_cmpint(g_rename(f->key_path, moved), ==, 0);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  for (int i = 0; i < 300 && audit_count(f->server, f->token, "backup.failed") < 2; i++)
    g_usleep(100000);
  g_assert_cmpuint(audit_count(f->server, f->token, "backup.failed"), >=, 2);
  /* A backup that ran before the rename is fine; the failed ones left nothing. */
  guint done = audit_count(f->server, f->token, "backup");
  gk_test_server_stop(f->server);
  guint others = 0;
  g_assert_cmpuint(count_backup_files(dir, &others), ==, MIN(done, 3));
  g_assert_cmpuint(others, ==, 0);
  g_autofree char *log = gk_test_server_log(f->server);
  g_assert_nonnull(strstr(log, "event=backup.failed"));
}

/* Settings that cannot work stop the server at start, with a clear reason. */
static void
test_scheduled_refusals(Fixture *f, gconstpointer unused)
{
  (void) unused;
  g_autofree char *outside = g_build_filename(f->parent, "backups", NULL);
  g_assert_cmpint(g_mkdir(outside, 0700), ==, 0);
  g_autofree char *inside = g_build_filename(f->server->data_dir, "backups", NULL);
  g_assert_cmpint(g_mkdir(inside, 0700), ==, 0);
  g_autofree char *key_beside = g_build_filename(outside, "backup.key", NULL);
  g_assert_true(srv_backup_key_generate(key_beside, NULL));
  struct {
    char *conf;
    const char *message;
  } cases[] = {
    { g_strdup_printf("[backup]\ndir = %s\nkey-file = %s\n", inside, f->key_path), "inside the data directory" },
    { g_strdup_printf("[backup]\ndir = %s\n", outside), "key-file is not" },
    { g_strdup_printf("[backup]\ndir = %s\nkey-file = %s/none\n", outside, f->parent), "backup key" },
    { g_strdup_printf("[backup]\ndir = %s\nkey-file = %s\n", outside, key_beside), "beside the backups" },
    { g_strdup_printf("[backup]\ndir = relative\nkey-file = %s\n", f->key_path), "absolute path" },
    { g_strdup_printf("[backup]\ndir = %s\nkey-file = %s\nkeep = 32\n", outside, f->key_path), "keep" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    gk_test_server_configure(f->server, cases[i].conf);
    const char *args[] = { "run", "--data-dir", f->server->data_dir, "--admin-port", "0", "--device-port", "0",
                           NULL };
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint(run_server_cmd(args, &out, &err), ==, 1);
    if (strstr(err, cases[i].message) == NULL)
      g_error("case %" G_GSIZE_FORMAT ": expected '%s' in: %s", i, cases[i].message, err);
    g_free(cases[i].conf);
  }
  /* Nothing was written anywhere. */
  guint others = 0;
  g_assert_cmpuint(count_backup_files(inside, &others), ==, 0);
  g_assert_cmpuint(count_backup_files(outside, &others), ==, 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/server/backup/drill", Fixture, NULL, setup, test_drill, teardown);
  g_test_add("/server/backup/scheduled", Fixture, NULL, setup, test_scheduled, teardown);
  g_test_add("/server/backup/scheduled-failure", Fixture, NULL, setup, test_scheduled_failure, teardown);
  g_test_add("/server/backup/scheduled-refusals", Fixture, NULL, setup, test_scheduled_refusals, teardown);
  return g_test_run();
}
