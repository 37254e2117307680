/* Access rules of the admin API against a real server: every route of the
 * role table for every role (and without a session), an account never seeing
 * another site, enroll-only sessions of owners and admins without a second
 * factor, expired and revoked sessions, IP allow-lists, a reused TOTP code,
 * and the 101st failed sign-in within the hour. */
#include <sodium.h>
#include <string.h>

#include "gk-json.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "srv-app-private.h"
#include "srv-app.h"
#include "srv-auth-store.h"

#define OWNER_PW "Acc3ss-Owner-Passw0rd!"
#define STAFF_PW "Staff-Passw0rd-4-Tests!"
/* No rising delays here: the tests make failed attempts on purpose. */
#define CONFIG "[auth]\nmax-delay-s = 0\n"

enum { OWNER, ADMIN, RECEPTIONIST, SECURITY, AUDITOR, N_ROLES };
static const char *const role_names[N_ROLES] = { "owner", "admin", "receptionist", "security", "auditor" };
static const char role_letters[N_ROLES] = { 'o', 'a', 'r', 's', 'u' };

typedef struct {
  GkTestServer *server;
  char *token[N_ROLES];   /* site 1 */
  char *device;           /* a device of site 1 */
  char *victim_device;    /* revoked by the revoke route */
} Fixture;

/* @text with every @what replaced by @with (g_free). */
static char *
replace(const char *text, const char *what, const char *with)
{
  g_auto(GStrv) parts = g_strsplit(text, what, -1);
  return g_strjoinv(with, parts);
}

static long
call_site(Fixture *f, const char *token, const char *site, const char *method, const char *path, const char *body,
          JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = token, .site = site };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  if (reply != NULL)
    g_clear_pointer(reply, json_node_unref);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static long
call(Fixture *f, const char *token, const char *method, const char *path, const char *body, JsonNode **reply)
{
  return call_site(f, token, NULL, method, path, body, reply);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  gk_test_server_configure(f->server, data != NULL ? data : CONFIG);
  gk_test_server_start(f->server);
  f->token[OWNER] = gk_test_server_login_owner(f->server, OWNER_PW);
  for (guint r = ADMIN; r < N_ROLES; r++)
    f->token[r] = gk_test_server_add_account(f->server, f->token[OWNER], role_names[r], role_names[r], NULL, STAFF_PW,
                                             NULL, NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  gk_test_server_free(f->server);
  for (guint r = 0; r < N_ROLES; r++)
    g_free(f->token[r]);
  g_free(f->device);
  g_free(f->victim_device);
}

/* ---- every route x every role ------------------------------------------------------------- */

typedef struct {
  const char *route;    /* "METHOD pattern" as the server's route table has it */
  const char *path;     /* "*" filled in; DEV / VICTIM stand for the fixture's devices */
  const char *body;     /* a body that works for an allowed role; "%s" becomes the role */
  const char *allowed;  /* role letters: o a r s u */
  long ok;              /* what an allowed role gets */
  const char *permitted; /* when set: the allowed roles that also hold the permission the route needs
                          * (the export permission: only owners in this fixture); the other allowed
                          * roles get 403 export-not-permitted */
} RouteCase;

/* Written out by hand from the product's rules (REQUIREMENTS.md, issue 6), not
 * derived from the server's table: the test states what each role may do. */
static const RouteCase cases[] = {
  { "GET v1/hosts", "/v1/hosts", NULL, "oaru", 200 },
  { "POST v1/hosts", "/v1/hosts", "{\"name\":\"Host %s\"}", "oa", 201 },
  /* Host 1 is "Host A" (test_role_matrix adds it first). A JSON body to the
   * import is 415 once the role check has let it through. */
  { "PATCH v1/hosts/*", "/v1/hosts/1", "{\"department\":\"Dept %s\"}", "oa", 200 },
  { "DELETE v1/hosts/*", "/v1/hosts/999999", NULL, "oa", 404 },
  { "POST v1/hosts/import", "/v1/hosts/import?dry_run=1", "{\"name\":\"%s\"}", "oa", 415 },
  { "POST v1/tickets", "/v1/tickets", "{\"visitor\":\"Guest %s\",\"host\":\"Host A\"}", "oar", 201 },
  { "POST v1/devices/enroll-codes", "/v1/devices/enroll-codes", "{\"name\":\"Door %s\",\"mode\":\"gate\"}", "oa", 201 },
  { "GET v1/devices", "/v1/devices", NULL, "oasu", 200 },
  { "GET v1/checkins", "/v1/checkins", NULL, "oarsu", 200 },
  { "GET v1/alerts", "/v1/alerts", NULL, "oasu", 200 },
  { "GET v1/visits", "/v1/visits", NULL, "oaru", 200 },
  { "GET v1/visits/*/photo", "/v1/visits/vis-00000000000000000000000000000000/photo", NULL, "oar", 404 },
  { "GET v1/notify", "/v1/notify", NULL, "oau", 200 },
  { "GET v1/notifications", "/v1/notifications", NULL, "oau", 200 },
  { "GET v1/audit", "/v1/audit", NULL, "oau", 200 },
  { "GET v1/audit/verify", "/v1/audit/verify", NULL, "oau", 200 },
  { "GET v1/audit/export", "/v1/audit/export", NULL, "oau", 200 },
  { "GET v1/devices/*/config", "/v1/devices/DEV/config", NULL, "oasu", 200 },
  { "POST v1/devices/*/config", "/v1/devices/DEV/config", "{\"settings\":{\"language\":\"en\"}}", "oa", 200 },
  { "POST v1/devices/*/revoke", "/v1/devices/VICTIM/revoke", "{}", "oa", 200 },
  { "POST v1/notify/*", "/v1/notify/default", "{\"channel\":\"none\"}", "oa", 200 },
  { "POST v1/notifications/*/retry", "/v1/notifications/ntf-00000000000000000000000000000000/retry", "{}", "oa",
    404 },
  { "GET v1/accounts", "/v1/accounts", NULL, "oau", 200 },
  { "POST v1/accounts", "/v1/accounts", "{\"username\":\"new-%s\",\"role\":\"receptionist\"}", "oa", 201 },
  { "POST v1/accounts/*/role", "/v1/accounts/staff1/role", "{\"role\":\"receptionist\"}", "oa", 200 },
  { "POST v1/accounts/*/disable", "/v1/accounts/staff2/disable", "{}", "oa", 200 },
  { "POST v1/accounts/*/enable", "/v1/accounts/staff2/enable", "{}", "oa", 200 },
  { "POST v1/accounts/*/reset-password", "/v1/accounts/staff3/reset-password", "{}", "oa", 200 },
  { "POST v1/accounts/*/totp/reset", "/v1/accounts/staff3/totp/reset", "{}", "oa", 200 },
  { "GET v1/accounts/*/allow-list", "/v1/accounts/staff1/allow-list", NULL, "oau", 200 },
  { "POST v1/accounts/*/allow-list", "/v1/accounts/staff1/allow-list", "{\"cidrs\":[]}", "oa", 200 },
  { "GET v1/sites", "/v1/sites", NULL, "oarsu", 200 },
  { "POST v1/sites", "/v1/sites", "{\"name\":\"Site of %s\"}", "o", 201 },
  { "GET v1/sites/*/allow-list", "/v1/sites/1/allow-list", NULL, "oau", 200 },
  { "POST v1/sites/*/allow-list", "/v1/sites/1/allow-list", "{\"cidrs\":[]}", "oa", 200 },
  /* Retention: "Site of owner" is the site the POST v1/sites row made (id 2). */
  { "GET v1/sites/*/retention", "/v1/sites/1/retention", NULL, "oau", 200 },
  { "POST v1/sites/*/retention", "/v1/sites/1/retention", "{\"visitor_days\":90}", "oa", 200 },
  { "DELETE v1/sites/*", "/v1/sites/2", "{\"confirm\":\"Site of owner\"}", "o", 200 },
  { "POST v1/retention/purge", "/v1/retention/purge", "{}", "o", 200 },
  { "GET v1/exports/visits", "/v1/exports/visits", NULL, "oaru", 200, "o" },
  { "GET v1/exports/checkins", "/v1/exports/checkins", NULL, "oarsu", 200, "o" },
  { "GET v1/exports/hosts", "/v1/exports/hosts", NULL, "oaru", 200, "o" },
  { "POST v1/accounts/*/export-permission", "/v1/accounts/staff1/export-permission", "{\"allow\":true}", "oa", 200,
    "o" },
};

static const char *
method_name(SrvHttpMethod m)
{
  switch (m) {
  case SRV_HTTP_METHOD_GET:
    return "GET";
  case SRV_HTTP_METHOD_POST:
    return "POST";
  case SRV_HTTP_METHOD_PATCH:
    return "PATCH";
  case SRV_HTTP_METHOD_DELETE:
    return "DELETE";
  default:
    return "OTHER";
  }
}

static char *
case_path(Fixture *f, const RouteCase *c)
{
  g_autofree char *a = replace(c->path, "VICTIM", f->victim_device);
  return replace(a, "DEV", f->device);
}

static void
test_coverage(void)
{
  /* Every route the server has is in the table above, and nothing else: a new
   * route without an expectation fails here. */
  g_autoptr(GHashTable) listed = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    g_hash_table_add(listed, (gpointer) cases[i].route);
  guint n = srv_admin_api_route_count();
  for (guint i = 0; i < n; i++) {
    SrvHttpMethod m;
    const char *pattern;
    srv_admin_api_route(i, &m, &pattern);
    g_autofree char *name = g_strdup_printf("%s %s", method_name(m), pattern);
    if (!g_hash_table_remove(listed, name))
      g_error("route %s has no expectation in test-access.c: add one for every role", name);
  }
  if (g_hash_table_size(listed) != 0) {
    g_autoptr(GList) left = g_hash_table_get_keys(listed);
    g_error("test-access.c expects a route the server does not have: %s", (const char *) left->data);
  }
}

static void
test_role_matrix(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/hosts", "{\"name\":\"Host A\"}", &reply), ==, 201);
  for (guint i = 1; i <= 3; i++) {
    g_autofree char *name = g_strdup_printf("staff%u", i);
    g_free(gk_test_server_add_account(f->server, f->token[OWNER], name, "receptionist", NULL, STAFF_PW, NULL, NULL));
  }
  GkTestDevice *dev = gk_test_enroll_device(f->server, f->token[OWNER], "Gate", "gate");
  GkTestDevice *victim = gk_test_enroll_device(f->server, f->token[OWNER], "Victim", "gate");
  f->device = g_strdup(dev->device_id);
  f->victim_device = g_strdup(victim->device_id);
  gk_test_device_free(dev);
  gk_test_device_free(victim);

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    const RouteCase *c = &cases[i];
    /* The method is the route's first word: "GET", "POST", "PATCH", "DELETE". */
    g_autofree char *method = g_strndup(c->route, strcspn(c->route, " "));
    g_autofree char *path = case_path(f, c);
    for (guint r = 0; r < N_ROLES; r++) {
      g_autofree char *body = c->body != NULL ? replace(c->body, "%s", role_names[r]) : NULL;
      gboolean allowed = strchr(c->allowed, role_letters[r]) != NULL;
      long status = call(f, f->token[r], method, path, body, &reply);
      g_test_message("%s as %s: %ld", c->route, role_names[r], status);
      if (allowed && c->permitted != NULL && strchr(c->permitted, role_letters[r]) == NULL) {
        g_assert_cmpint(status, ==, 403);
        g_assert_cmpstr(gk_test_json_error_code(reply), ==, "export-not-permitted");
      } else if (allowed && status != c->ok)
        g_error("%s as %s: HTTP %ld, not %ld (%s)", c->route, role_names[r], status, c->ok,
                gk_test_json_error_code(reply));
      if (!allowed) {
        g_assert_cmpint(status, ==, 403);
        g_assert_cmpstr(gk_test_json_error_code(reply), ==, "forbidden");
      }
    }
    /* Nobody without a session, nor with a made-up one. */
    const char *empty = c->body != NULL ? "{}" : NULL;
    g_assert_cmpint(call(f, NULL, method, path, empty, NULL), ==, 401);
    g_assert_cmpint(call(f, "bm90LWEtdG9rZW4tYXQtYWxsLWp1c3QtdGV4dC0xMjM0NTY", method, path, empty, NULL), ==, 401);
  }
  /* The account's own routes are every role's. */
  for (guint r = 0; r < N_ROLES; r++) {
    g_assert_cmpint(call(f, f->token[r], "GET", "/v1/account", NULL, &reply), ==, 200);
    g_assert_cmpstr(gk_test_json_str(reply, "role"), ==, role_names[r]);
  }
}

/* ---- owners and admins without a second factor ----------------------------------------------- */

static void
test_enroll_only(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/accounts", "{\"username\":\"ada\",\"role\":\"admin\"}", &reply),
                  ==, 201);
  g_autofree char *once = g_strdup(gk_test_json_str(reply, "one_time_password"));
  /* Sign-in with the one-time password must change it first. */
  g_assert_cmpint(gk_test_server_login(f->server, "ada", once, NULL, NULL, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "password-change-required");
  g_autofree char *body = g_strdup_printf("{\"username\":\"ada\",\"password\":\"%s\",\"new_password\":\"%s\"}", once,
                                          STAFF_PW);
  g_assert_cmpint(call(f, NULL, "POST", "/v1/login", body, &reply), ==, 200);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(reply), "totp_enrollment_required"));
  g_autofree char *token = g_strdup(gk_test_json_str(reply, "token"));
  /* Until a second factor is set up, nothing but the account's own routes. */
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    if (!g_str_has_prefix(cases[i].route, "GET ") || strchr(cases[i].path, '*') != NULL)
      continue;
    g_assert_cmpint(call(f, token, "GET", cases[i].path, NULL, &reply), ==, 403);
    g_assert_cmpstr(gk_test_json_error_code(reply), ==, "totp-enrollment-required");
  }
  g_assert_cmpint(call(f, token, "POST", "/v1/hosts", "{\"name\":\"X\"}", &reply), ==, 403);
  g_assert_cmpint(call(f, token, "GET", "/v1/account", NULL, &reply), ==, 200);
  g_assert_false(json_object_get_boolean_member(json_node_get_object(reply), "second_factor"));
  /* A wrong first code does not finish the enrollment. */
  g_assert_cmpint(call(f, token, "POST", "/v1/account/totp/enroll", "{}", &reply), ==, 200);
  g_assert_cmpint(call(f, token, "POST", "/v1/account/totp/confirm", "{\"code\":\"000000x\"}", &reply), ==, 400);
  g_autofree char *full = gk_test_server_enroll_totp(f->server, token, NULL, NULL);
  g_assert_cmpint(call(f, full, "GET", "/v1/hosts", NULL, &reply), ==, 200);
  /* The session that showed no code was replaced. */
  g_assert_cmpint(call(f, token, "GET", "/v1/account", NULL, &reply), ==, 401);
  /* Enrolled: a second enrollment is refused, and sign-in needs a code. */
  g_assert_cmpint(call(f, full, "POST", "/v1/account/totp/enroll", "{}", &reply), ==, 409);
  g_assert_cmpint(gk_test_server_login(f->server, "ada", STAFF_PW, NULL, NULL, &reply), ==, 401);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "totp-required");
}

/* ---- sites ---------------------------------------------------------------------------------------------- */

static gboolean
list_has(JsonNode *reply, const char *member, const char *field, const char *value)
{
  JsonArray *a = json_object_get_array_member(json_node_get_object(reply), member);
  for (guint i = 0; i < json_array_get_length(a); i++)
    if (g_strcmp0(gk_json_get_string(json_array_get_object_element(a, i), field, NULL), value) == 0)
      return TRUE;
  return FALSE;
}

static void
test_cross_site(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/hosts", "{\"name\":\"Main Host\"}", &reply), ==, 201);
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/sites", "{\"name\":\"Annex\"}", &reply), ==, 201);
  g_assert_cmpint(gk_test_json_int(reply, "id"), ==, 2);
  /* Adding sites is the owner's alone. */
  g_assert_cmpint(call(f, f->token[ADMIN], "POST", "/v1/sites", "{\"name\":\"Mine\"}", &reply), ==, 403);
  g_autofree char *annex_admin = gk_test_server_add_account(f->server, f->token[OWNER], "annex-admin", "admin", "[2]",
                                                            STAFF_PW, NULL, NULL);
  g_autofree char *annex_staff = gk_test_server_add_account(f->server, annex_admin, "annex-staff", "receptionist",
                                                            NULL, STAFF_PW, NULL, NULL);
  g_assert_cmpint(call(f, annex_admin, "POST", "/v1/hosts", "{\"name\":\"Annex Host\"}", &reply), ==, 201);
  GkTestDevice *main_dev = gk_test_enroll_device(f->server, f->token[OWNER], "Main gate", "gate");

  /* Each sees its own site's rows only. */
  g_assert_cmpint(call(f, annex_staff, "GET", "/v1/hosts", NULL, &reply), ==, 200);
  g_assert_true(list_has(reply, "hosts", "name", "Annex Host"));
  g_assert_false(list_has(reply, "hosts", "name", "Main Host"));
  g_assert_cmpint(call(f, f->token[RECEPTIONIST], "GET", "/v1/hosts", NULL, &reply), ==, 200);
  g_assert_true(list_has(reply, "hosts", "name", "Main Host"));
  g_assert_false(list_has(reply, "hosts", "name", "Annex Host"));
  g_assert_cmpint(call(f, annex_admin, "GET", "/v1/devices", NULL, &reply), ==, 200);
  g_assert_false(list_has(reply, "devices", "id", main_dev->device_id));

  /* Naming the other site is refused, whatever the route. */
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    if (!g_str_has_prefix(cases[i].route, "GET ") || strchr(cases[i].path, '*') != NULL)
      continue;
    g_assert_cmpint(call_site(f, annex_admin, "1", "GET", cases[i].path, NULL, &reply), ==, 403);
    g_assert_cmpstr(gk_test_json_error_code(reply), ==, "site-forbidden");
    g_assert_cmpint(call_site(f, f->token[RECEPTIONIST], "2", "GET", cases[i].path, NULL, &reply), ==, 403);
  }
  g_assert_cmpint(call_site(f, annex_admin, "999", "GET", "/v1/hosts", NULL, &reply), ==, 403);
  g_assert_cmpint(call_site(f, f->token[OWNER], "999", "GET", "/v1/hosts", NULL, &reply), ==, 403);
  g_assert_cmpint(call_site(f, annex_admin, "2x", "GET", "/v1/hosts", NULL, &reply), ==, 400);

  /* Another site's rows do not exist for the caller, even by id. */
  g_autofree char *cfg = g_strdup_printf("/v1/devices/%s/config", main_dev->device_id);
  g_autofree char *revoke = g_strdup_printf("/v1/devices/%s/revoke", main_dev->device_id);
  g_assert_cmpint(call(f, annex_admin, "GET", cfg, NULL, &reply), ==, 404);
  g_assert_cmpint(call(f, annex_admin, "POST", cfg, "{\"settings\":{\"language\":\"en\"}}", &reply), ==, 404);
  g_assert_cmpint(call(f, annex_admin, "POST", revoke, "{}", &reply), ==, 404);
  g_assert_cmpint(call(f, f->token[OWNER], "GET", cfg, NULL, &reply), ==, 200);
  g_assert_cmpint(gk_test_json_int(reply, "config_version"), ==, 0);
  g_assert_cmpint(call(f, annex_staff, "POST", "/v1/tickets", "{\"visitor\":\"V\",\"host\":\"Main Host\"}", &reply),
                  ==, 404);
  g_assert_cmpint(call(f, annex_admin, "POST", "/v1/accounts/receptionist/disable", "{}", &reply), ==, 404);
  g_assert_cmpint(call(f, annex_admin, "GET", "/v1/accounts", NULL, &reply), ==, 200);
  g_assert_true(list_has(reply, "accounts", "username", "annex-staff"));
  g_assert_false(list_has(reply, "accounts", "username", "receptionist"));
  g_assert_cmpint(call(f, annex_admin, "GET", "/v1/sites/1/allow-list", NULL, &reply), ==, 404);
  g_assert_cmpint(call(f, annex_admin, "GET", "/v1/sites/1/retention", NULL, &reply), ==, 404);
  g_assert_cmpint(call(f, annex_admin, "POST", "/v1/sites/1/retention", "{\"visitor_days\":1}", &reply), ==, 404);
  g_assert_cmpint(call(f, annex_admin, "GET", "/v1/sites", NULL, &reply), ==, 200);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(json_node_get_object(reply), "sites")), ==, 1);
  /* An admin delegates only within its sites, and only staff roles. */
  g_assert_cmpint(call(f, annex_admin, "POST", "/v1/accounts", "{\"username\":\"x1\",\"role\":\"auditor\",\"sites\":[1]}",
                       &reply), ==, 403);
  g_assert_cmpint(call(f, annex_admin, "POST", "/v1/accounts", "{\"username\":\"x2\",\"role\":\"admin\"}", &reply), ==,
                  403);
  g_assert_cmpint(call(f, annex_admin, "POST", "/v1/accounts/annex-staff/role", "{\"role\":\"admin\"}", &reply), ==,
                  403);
  g_assert_cmpint(call(f, f->token[ADMIN], "POST", "/v1/accounts/owner/disable", "{}", &reply), ==, 403);

  /* The owner acts on either site, by header. */
  g_assert_cmpint(call_site(f, f->token[OWNER], "2", "GET", "/v1/hosts", NULL, &reply), ==, 200);
  g_assert_true(list_has(reply, "hosts", "name", "Annex Host"));
  g_assert_false(list_has(reply, "hosts", "name", "Main Host"));
  /* Moving annex-staff to site 1 moves what it sees. */
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/accounts/annex-staff/role",
                       "{\"role\":\"receptionist\",\"sites\":[1]}", &reply), ==, 200);
  g_assert_cmpint(call(f, annex_staff, "GET", "/v1/hosts", NULL, &reply), ==, 200);
  g_assert_true(list_has(reply, "hosts", "name", "Main Host"));
  g_assert_cmpint(call_site(f, annex_staff, "2", "GET", "/v1/hosts", NULL, &reply), ==, 403);
  gk_test_device_free(main_dev);
}

/* ---- sessions -------------------------------------------------------------------------------------------- */

static void
test_sessions(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_autofree char *a = gk_test_server_add_account(f->server, f->token[OWNER], "sam", "security", NULL, STAFF_PW, NULL,
                                                  NULL);
  g_autofree char *b = NULL, *c = NULL, *d = NULL;
  g_assert_cmpint(gk_test_server_login(f->server, "sam", STAFF_PW, NULL, &b, NULL), ==, 200);
  g_assert_cmpint(gk_test_server_login(f->server, "sam", STAFF_PW, NULL, &c, NULL), ==, 200);
  g_assert_cmpint(call(f, a, "GET", "/v1/checkins", NULL, NULL), ==, 200);

  /* Logout ends that session only. */
  g_assert_cmpint(call(f, a, "POST", "/v1/logout", "{}", NULL), ==, 200);
  g_assert_cmpint(call(f, a, "GET", "/v1/checkins", NULL, &reply), ==, 401);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "unauthenticated");
  g_assert_cmpint(call(f, b, "GET", "/v1/checkins", NULL, NULL), ==, 200);

  /* Disabling ends every session, and sign-in is refused. */
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/accounts/sam/disable", "{}", NULL), ==, 200);
  g_assert_cmpint(call(f, b, "GET", "/v1/checkins", NULL, NULL), ==, 401);
  g_assert_cmpint(gk_test_server_login(f->server, "sam", STAFF_PW, NULL, NULL, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "account-disabled");
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/accounts/sam/enable", "{}", NULL), ==, 200);

  /* A password reset by an admin ends every session; the one-time password
   * must be changed at the next sign-in. */
  g_assert_cmpint(gk_test_server_login(f->server, "sam", STAFF_PW, NULL, &d, NULL), ==, 200);
  g_assert_cmpint(call(f, f->token[ADMIN], "POST", "/v1/accounts/sam/reset-password", "{}", &reply), ==, 200);
  g_autofree char *once = g_strdup(gk_test_json_str(reply, "one_time_password"));
  g_assert_cmpint(call(f, d, "GET", "/v1/checkins", NULL, NULL), ==, 401);
  g_assert_cmpint(gk_test_server_login(f->server, "sam", STAFF_PW, NULL, NULL, NULL), ==, 401);
  g_assert_cmpint(gk_test_server_login(f->server, "sam", once, NULL, NULL, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "password-change-required");
  /* The code is one-time: once changed, it is no password any more. */
  g_autofree char *body = g_strdup_printf("{\"username\":\"sam\",\"password\":\"%s\",\"new_password\":\"Fresh-%s\"}",
                                          once, STAFF_PW);
  g_assert_cmpint(call(f, NULL, "POST", "/v1/login", body, &reply), ==, 200);
  g_autofree char *e = g_strdup(gk_test_json_str(reply, "token"));
  g_assert_cmpint(gk_test_server_login(f->server, "sam", once, NULL, NULL, NULL), ==, 401);

  /* Changing one's own password ends the other sessions too. */
  g_autofree char *f1 = NULL;
  g_autofree char *pw2 = g_strdup_printf("Fresh-%s", STAFF_PW);
  g_assert_cmpint(gk_test_server_login(f->server, "sam", pw2, NULL, &f1, NULL), ==, 200);
  g_autofree char *change = g_strdup_printf("{\"username\":\"sam\",\"password\":\"%s\",\"new_password\":\"Again-%s\"}",
                                            pw2, STAFF_PW);
  g_assert_cmpint(call(f, NULL, "POST", "/v1/login", change, &reply), ==, 200);
  g_assert_cmpint(call(f, e, "GET", "/v1/checkins", NULL, NULL), ==, 401);
  g_assert_cmpint(call(f, f1, "GET", "/v1/checkins", NULL, NULL), ==, 401);
  g_autofree char *g = g_strdup(gk_test_json_str(reply, "token"));
  g_assert_cmpint(call(f, g, "GET", "/v1/checkins", NULL, NULL), ==, 200);

  /* Expiry: the server is stopped, the clock moved past the idle timeout in
   * the store, and the session is gone when the server is back. */
  gk_test_server_stop(f->server);
  {
    g_autofree char *db = g_build_filename(f->server->data_dir, SRV_DATA_DB, NULL);
    g_autofree char *kek = g_build_filename(f->server->data_dir, SRV_DATA_KEK, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(SrvStore) store = srv_store_open(db, kek, 1, &error);
    g_assert_no_error(error);
    /* The store keeps the token's SHA-256 only. */
    guint8 hash[32];
    crypto_hash_sha256(hash, (const guint8 *) g, strlen(g));
    gint64 account = 0, now = g_get_real_time() / G_USEC_PER_SEC;
    gboolean factor = TRUE;
    g_assert_true(srv_auth_store_session_check(store, hash, now, 12 * 3600, 30 * 60, &account, &factor, &error));
    g_assert_false(factor);
    g_assert_false(srv_auth_store_session_check(store, hash, now + 30 * 60, 12 * 3600, 30 * 60, &account, &factor,
                                                &error));
    g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  }
  gk_test_server_start(f->server);
  g_assert_cmpint(call(f, g, "GET", "/v1/checkins", NULL, &reply), ==, 401);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "unauthenticated");
}

/* ---- IP allow-lists --------------------------------------------------------------------------------------- */

static gboolean
audited(Fixture *f, const char *action, const char *actor, const char *reason)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->token[OWNER], "GET", "/v1/audit?limit=1000", NULL, &reply), ==, 200);
  JsonArray *a = json_object_get_array_member(json_node_get_object(reply), "entries");
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *e = json_array_get_object_element(a, i);
    if (g_strcmp0(gk_json_get_string(e, "action", NULL), action) == 0 &&
        g_strcmp0(gk_json_get_string(e, "actor", NULL), actor) == 0 &&
        g_strcmp0(gk_json_get_string(e, "reason", NULL), reason) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
test_allow_lists(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  const char *rita = f->token[RECEPTIONIST];
  /* The tests run on 127.0.0.1: 10.0.0.0/8 leaves it out. A list that would
   * lock out the caller itself is refused. */
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/sites/1/allow-list", "{\"cidrs\":[\"10.0.0.0/8\"]}", &reply), ==,
                  409);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "would-lock-out");
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/accounts/receptionist/allow-list",
                       "{\"cidrs\":[\"10.0.0.1/8\"]}", &reply), ==, 400);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "bad-cidr");

  /* Per account: the receptionist only from 10.0.0.0/8. */
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/accounts/receptionist/allow-list",
                       "{\"cidrs\":[\"10.0.0.0/8\",\"2001:db8::/32\"]}", &reply), ==, 200);
  g_assert_cmpint(call(f, rita, "GET", "/v1/hosts", NULL, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "address-not-allowed");
  g_assert_cmpint(gk_test_server_login(f->server, "receptionist", STAFF_PW, NULL, NULL, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "address-not-allowed");
  g_assert_cmpint(call(f, f->token[AUDITOR], "GET", "/v1/hosts", NULL, NULL), ==, 200);
  g_assert_true(audited(f, "session.refused", "receptionist", "address-not-allowed"));
  g_assert_true(audited(f, "login.refused", "receptionist", "address-not-allowed"));
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/accounts/receptionist/allow-list",
                       "{\"cidrs\":[\"127.0.0.0/8\"]}", &reply), ==, 200);
  g_assert_cmpint(call(f, rita, "GET", "/v1/hosts", NULL, NULL), ==, 200);

  /* Per site: site 1 only from 10.0.0.0/8, set by the owner acting on site 2. */
  g_assert_cmpint(call(f, f->token[OWNER], "POST", "/v1/sites", "{\"name\":\"Annex\"}", NULL), ==, 201);
  g_assert_cmpint(call_site(f, f->token[OWNER], "2", "POST", "/v1/sites/1/allow-list", "{\"cidrs\":[\"10.0.0.0/8\"]}",
                            &reply), ==, 200);
  for (guint r = 0; r < N_ROLES; r++) {
    g_assert_cmpint(call(f, f->token[r], "GET", "/v1/sites", NULL, &reply), ==, 403);
    g_assert_cmpstr(gk_test_json_error_code(reply), ==, "address-not-allowed");
  }
  /* Site 2 has no list: the owner still reaches it. */
  g_assert_cmpint(call_site(f, f->token[OWNER], "2", "GET", "/v1/hosts", NULL, NULL), ==, 200);
  /* Sign-in of an account whose only site is closed to the address fails. */
  g_assert_cmpint(gk_test_server_login(f->server, "auditor", STAFF_PW, NULL, NULL, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "address-not-allowed");
  /* A list that takes in 127.0.0.0/8 lets everyone back. */
  g_assert_cmpint(call_site(f, f->token[OWNER], "2", "POST", "/v1/sites/1/allow-list",
                            "{\"cidrs\":[\"192.0.2.0/24\",\"127.0.0.0/8\"]}", &reply), ==, 200);
  for (guint r = 0; r < N_ROLES; r++)
    g_assert_cmpint(call(f, f->token[r], "GET", "/v1/sites", NULL, NULL), ==, 200);
  g_assert_cmpint(call(f, f->token[OWNER], "GET", "/v1/sites/1/allow-list", NULL, &reply), ==, 200);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(json_node_get_object(reply), "cidrs")), ==, 2);
  g_assert_true(audited(f, "session.refused", "security", "address-not-allowed"));
}

/* ---- TOTP replay ------------------------------------------------------------------------------------------- */

static void
test_totp_reuse(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_autofree char *path = gk_test_server_owner_totp_path(f->server);
  g_autofree char *code = gk_test_totp_next_from_file(path);
  g_assert_cmpint(gk_test_server_login(f->server, "owner", OWNER_PW, code, NULL, &reply), ==, 200);
  /* The same code again: refused, audited, counted as a failure. */
  g_assert_cmpint(gk_test_server_login(f->server, "owner", OWNER_PW, code, NULL, &reply), ==, 401);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "totp-reused");
  g_assert_true(audited(f, "login.refused", "owner", "totp-reused"));
  /* No code, a wrong code, a malformed code. */
  g_assert_cmpint(gk_test_server_login(f->server, "owner", OWNER_PW, NULL, NULL, &reply), ==, 401);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "totp-required");
  g_autofree char *wrong = g_strdup_printf("%06d", (int) ((g_ascii_strtoll(code, NULL, 10) + 1) % 1000000));
  g_assert_cmpint(gk_test_server_login(f->server, "owner", OWNER_PW, wrong, NULL, &reply), ==, 401);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "bad-totp");
  g_assert_cmpint(gk_test_server_login(f->server, "owner", OWNER_PW, "12 456", NULL, &reply), ==, 401);
  /* A right code with a wrong password tells nothing about the code. */
  g_autofree char *next = gk_test_totp_next_from_file(path);
  g_assert_cmpint(gk_test_server_login(f->server, "owner", "Wrong-Passw0rd!", next, NULL, &reply), ==, 401);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "bad-credentials");
  g_assert_cmpint(gk_test_server_login(f->server, "owner", OWNER_PW, next, NULL, &reply), ==, 200);
}

/* ---- lockout ------------------------------------------------------------------------------------------------ */

/* POST /v1/login as raw HTTP, to read the Retry-After header. */
static char *
raw_login(Fixture *f, const char *user, const char *password)
{
  g_autofree char *body = g_strdup_printf("{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
  g_autofree char *req = g_strdup_printf("POST /v1/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                         strlen(body), body);
  return gk_test_raw_tls(f->server->admin_port, f->server->ca_path, req, strlen(req), 0, 0, 2000);
}

static void
test_lockout_101(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  /* 100 failed sign-ins within the hour are each checked and refused... */
  for (guint i = 0; i < 100; i++) {
    g_autofree char *pw = g_strdup_printf("Wrong-Passw0rd-%u!", i);
    long status = gk_test_server_login(f->server, "receptionist", pw, NULL, NULL, &reply);
    if (status != 401 || g_strcmp0(gk_test_json_error_code(reply), "bad-credentials") != 0)
      g_error("failed sign-in %u: HTTP %ld (%s)", i + 1, status, gk_test_json_error_code(reply));
  }
  /* ...the 101st is refused without a password check: the right one too. */
  g_autofree char *raw = raw_login(f, "receptionist", STAFF_PW);
  g_assert_nonnull(raw);
  g_assert_true(g_str_has_prefix(raw, "HTTP/1.1 429"));
  g_assert_nonnull(strstr(raw, "\"locked-out\""));
  const char *retry = strstr(raw, "Retry-After: ");
  g_assert_nonnull(retry);
  gint64 seconds = g_ascii_strtoll(retry + strlen("Retry-After: "), NULL, 10);
  g_assert_cmpint(seconds, >, 3000);
  g_assert_cmpint(seconds, <=, 3600);
  g_assert_cmpint(gk_test_server_login(f->server, "receptionist", "Wrong-Passw0rd-x!", NULL, NULL, &reply), ==, 429);
  g_assert_true(audited(f, "login.refused", "receptionist", "locked-out"));
  /* The lock is the account's: another account from the same address signs in. */
  g_assert_cmpint(gk_test_server_login(f->server, "auditor", STAFF_PW, NULL, NULL, NULL), ==, 200);
  /* The session it had before goes on (the lock is about guessing). */
  g_assert_cmpint(call(f, f->token[RECEPTIONIST], "GET", "/v1/hosts", NULL, NULL), ==, 200);
  /* An admin's password reset unlocks it. */
  g_assert_cmpint(call(f, f->token[ADMIN], "POST", "/v1/accounts/receptionist/reset-password", "{}", &reply), ==, 200);
  g_autofree char *once = g_strdup(gk_test_json_str(reply, "one_time_password"));
  g_assert_cmpint(gk_test_server_login(f->server, "receptionist", once, NULL, NULL, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "password-change-required");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/access/coverage", test_coverage);
#define T(path, fn) g_test_add("/access/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  T("role-matrix", test_role_matrix);
  T("enroll-only", test_enroll_only);
  T("cross-site", test_cross_site);
  T("sessions", test_sessions);
  T("allow-lists", test_allow_lists);
  T("totp-reuse", test_totp_reuse);
  T("lockout-101", test_lockout_101);
#undef T
  return g_test_run();
}
