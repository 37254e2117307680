/* The audit log end to end, on a real genkan-server on loopback: what admin
 * actions and refusals record (and what they never record), who may read the
 * log, genkanctl audit list / export / verify, and the tamper test: entries
 * changed, removed and swapped directly in the stopped server's store. */
#include <string.h>
#include <sys/stat.h>

#include "gk-json.h"
#include "gk-store.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "srv-app.h"
#include "srv-store-private.h"

#define CTL GK_BUILD_DIR "/sync-server/genkanctl"
#define OWNER_PW "N3w-Owner-Passw0rd!"
#define STAFF_PW "Staff-Passw0rd-42!"

typedef struct {
  GkTestServer *server;
  char *token;
  char *tmp;
  gint64 started_at;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->started_at = g_get_real_time() / G_USEC_PER_SEC;
  f->tmp = gk_test_make_tmpdir("genkan-audit-it");
  f->server = gk_test_server_init();
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  gk_test_server_free(f->server);
  gk_test_rmtree(f->tmp);
  g_free(f->tmp);
  g_free(f->token);
}

static long
call(Fixture *f, const char *token, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = token };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

/* The entries GET /v1/audit@query answers, as the owner; @holder keeps them. */
static JsonArray *
entries(Fixture *f, const char *query, JsonNode **holder)
{
  g_autofree char *path = g_strconcat("/v1/audit", query, NULL);
  g_clear_pointer(holder, json_node_unref);
  g_assert_cmpint(call(f, f->token, "GET", path, NULL, holder), ==, 200);
  JsonObject *o = json_node_get_object(*holder);
  g_assert_true(json_object_has_member(o, "more"));
  return json_object_get_array_member(o, "entries");
}

/* The newest entry with @action (and @actor when not NULL), or NULL. */
static JsonObject *
find(JsonArray *list, const char *action, const char *actor)
{
  for (guint i = json_array_get_length(list); i > 0; i--) {
    JsonObject *e = json_array_get_object_element(list, i - 1);
    if (g_strcmp0(gk_json_get_string(e, "action", NULL), action) == 0 &&
        (actor == NULL || g_strcmp0(gk_json_get_string(e, "actor", NULL), actor) == 0))
      return e;
  }
  return NULL;
}

static void
assert_entry(Fixture *f, JsonObject *e, const char *actor, const char *kind, const char *target, const char *result,
             const char *reason)
{
  g_assert_nonnull(e);
  g_assert_cmpstr(gk_json_get_string(e, "actor", NULL), ==, actor);
  g_assert_cmpstr(gk_json_get_string(e, "actor_kind", NULL), ==, kind);
  g_assert_cmpstr(gk_json_get_string(e, "target", NULL), ==, target);
  g_assert_cmpstr(gk_json_get_string(e, "result", NULL), ==, result);
  g_assert_cmpstr(gk_json_get_string(e, "reason", NULL), ==, reason);
  g_assert_cmpstr(gk_json_get_string(e, "source_ip", NULL), ==, "127.0.0.1");
  gint64 at = gk_json_get_int(e, "at", 0);
  g_assert_cmpint(at, >=, f->started_at);
  g_assert_cmpint(at, <=, g_get_real_time() / G_USEC_PER_SEC);
  g_assert_cmpuint(strlen(gk_json_get_string(e, "hash", "")), ==, 64);
}

/* Every text of every entry, for "this never went in" checks. */
static char *
all_text(JsonArray *list)
{
  g_autoptr(JsonNode) node = json_node_new(JSON_NODE_ARRAY);
  json_node_set_array(node, list);
  return json_to_string(node, FALSE);
}

/* ---- 1. what is recorded ---------------------------------------------------------------------- */

static void
test_actions_recorded(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL, holder = NULL;
  g_assert_cmpint(call(f, f->token, "POST", "/v1/hosts", "{\"name\":\"Sato Hanako\",\"email\":\"sato@example.jp\"}",
                       &reply), ==, 201);
  g_autofree char *host_id = g_strdup_printf("%" G_GINT64_FORMAT, gk_test_json_int(reply, "id"));
  g_clear_pointer(&reply, json_node_unref);
  g_assert_cmpint(call(f, f->token, "POST", "/v1/tickets",
                       "{\"visitor\":\"Yamada Taro\",\"host\":\"Sato Hanako\",\"company\":\"Kabushiki Ltd\"}", &reply),
                  ==, 201);
  g_autofree char *ticket_id = g_strdup(gk_test_json_str(reply, "ticket_id"));
  g_autofree char *reception_code = g_strdup(gk_test_json_str(reply, "reception_code"));
  GkTestDevice *dev = gk_test_enroll_device(f->server, f->token, "Gate 1", "gate");
  g_autofree char *config_path = g_strdup_printf("/v1/devices/%s/config", dev->device_id);
  g_assert_cmpint(call(f, f->token, "POST", config_path, "{\"settings\":{\"language\":\"en\"}}", NULL), ==, 200);
  g_assert_cmpint(call(f, f->token, "POST", config_path, "{\"settings\":{\"colour\":\"red\"}}", NULL), ==, 400);
  g_autofree char *revoke_path = g_strdup_printf("/v1/devices/%s/revoke", dev->device_id);
  g_assert_cmpint(call(f, f->token, "POST", revoke_path, "{}", NULL), ==, 200);
  /* Refusals: a wrong password, an unknown account, no session, a bad token. */
  g_assert_cmpint(call(f, NULL, "POST", "/v1/login", "{\"username\":\"owner\",\"password\":\"Wr0ng-Passw0rd!\"}", NULL),
                  ==, 401);
  g_assert_cmpint(call(f, NULL, "POST", "/v1/login",
                       "{\"username\":\"Tr0ub4dor&3-typed-in-the-wrong-box\",\"password\":\"x\"}", NULL), ==, 401);
  g_assert_cmpint(call(f, NULL, "GET", "/v1/hosts", NULL, NULL), ==, 401);
  g_assert_cmpint(call(f, "not-a-real-session-token", "POST", "/v1/hosts", "{\"name\":\"X\"}", NULL), ==, 401);
  g_assert_cmpint(call(f, f->token, "GET", "/v1/no-such-route", NULL, NULL), ==, 404);

  JsonArray *list = entries(f, "?limit=100", &holder);
  /* The first sign-in (with the one-time password changed). */
  assert_entry(f, find(list, "login", "owner"), "owner", "account", NULL, "ok", NULL);
  assert_entry(f, find(list, "host.add", NULL), "owner", "account", host_id, "ok", NULL);
  assert_entry(f, find(list, "ticket.issue", NULL), "owner", "account", ticket_id, "ok", NULL);
  assert_entry(f, find(list, "device.enroll-code", NULL), "owner", "account", NULL, "ok", NULL);
  assert_entry(f, find(list, "device.enroll", NULL), dev->device_id, "device", dev->device_id, "ok", NULL);
  assert_entry(f, find(list, "config.set", NULL), "owner", "account", dev->device_id, "refused", "bad-request");
  assert_entry(f, find(list, "device.revoke", NULL), "owner", "account", dev->device_id, "ok", NULL);
  assert_entry(f, find(list, "login.refused", "owner"), "owner", "account", NULL, "refused", "bad-credentials");
  assert_entry(f, find(list, "login.refused", "-"), "-", "none", NULL, "refused", "bad-credentials");
  assert_entry(f, find(list, "session.refused", NULL), "-", "none", "host.add", "refused", "unauthenticated");
  assert_entry(f, find(list, "request", NULL), "owner", "account", "GET /v1/no-such-route", "refused", "not-found");
  guint n_config = 0, n_session = 0;
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonObject *e = json_array_get_object_element(list, i);
    n_config += g_strcmp0(gk_json_get_string(e, "action", NULL), "config.set") == 0;
    n_session += g_strcmp0(gk_json_get_string(e, "action", NULL), "session.refused") == 0;
    /* seq counts up by one: nothing missing between consecutive entries. */
    if (i > 0)
      g_assert_cmpint(gk_json_get_int(e, "seq", 0), ==,
                      gk_json_get_int(json_array_get_object_element(list, i - 1), "seq", 0) + 1);
  }
  g_assert_cmpuint(n_config, ==, 2);
  g_assert_cmpuint(n_session, ==, 2);

  /* Ids only: no visitor's name or company, no e-mail, no code, no secret, and
   * not what an unknown "user name" said (it may be a mistyped password). */
  g_autofree char *text = all_text(list);
  static const char *const never[] = { "Yamada", "Kabushiki", "sato@", "Sato Hanako", "Wr0ng", "Tr0ub4dor",
                                       "not-a-real-session-token", OWNER_PW };
  for (guint i = 0; i < G_N_ELEMENTS(never); i++)
    g_assert_null(strstr(text, never[i]));
  g_assert_null(strstr(text, reception_code));
  g_assert_null(strstr(text, f->token));
  gk_test_device_free(dev);
}

/* ---- 2. who may read it ------------------------------------------------------------------------- */

/* An account named after its @role, made through the API by the owner (with
 * a second factor where the role needs one); its session token (g_free). */
static char *
add_staff(Fixture *f, const char *role)
{
  return gk_test_server_add_account(f->server, f->token, role, role, NULL, STAFF_PW, NULL, NULL);
}

static void
test_roles(Fixture *f, gconstpointer data)
{
  static const struct {
    const char *role;
    long status;
  } who[] = { { "admin", 200 }, { "auditor", 200 }, { "receptionist", 403 }, { "security", 403 } };
  static const char *const routes[] = { "/v1/audit", "/v1/audit/verify", "/v1/audit/export" };
  for (guint i = 0; i < G_N_ELEMENTS(who); i++) {
    g_autofree char *token = add_staff(f, who[i].role);
    for (guint r = 0; r < G_N_ELEMENTS(routes); r++) {
      g_autoptr(JsonNode) reply = NULL;
      g_test_message("%s GET %s", who[i].role, routes[r]);
      g_assert_cmpint(call(f, token, "GET", routes[r], NULL, &reply), ==, who[i].status);
      if (who[i].status == 403)
        g_assert_cmpstr(gk_test_json_str(json_object_get_member(json_node_get_object(reply), "error"), "code"),
                        ==, "forbidden");
      /* Writing to the log is nobody's right. */
      g_assert_cmpint(call(f, token, "POST", routes[r], "{}", NULL), ==, 405);
      g_assert_cmpint(call(f, token, "DELETE", routes[r], NULL, NULL), ==, 405);
    }
  }
  for (guint r = 0; r < G_N_ELEMENTS(routes); r++)
    g_assert_cmpint(call(f, NULL, "GET", routes[r], NULL, NULL), ==, 401);
  g_assert_cmpint(call(f, f->token, "GET", "/v1/audit", NULL, NULL), ==, 200);

  /* Bad queries are refused, and the refusals are on record too. */
  static const char *const bad[] = { "?limit=0", "?limit=x", "?colour=red", "?since=yesterday", "?actor=",
                                     "?actor=a&actor=b", "?bom=1" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autofree char *path = g_strconcat("/v1/audit", bad[i], NULL);
    g_assert_cmpint(call(f, f->token, "GET", path, NULL, NULL), ==, 400);
  }
  g_assert_cmpint(call(f, f->token, "GET", "/v1/audit/verify?x=1", NULL, NULL), ==, 400);

  g_autoptr(JsonNode) holder = NULL;
  JsonArray *list = entries(f, "?limit=200", &holder);
  assert_entry(f, find(list, "audit.list", "receptionist"), "receptionist", "account", NULL, "refused", "forbidden");
  assert_entry(f, find(list, "export", "security"), "security", "account", "audit", "refused", "forbidden");
  assert_entry(f, find(list, "audit.verify", "auditor"), "auditor", "account", NULL, "ok", NULL);
  assert_entry(f, find(list, "export", "auditor"), "auditor", "account", "audit", "ok", NULL);
  assert_entry(f, find(list, "session.refused", NULL), "-", "none", "export", "refused", "unauthenticated");
  assert_entry(f, find(list, "audit.list", "owner"), "owner", "account", NULL, "refused", "bad-request");
  JsonObject *post = find(list, "request", "auditor");
  g_assert_nonnull(post);
  g_assert_cmpstr(gk_json_get_string(post, "reason", NULL), ==, "method-not-allowed");
}

/* Each site's auditor sees that site's entries (and the server-wide ones),
 * never another site's. */
static void
test_sites(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->token, "POST", "/v1/sites", "{\"name\":\"Osaka\"}", &reply), ==, 201);
  g_autofree char *osaka = g_strdup_printf("[%" G_GINT64_FORMAT "]", gk_test_json_int(reply, "id"));
  g_autofree char *osaka_admin = gk_test_server_add_account(f->server, f->token, "osaka-admin", "admin", osaka,
                                                            STAFF_PW, NULL, NULL);
  g_autofree char *osaka_auditor = gk_test_server_add_account(f->server, f->token, "osaka-auditor", "auditor", osaka,
                                                              STAFF_PW, NULL, NULL);
  g_autofree char *tokyo_auditor = gk_test_server_add_account(f->server, f->token, "tokyo-auditor", "auditor", NULL,
                                                              STAFF_PW, NULL, NULL);
  g_assert_cmpint(call(f, f->token, "POST", "/v1/hosts", "{\"name\":\"Tokyo Host\"}", NULL), ==, 201);
  g_assert_cmpint(call(f, osaka_admin, "POST", "/v1/hosts", "{\"name\":\"Osaka Host\"}", NULL), ==, 201);

  const struct {
    const char *token;
    const char *sees;
    const char *never;
  } views[] = { { tokyo_auditor, "owner", "osaka-admin" }, { osaka_auditor, "osaka-admin", "owner" } };
  for (guint i = 0; i < G_N_ELEMENTS(views); i++) {
    g_autoptr(JsonNode) list = NULL;
    g_assert_cmpint(call(f, views[i].token, "GET", "/v1/audit?action=host.add&since=0", NULL, &list), ==, 200);
    JsonArray *rows = json_object_get_array_member(json_node_get_object(list), "entries");
    g_assert_cmpuint(json_array_get_length(rows), ==, 1);
    g_assert_cmpstr(gk_json_get_string(json_array_get_object_element(rows, 0), "actor", NULL), ==, views[i].sees);
    g_autoptr(JsonNode) everything = NULL;
    g_assert_cmpint(call(f, views[i].token, "GET", "/v1/audit?limit=1000", NULL, &everything), ==, 200);
    JsonArray *all = json_object_get_array_member(json_node_get_object(everything), "entries");
    g_assert_null(find(all, "host.add", views[i].never));
  }
}

/* ---- 3. genkanctl: list, export ------------------------------------------------------------------ */

/* Runs genkanctl with a session of its own in @f->tmp (signed in as the
 * auditor, whose role needs no second factor); returns the exit status. */
static int
run_ctl(Fixture *f, char **out, ...)
{
  g_autoptr(GSubprocessLauncher) l =
    g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autofree char *cfg = g_build_filename(f->tmp, "xdg", NULL);
  g_subprocess_launcher_setenv(l, "XDG_CONFIG_HOME", cfg, TRUE);
  g_subprocess_launcher_setenv(l, "GENKAN_PASSWORD", STAFF_PW, TRUE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer) CTL);
  va_list args;
  va_start(args, out);
  for (const char *a = va_arg(args, const char *); a != NULL; a = va_arg(args, const char *))
    g_ptr_array_add(argv, (gpointer) a);
  va_end(args);
  g_ptr_array_add(argv, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, (const char *const *) argv->pdata, &error);
  g_assert_no_error(error);
  g_autofree char *o = NULL, *e = NULL;
  g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, &o, &e, &error));
  g_test_message("genkanctl: %s%s", o, e);
  if (out != NULL)
    *out = g_steal_pointer(&o);
  return g_subprocess_get_exit_status(p);
}

static void
ctl_login(Fixture *f)
{
  g_autofree char *marker = g_build_filename(f->tmp, "auditor-added", NULL);
  if (!g_file_test(marker, G_FILE_TEST_EXISTS)) {
    g_free(add_staff(f, "auditor"));
    g_assert_true(g_file_set_contents(marker, "", 0, NULL));
  }
  g_assert_cmpint(run_ctl(f, NULL, "--server", f->server->admin_url, "--ca", f->server->ca_path, "login", "--user",
                          "auditor", NULL), ==, 0);
}

static void
test_ctl_list_export(Fixture *f, gconstpointer data)
{
  ctl_login(f);
  for (guint i = 0; i < 3; i++) {
    g_autofree char *body = g_strdup_printf("{\"name\":\"Host %u\"}", i);
    g_assert_cmpint(call(f, f->token, "POST", "/v1/hosts", body, NULL), ==, 201);
  }
  g_assert_cmpint(call(f, NULL, "POST", "/v1/login", "{\"username\":\"owner\",\"password\":\"nope-nope-1A\"}", NULL),
                  ==, 401);

  g_autofree char *json = NULL;
  g_assert_cmpint(run_ctl(f, &json, "audit", "list", "--actor", "owner", "--action", "host.add", "--json", NULL), ==, 0);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_data(parser, json, -1, NULL));
  JsonArray *rows = json_node_get_array(json_parser_get_root(parser));
  g_assert_cmpuint(json_array_get_length(rows), ==, 3);
  for (guint i = 0; i < 3; i++) {
    JsonObject *e = json_array_get_object_element(rows, i);
    g_assert_cmpstr(gk_json_get_string(e, "actor", NULL), ==, "owner");
    g_assert_cmpstr(gk_json_get_string(e, "action", NULL), ==, "host.add");
  }
  /* A table for people; nothing after a future --since. */
  g_autofree char *table = NULL;
  g_assert_cmpint(run_ctl(f, &table, "audit", "list", NULL), ==, 0);
  g_assert_true(g_str_has_prefix(table, "SEQ"));
  g_assert_nonnull(strstr(table, "login.refused"));
  g_autofree char *future = NULL;
  g_assert_cmpint(run_ctl(f, &future, "audit", "list", "--since", "2099-01-01T00:00:00Z", "--json", NULL), ==, 0);
  g_assert_cmpstr(g_strstrip(future), ==, "[]");
  g_assert_cmpint(run_ctl(f, NULL, "audit", "list", "--since", "not a time", NULL), ==, 2);
  g_assert_cmpint(run_ctl(f, NULL, "audit", "export", NULL), ==, 2);

  g_autofree char *csv_path = g_build_filename(f->tmp, "audit.csv", NULL);
  g_assert_cmpint(run_ctl(f, NULL, "audit", "export", "--out", csv_path, "--bom", NULL), ==, 0);
  g_autofree char *csv = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(csv_path, &csv, &len, NULL));
  g_assert_true(g_str_has_prefix(csv, "\xEF\xBB\xBFseq,time_utc,actor_kind,actor,source_ip,action,target,result,"
                                      "reason,hash\r\n"));
  g_assert_true(g_utf8_validate(csv + 3, (gssize) len - 3, NULL));
  g_assert_nonnull(strstr(csv, ",account,owner,127.0.0.1,host.add,"));
  g_assert_nonnull(strstr(csv, ",refused,bad-credentials,"));
  struct stat st;
  g_assert_cmpint(stat(csv_path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  /* As many lines as entries the export saw (all of them, the export's own after). */
  g_auto(GStrv) lines = g_strsplit(csv, "\r\n", -1);
  g_autoptr(JsonNode) holder = NULL;
  JsonArray *list = entries(f, "?limit=1000", &holder);
  JsonObject *export = find(list, "export", "auditor");
  assert_entry(f, export, "auditor", "account", "audit", "ok", NULL);
  g_assert_cmpuint(g_strv_length(lines) - 2, ==, gk_json_get_int(export, "seq", 0) - 1);

  /* Filters reach the export too; no BOM unless asked. */
  g_autofree char *only = g_build_filename(f->tmp, "refused.csv", NULL);
  g_assert_cmpint(run_ctl(f, NULL, "audit", "export", "--out", only, "--action", "login.refused", NULL), ==, 0);
  g_autofree char *refused = NULL;
  g_assert_true(g_file_get_contents(only, &refused, NULL, NULL));
  g_assert_true(g_str_has_prefix(refused, "seq,"));
  g_auto(GStrv) refused_lines = g_strsplit(refused, "\r\n", -1);
  JsonArray *refusals = entries(f, "?action=login.refused&since=0", &holder);
  g_assert_cmpuint(json_array_get_length(refusals), >=, 1);
  /* header, the entries, "" */
  g_assert_cmpuint(g_strv_length(refused_lines), ==, json_array_get_length(refusals) + 2);
  for (guint i = 1; refused_lines[i + 1] != NULL; i++)
    g_assert_nonnull(strstr(refused_lines[i], ",login.refused,"));
}

/* ---- 4. tampering in the store ------------------------------------------------------------------ */

/* With the server stopped, runs @sql on its master store as someone holding
 * the store key would (the append-only triggers dropped first, as they can). */
static void
tamper(Fixture *f, const char *sql)
{
  gk_test_server_stop(f->server);
  g_autofree char *db = g_build_filename(f->server->data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(f->server->data_dir, SRV_DATA_KEK, NULL);
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  {
    g_autoptr(GkStore) gk = gk_store_open(db, kek, m, n, &error);
    g_assert_no_error(error);
    char *msg = NULL;
    int rc = sqlite3_exec(gk_store_db(gk),
                          "DROP TRIGGER IF EXISTS audit_log_append_only; DROP TRIGGER IF EXISTS audit_log_purge_only;"
                          "DROP TRIGGER IF EXISTS audit_log_next_seq;", NULL, NULL, &msg);
    g_assert_cmpint(rc, ==, SQLITE_OK);
    rc = sqlite3_exec(gk_store_db(gk), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
      g_error("tamper: %s", msg);
  }
  /* Sessions live in the store: the owner's and genkanctl's outlast the restart. */
  gk_test_server_start(f->server);
}

/* GET /v1/audit/verify and genkanctl audit verify agree: intact, or broken at
 * @bad_seq with @problem. */
static void
expect_verify(Fixture *f, gint64 bad_seq, const char *problem)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->token, "GET", "/v1/audit/verify", NULL, &reply), ==, 200);
  JsonObject *o = json_node_get_object(reply);
  g_assert_cmpint(gk_json_get_bool(o, "ok", !bad_seq), ==, bad_seq == 0);
  g_assert_cmpint(gk_json_get_int(o, "entries", 0), >, 0);
  g_assert_true(json_object_has_member(o, "first_bad_seq"));
  if (bad_seq == 0) {
    g_assert_true(json_object_get_null_member(o, "first_bad_seq"));
    g_assert_true(json_object_get_null_member(o, "problem"));
  } else {
    g_assert_cmpint(json_object_get_int_member(o, "first_bad_seq"), ==, bad_seq);
    g_assert_cmpstr(json_object_get_string_member(o, "problem"), ==, problem);
  }
  g_autofree char *out = NULL;
  int rc = run_ctl(f, &out, "audit", "verify", NULL);
  if (bad_seq == 0) {
    g_assert_cmpint(rc, ==, 0);
    g_assert_true(g_str_has_prefix(out, "audit log intact: "));
  } else {
    g_autofree char *want = g_strdup_printf("audit log BROKEN: entry %" G_GINT64_FORMAT " %s", bad_seq, problem);
    g_assert_cmpint(rc, ==, 1);
    g_assert_true(g_str_has_prefix(out, want));
  }
}

static gint64
seq_of(JsonArray *list, const char *action)
{
  JsonObject *e = find(list, action, NULL);
  g_assert_nonnull(e);
  return gk_json_get_int(e, "seq", 0);
}

static void
test_tamper(Fixture *f, gconstpointer data)
{
  g_assert_cmpint(call(f, f->token, "POST", "/v1/hosts", "{\"name\":\"Host A\"}", NULL), ==, 201);
  GkTestDevice *dev = gk_test_enroll_device(f->server, f->token, "Gate 1", "gate");
  g_autofree char *revoke = g_strdup_printf("/v1/devices/%s/revoke", dev->device_id);
  g_assert_cmpint(call(f, f->token, "POST", revoke, "{}", NULL), ==, 200);
  g_assert_cmpint(call(f, f->token, "GET", "/v1/devices", NULL, NULL), ==, 200);
  g_autoptr(JsonNode) holder = NULL;
  JsonArray *list = entries(f, "?limit=100", &holder);
  gint64 host_add = seq_of(list, "host.add");
  gint64 enroll = seq_of(list, "device.enroll");
  gint64 revoked = seq_of(list, "device.revoke");
  g_assert_cmpint(host_add, <, enroll);
  g_assert_cmpint(enroll, <, revoked);
  ctl_login(f);
  /* An untouched chain verifies (and a restart changes nothing). */
  expect_verify(f, 0, NULL);
  tamper(f, "CREATE TABLE IF NOT EXISTS saved AS SELECT * FROM audit_log WHERE 0");
  expect_verify(f, 0, NULL);

  /* (a) one field of one entry: who revoked the device. */
  g_autofree char *edit = g_strdup_printf("UPDATE audit_log SET actor = 'someone-else' WHERE seq = %" G_GINT64_FORMAT,
                                          revoked);
  tamper(f, edit);
  expect_verify(f, revoked, "changed");
  g_autofree char *undo = g_strdup_printf("UPDATE audit_log SET actor = 'owner' WHERE seq = %" G_GINT64_FORMAT,
                                          revoked);
  tamper(f, undo);
  expect_verify(f, 0, NULL);

  /* (b) an entry in the middle: the enrollment. */
  g_autofree char *del = g_strdup_printf("INSERT INTO saved SELECT * FROM audit_log WHERE seq = %" G_GINT64_FORMAT ";"
                                         "DELETE FROM audit_log WHERE seq = %" G_GINT64_FORMAT,
                                         enroll, enroll);
  tamper(f, del);
  expect_verify(f, enroll, "removed");
  tamper(f, "INSERT INTO audit_log SELECT * FROM saved; DELETE FROM saved");
  expect_verify(f, 0, NULL);

  /* (c) two entries swapped: host.add and the one after it. */
  g_autofree char *swap = g_strdup_printf("UPDATE audit_log SET seq = 1000000 WHERE seq = %" G_GINT64_FORMAT ";"
                                          "UPDATE audit_log SET seq = %" G_GINT64_FORMAT " WHERE seq = %" G_GINT64_FORMAT
                                          ";UPDATE audit_log SET seq = %" G_GINT64_FORMAT " WHERE seq = 1000000",
                                          host_add, host_add, host_add + 1, host_add + 1);
  tamper(f, swap);
  expect_verify(f, host_add, "reordered");
  tamper(f, swap);
  expect_verify(f, 0, NULL);

  /* The verifications themselves are on record, and broken ones said so. */
  list = entries(f, "?action=audit.verify&since=0&limit=1000", &holder);
  g_assert_cmpuint(json_array_get_length(list), >=, 8);
  g_autofree char *log = gk_test_server_log(f->server);
  g_assert_nonnull(strstr(log, "audit.chain_broken"));
  gk_test_device_free(dev);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/audit/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  T("actions-recorded", test_actions_recorded);
  T("roles", test_roles);
  T("sites", test_sites);
  T("genkanctl-list-export", test_ctl_list_export);
  T("tamper", test_tamper);
#undef T
  return g_test_run();
}
