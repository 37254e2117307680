/* Accounts and sign-in: the store's rules (sites, last owner, sessions, failed
 * attempts, TOTP and recovery codes, allow-lists), the password policy with
 * the common-password list, rising delays and the per-address limit, recovery
 * codes and second-factor resets through the API, the server-wide allow-list,
 * and genkanctl's account, site and TOTP commands against a real server. */
#include <sodium.h>
#include <string.h>

#include "gk-json.h"
#include "gk-password.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "srv-app.h"
#include "srv-auth-store.h"
#include "srv-auth.h"
#include "srv-totp.h"

#define OWNER_PW "Acc0unts-Owner-Passw0rd!"
#define STAFF_PW "Staff-Passw0rd-4-Tests!"
#define CTL GK_BUILD_DIR "/sync-server/genkanctl"

/* ---- the store ------------------------------------------------------------------------------ */

typedef struct {
  char *dir;
  SrvStore *store;
  gint64 site1, site2;
} StoreFx;

static void
store_setup(StoreFx *f, gconstpointer data)
{
  f->dir = gk_test_make_tmpdir("genkan-accounts");
  g_autofree char *db = g_build_filename(f->dir, "master.db", NULL);
  g_autofree char *kek = g_build_filename(f->dir, "master.kek", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_store_create(db, kek, &error));
  f->store = srv_store_open(db, kek, 2, &error);
  g_assert_no_error(error);
  g_assert_true(srv_store_site_add(f->store, "Main", 1, &f->site1, &error));
  g_assert_true(srv_store_site_add(f->store, "Annex", 1, &f->site2, &error));
}

static void
store_teardown(StoreFx *f, gconstpointer data)
{
  srv_store_close(f->store);
  gk_test_rmtree(f->dir);
  g_free(f->dir);
}

static gint64
add(StoreFx *f, const char *name, const char *role, const gint64 *sites, guint n)
{
  g_autoptr(GError) error = NULL;
  gint64 id = 0;
  g_assert_true(srv_auth_store_account_create(f->store, name, "$argon2id$x", role, sites, n, 5, &id, &error));
  g_assert_no_error(error);
  return id;
}

static void
test_store_accounts(StoreFx *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 both[] = { f->site2, f->site1 };
  gint64 owner = add(f, "olga", "owner", both, 2);
  gint64 staff = add(f, "rita", "receptionist", both, 2);
  SrvAuthAccount a = { 0 };
  g_assert_true(srv_auth_store_account_by_id(f->store, staff, &a, &error));
  g_assert_cmpstr(a.username, ==, "rita");
  g_assert_true(a.must_change_password);
  g_assert_cmpuint(a.sites->len, ==, 2);
  g_assert_cmpint(g_array_index(a.sites, gint64, 0), ==, f->site1);
  srv_auth_store_account_clear(&a);
  /* Owners keep no site list: they act on every site. */
  g_assert_true(srv_auth_store_account_by_name(f->store, "olga", &a, &error));
  g_assert_cmpuint(a.sites->len, ==, 0);
  g_assert_true(srv_auth_account_has_site(&a, f->site2));
  srv_auth_store_account_clear(&a);

  /* Bad input changes nothing. */
  g_assert_false(srv_auth_store_account_create(f->store, "rita", "$argon2id$x", "auditor", both, 1, 5, NULL, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  gint64 nowhere[] = { 99 };
  g_assert_false(srv_auth_store_account_create(f->store, "nemo", "$argon2id$x", "auditor", nowhere, 1, 5, NULL, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(srv_auth_store_account_by_name(f->store, "nemo", &a, &error));
  g_clear_error(&error);
  g_assert_false(srv_auth_store_account_create(f->store, "nosite", "$argon2id$x", "auditor", NULL, 0, 5, NULL, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(srv_auth_store_account_create(f->store, "boss", "$argon2id$x", "king", both, 1, 5, NULL, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);

  /* Lists per site: its accounts and every owner. */
  gint64 annex[] = { f->site2 };
  add(f, "anna", "auditor", annex, 1);
  g_autoptr(GArray) main_list = srv_auth_store_account_list(f->store, f->site1, &error);
  g_assert_cmpuint(main_list->len, ==, 2);
  g_assert_cmpstr(g_array_index(main_list, SrvAuthAccount, 0).username, ==, "olga");
  g_assert_null(g_array_index(main_list, SrvAuthAccount, 0).password_hash);
  g_autoptr(GArray) all = srv_auth_store_account_list(f->store, 0, &error);
  g_assert_cmpuint(all->len, ==, 3);

  /* The last active owner can be neither demoted nor disabled. */
  g_assert_false(srv_auth_store_account_set_role(f->store, owner, "admin", annex, 1, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(srv_auth_store_account_set_disabled(f->store, owner, TRUE, 9, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_true(srv_auth_store_account_set_role(f->store, staff, "owner", NULL, 0, &error));
  g_assert_true(srv_auth_store_account_set_disabled(f->store, owner, TRUE, 9, &error));
  g_assert_true(srv_auth_store_account_by_id(f->store, owner, &a, &error));
  g_assert_cmpint(a.disabled_at, ==, 9);
  srv_auth_store_account_clear(&a);
  /* Back from owner, an account needs sites again. */
  g_assert_true(srv_auth_store_account_set_disabled(f->store, owner, FALSE, 10, &error));
  g_assert_false(srv_auth_store_account_set_role(f->store, staff, "auditor", NULL, 0, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_true(srv_auth_store_account_set_role(f->store, staff, "auditor", annex, 1, &error));
  g_assert_false(srv_auth_store_account_set_role(f->store, 9999, "auditor", annex, 1, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* The older API names no sites: such an account gets the first site. */
  g_assert_true(srv_store_account_add(f->store, "legacy", "$argon2id$x", "security", FALSE, 5, NULL, &error));
  g_assert_true(srv_auth_store_account_by_name(f->store, "legacy", &a, &error));
  g_assert_cmpuint(a.sites->len, ==, 1);
  g_assert_cmpint(g_array_index(a.sites, gint64, 0), ==, f->site1);
  srv_auth_store_account_clear(&a);

  g_autoptr(GArray) sites = srv_auth_store_site_list(f->store, &error);
  g_assert_cmpuint(sites->len, ==, 2);
  g_assert_cmpstr(g_array_index(sites, SrvAuthSite, 1).name, ==, "Annex");
}

static void
test_store_sessions(StoreFx *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 sites[] = { f->site1 };
  gint64 id = add(f, "rita", "receptionist", sites, 1);
  guint8 h1[32] = { 1 }, h2[32] = { 2 }, h3[32] = { 3 };
  g_assert_true(srv_auth_store_session_add(f->store, h1, id, "127.0.0.1", 1000, FALSE, &error));
  g_assert_true(srv_auth_store_session_add(f->store, h2, id, "127.0.0.1", 1000, TRUE, &error));
  gint64 who = 0;
  gboolean factor = TRUE;
  /* Idle: used at 1000 and 1500, then 1500 + idle is too late. */
  g_assert_true(srv_auth_store_session_check(f->store, h1, 1500, 3600, 600, &who, &factor, &error));
  g_assert_cmpint(who, ==, id);
  g_assert_false(factor);
  g_assert_true(srv_auth_store_session_check(f->store, h1, 2099, 3600, 600, &who, &factor, &error));
  g_assert_false(srv_auth_store_session_check(f->store, h1, 2699, 3600, 600, &who, &factor, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* Once expired, gone for good (also for an earlier clock). */
  g_assert_false(srv_auth_store_session_check(f->store, h1, 2100, 3600, 600, &who, &factor, &error));
  g_clear_error(&error);
  /* Absolute: however busy, not past max_age. */
  for (gint64 t = 1000; t < 4600; t += 500)
    g_assert_true(srv_auth_store_session_check(f->store, h2, t, 3600, 600, &who, &factor, &error));
  g_assert_true(factor);
  g_assert_false(srv_auth_store_session_check(f->store, h2, 4600, 3600, 600, &who, &factor, &error));
  g_clear_error(&error);
  g_assert_false(srv_auth_store_session_check(f->store, h3, 1000, 3600, 600, &who, &factor, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* Disabling and resets end sessions. */
  g_assert_true(srv_auth_store_session_add(f->store, h3, id, "::1", 5000, FALSE, &error));
  g_assert_true(srv_auth_store_account_reset_password(f->store, id, "$argon2id$y", &error));
  g_assert_false(srv_auth_store_session_check(f->store, h3, 5001, 3600, 600, &who, &factor, &error));
  g_clear_error(&error);
  g_assert_true(srv_auth_store_session_add(f->store, h3, id, "::1", 5000, FALSE, &error));
  g_assert_true(srv_auth_store_account_set_disabled(f->store, id, TRUE, 5002, &error));
  g_assert_false(srv_auth_store_session_check(f->store, h3, 5003, 3600, 600, &who, &factor, &error));
  g_clear_error(&error);
}

static void
test_store_failures(StoreFx *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 sites[] = { f->site1 };
  gint64 id = add(f, "rita", "receptionist", sites, 1);
  for (gint64 t = 100; t < 105; t++)
    g_assert_true(srv_auth_store_failure_add(f->store, id, "192.0.2.1", t, &error));
  g_assert_true(srv_auth_store_failure_add(f->store, 0, "192.0.2.1", 106, &error));
  g_assert_true(srv_auth_store_failure_add(f->store, 0, "192.0.2.9", 106, &error));
  SrvAuthFailures out;
  g_assert_true(srv_auth_store_failures(f->store, id, "192.0.2.1", 110, 3600, &out, &error));
  g_assert_cmpuint(out.account_window, ==, 5);
  g_assert_cmpuint(out.account_since_ok, ==, 5);
  g_assert_cmpint(out.account_last_at, ==, 104);
  g_assert_cmpint(out.account_oldest_at, ==, 100);
  g_assert_cmpuint(out.ip_window, ==, 6);
  /* A success resets the run (the delays), not the hour's count (the limit). */
  g_assert_true(srv_auth_store_login_succeeded(f->store, id, 105, &error));
  g_assert_true(srv_auth_store_failures(f->store, id, "192.0.2.1", 110, 3600, &out, &error));
  g_assert_cmpuint(out.account_window, ==, 5);
  g_assert_cmpuint(out.account_since_ok, ==, 0);
  /* Whole seconds: a failure in the very second of a success counts after it. */
  g_assert_true(srv_auth_store_login_succeeded(f->store, id, 104, &error));
  g_assert_true(srv_auth_store_failures(f->store, id, "192.0.2.1", 110, 3600, &out, &error));
  g_assert_cmpuint(out.account_since_ok, ==, 1);
  /* The window slides. */
  g_assert_true(srv_auth_store_failures(f->store, id, "192.0.2.1", 3702, 3600, &out, &error));
  g_assert_cmpuint(out.account_window, ==, 2);
  g_assert_cmpuint(out.ip_window, ==, 3);
  g_assert_cmpint(out.ip_oldest_at, ==, 103);
  /* Rows older than a day go at the next failure. */
  g_assert_true(srv_auth_store_failure_add(f->store, id, "192.0.2.1", 200000, &error));
  g_assert_true(srv_auth_store_failures(f->store, id, "192.0.2.1", 200000, 1000000, &out, &error));
  g_assert_cmpuint(out.account_window, ==, 1);
  /* An admin's reset forgets the account's failures. */
  g_assert_true(srv_auth_store_account_reset_password(f->store, id, "$argon2id$z", &error));
  g_assert_true(srv_auth_store_failures(f->store, id, "192.0.2.1", 200000, 1000000, &out, &error));
  g_assert_cmpuint(out.account_window, ==, 0);
}

static void
test_store_totp(StoreFx *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 id = add(f, "olga", "owner", NULL, 0);
  guint8 secret[SRV_AUTH_TOTP_SECRET_LEN] = "abcdefghijklmnopqrst";
  guint8 recovery[2][32] = { { 7 }, { 8 } };
  /* Nothing pending: no confirmation. */
  g_assert_false(srv_auth_store_totp_confirm(f->store, id, 10, (const guint8 (*)[32]) recovery, 2, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_true(srv_auth_store_totp_begin(f->store, id, secret, &error));
  SrvAuthAccount a = { 0 };
  g_assert_true(srv_auth_store_account_by_id(f->store, id, &a, &error));
  g_assert_true(a.totp_pending);
  g_assert_false(a.totp_enrolled);
  g_assert_cmpmem(a.totp_pending_secret, 20, secret, 20);
  srv_auth_store_account_clear(&a);
  g_assert_true(srv_auth_store_totp_confirm(f->store, id, 10, (const guint8 (*)[32]) recovery, 2, &error));
  g_assert_true(srv_auth_store_account_by_id(f->store, id, &a, &error));
  g_assert_true(a.totp_enrolled);
  g_assert_false(a.totp_pending);
  g_assert_cmpint(a.totp_last_step, ==, 10);
  g_assert_cmpuint(a.recovery_left, ==, 2);
  g_assert_cmpmem(a.totp_secret, 20, secret, 20);
  srv_auth_store_account_clear(&a);
  /* Enrolled: no second enrollment over it. */
  g_assert_false(srv_auth_store_totp_begin(f->store, id, secret, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  /* Steps are spent once, in order. */
  g_assert_false(srv_auth_store_totp_use_step(f->store, id, 10, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED);
  g_clear_error(&error);
  g_assert_true(srv_auth_store_totp_use_step(f->store, id, 12, &error));
  g_assert_false(srv_auth_store_totp_use_step(f->store, id, 11, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED);
  g_clear_error(&error);
  /* Recovery codes: each once; unknown ones are not found. */
  g_assert_true(srv_auth_store_recovery_use(f->store, id, recovery[0], 50, &error));
  g_assert_false(srv_auth_store_recovery_use(f->store, id, recovery[0], 51, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED);
  g_clear_error(&error);
  guint8 unknown[32] = { 9 };
  g_assert_false(srv_auth_store_recovery_use(f->store, id, unknown, 51, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* A reset takes the secret and the codes; a new enrollment may begin. */
  g_assert_true(srv_auth_store_totp_reset(f->store, id, &error));
  g_assert_true(srv_auth_store_account_by_id(f->store, id, &a, &error));
  g_assert_false(a.totp_enrolled);
  g_assert_cmpuint(a.recovery_left, ==, 0);
  srv_auth_store_account_clear(&a);
  g_assert_false(srv_auth_store_recovery_use(f->store, id, recovery[1], 52, &error));
  g_clear_error(&error);
  g_assert_true(srv_auth_store_totp_begin(f->store, id, secret, &error));
  g_assert_false(srv_auth_store_totp_begin(f->store, 9999, secret, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
}

static void
test_store_allow_lists(StoreFx *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 sites[] = { f->site1 };
  gint64 id = add(f, "rita", "receptionist", sites, 1);
  const char *const ranges[] = { "10.0.0.0/8", "2001:db8::/32", "10.0.0.0/8" };
  g_assert_true(srv_auth_store_allow_list_set(f->store, SRV_AUTH_ALLOW_ACCOUNT, id, ranges, 3, &error));
  g_autoptr(GPtrArray) list = srv_auth_store_allow_list(f->store, SRV_AUTH_ALLOW_ACCOUNT, id, &error);
  g_assert_cmpuint(list->len, ==, 2);
  g_autoptr(GPtrArray) other = srv_auth_store_allow_list(f->store, SRV_AUTH_ALLOW_SITE, f->site1, &error);
  g_assert_cmpuint(other->len, ==, 0);
  g_assert_true(srv_auth_ip_allowed(list, "10.1.1.1"));
  g_assert_false(srv_auth_ip_allowed(list, "127.0.0.1"));
  g_assert_true(srv_auth_ip_allowed(other, "127.0.0.1"));
  g_assert_false(srv_auth_store_allow_list_set(f->store, SRV_AUTH_ALLOW_SITE, 99, ranges, 1, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_true(srv_auth_store_allow_list_set(f->store, SRV_AUTH_ALLOW_ACCOUNT, id, NULL, 0, &error));
  g_autoptr(GPtrArray) cleared = srv_auth_store_allow_list(f->store, SRV_AUTH_ALLOW_ACCOUNT, id, &error);
  g_assert_cmpuint(cleared->len, ==, 0);
}

/* ---- passwords ------------------------------------------------------------------------------- */

static void
test_password_policy(void)
{
  /* The shipped list is compiled in and compared without regard to case;
   * these pass the 3-of-4 policy but are refused as common. */
  const char *common[] = { "Password1!", "P@ssw0rd", "p@SSW0RD1", "Welcome2024!", "Qwerty123!", "ADMIN@123",
                           "Letmein1!" };
  for (guint i = 0; i < G_N_ELEMENTS(common); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_true(gk_password_check_policy(common[i], NULL));
    g_assert_false(srv_auth_password_acceptable(common[i], "x", &error));
    g_assert_error(error, GK_PASSWORD_ERROR, GK_PASSWORD_ERROR_POLICY);
    g_assert_nonnull(strstr(error->message, "common"));
  }
  g_autoptr(GError) error = NULL;
  g_assert_false(srv_auth_password_acceptable("Rita.Sato-01", "rita.SATO-01", &error));
  g_assert_nonnull(strstr(error->message, "user name"));
  g_clear_error(&error);
  g_assert_false(srv_auth_password_acceptable("short1A", "x", &error));
  g_clear_error(&error);
  g_assert_false(srv_auth_password_acceptable("onlylowercaseletters", "x", &error));
  g_clear_error(&error);
  g_assert_true(srv_auth_password_acceptable("Tangerine-Harbour-42", "rita", &error));
  g_assert_no_error(error);
  /* The list file itself: a few thousand lines, lower case, no blanks. */
  g_autofree char *path = g_build_filename(GK_SOURCE_DIR, "assets", "common-passwords.txt", NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  guint words = 0;
  for (guint i = 0; lines[i] != NULL; i++) {
    if (lines[i][0] == '#' || lines[i][0] == '\0')
      continue;
    g_autofree char *lower = g_ascii_strdown(lines[i], -1);
    g_assert_cmpstr(lower, ==, lines[i]);
    words++;
  }
  g_assert_cmpuint(words, >=, 2000);
}

/* ---- through the API -------------------------------------------------------------------------- */

typedef struct {
  GkTestServer *server;
  char *owner;
  char *tmp;
} Fx;

static void
fx_setup(Fx *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  if (data != NULL)
    gk_test_server_configure(f->server, data);
  gk_test_server_start(f->server);
  f->owner = gk_test_server_login_owner(f->server, OWNER_PW);
  f->tmp = gk_test_make_tmpdir("genkan-accounts-it");
}

static void
fx_teardown(Fx *f, gconstpointer data)
{
  gk_test_server_free(f->server);
  gk_test_rmtree(f->tmp);
  g_free(f->tmp);
  g_free(f->owner);
}

static long
api(Fx *f, const char *token, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = token };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  if (reply != NULL)
    g_clear_pointer(reply, json_node_unref);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static long
login(Fx *f, const char *user, const char *password, JsonNode **reply)
{
  if (reply != NULL)
    g_clear_pointer(reply, json_node_unref);
  return gk_test_server_login(f->server, user, password, NULL, NULL, reply);
}

static void
test_weak_passwords_api(Fx *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(api(f, f->owner, "POST", "/v1/accounts", "{\"username\":\"rita\",\"role\":\"receptionist\"}", &reply),
                  ==, 201);
  g_autofree char *once = g_strdup(gk_test_json_str(reply, "one_time_password"));
  g_assert_true(gk_password_check_policy(once, NULL));
  const char *weak[] = { "Password1!", "rita", "RITA", "short", "alllowercaseletters" };
  for (guint i = 0; i < G_N_ELEMENTS(weak); i++) {
    g_autofree char *body = g_strdup_printf("{\"username\":\"rita\",\"password\":\"%s\",\"new_password\":\"%s\"}", once,
                                            weak[i]);
    g_assert_cmpint(api(f, NULL, "POST", "/v1/login", body, &reply), ==, 400);
    g_assert_cmpstr(gk_test_json_error_code(reply), ==, "weak-password");
  }
  /* Nothing changed: the one-time password still stands. */
  g_assert_cmpint(login(f, "rita", once, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "password-change-required");
  /* Bad account requests change nothing either. */
  g_assert_cmpint(api(f, f->owner, "POST", "/v1/accounts", "{\"username\":\"a b\",\"role\":\"auditor\"}", &reply), ==,
                  400);
  g_assert_cmpint(api(f, f->owner, "POST", "/v1/accounts", "{\"username\":\"ab\",\"role\":\"king\"}", &reply), ==, 400);
  g_assert_cmpint(api(f, f->owner, "POST", "/v1/accounts", "{\"username\":\"ab\",\"role\":\"auditor\",\"sites\":[7]}",
                      &reply), ==, 400);
  g_assert_cmpint(api(f, f->owner, "POST", "/v1/accounts", "{\"username\":\"ab\",\"role\":\"auditor\",\"sites\":[\"1\"]}",
                      &reply), ==, 400);
  g_assert_cmpint(api(f, f->owner, "POST", "/v1/accounts", "{\"username\":\"rita\",\"role\":\"auditor\"}", &reply), ==,
                  409);
  g_assert_cmpint(api(f, f->owner, "GET", "/v1/accounts", NULL, &reply), ==, 200);
  JsonArray *list = json_object_get_array_member(json_node_get_object(reply), "accounts");
  g_assert_cmpuint(json_array_get_length(list), ==, 2);
  /* The one-time password never reaches the log. */
  g_autofree char *log = gk_test_server_log(f->server);
  g_assert_null(strstr(log, once));
}

static void
test_recovery_codes(Fx *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(api(f, f->owner, "POST", "/v1/accounts", "{\"username\":\"ada\",\"role\":\"admin\"}", &reply), ==, 201);
  g_autofree char *once = g_strdup(gk_test_json_str(reply, "one_time_password"));
  g_autofree char *body = g_strdup_printf("{\"username\":\"ada\",\"password\":\"%s\",\"new_password\":\"%s\"}", once,
                                          STAFF_PW);
  g_assert_cmpint(api(f, NULL, "POST", "/v1/login", body, &reply), ==, 200);
  g_autofree char *token = g_strdup(gk_test_json_str(reply, "token"));
  g_assert_cmpint(api(f, token, "POST", "/v1/account/totp/enroll", "{}", &reply), ==, 200);
  g_autofree char *secret = g_strdup(gk_test_json_str(reply, "secret"));
  g_assert_true(g_str_has_prefix(gk_test_json_str(reply, "uri"), "otpauth://totp/Genkan:ada?secret="));
  gint64 step = 0;
  g_autofree char *code = gk_test_totp_next(secret, &step);
  g_autofree char *confirm = g_strdup_printf("{\"code\":\"%s\"}", code);
  g_assert_cmpint(api(f, token, "POST", "/v1/account/totp/confirm", confirm, &reply), ==, 200);
  JsonArray *codes = json_object_get_array_member(json_node_get_object(reply), "recovery_codes");
  g_assert_cmpuint(json_array_get_length(codes), ==, SRV_TOTP_RECOVERY_CODES);
  g_autofree char *first = g_ascii_strup(json_array_get_string_element(codes, 0), -1);
  /* The codes and the secret are kept hashed / in the encrypted store only. */
  g_autofree char *log = gk_test_server_log(f->server);
  g_assert_null(strstr(log, secret));
  g_assert_true(!gk_test_tree_contains(f->server->data_dir, json_array_get_string_element(codes, 1),
                                       strlen(json_array_get_string_element(codes, 1))));

  /* A recovery code stands in for the app's code, once (any case). */
  g_autofree char *with_rc = g_strdup_printf("{\"username\":\"ada\",\"password\":\"%s\",\"recovery_code\":\"%s\"}",
                                             STAFF_PW, first);
  g_assert_cmpint(api(f, NULL, "POST", "/v1/login", with_rc, &reply), ==, 200);
  g_assert_cmpint(gk_test_json_int(reply, "recovery_codes_left"), ==, 9);
  g_assert_cmpint(api(f, NULL, "POST", "/v1/login", with_rc, &reply), ==, 401);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "recovery-code-used");
  g_autofree char *bogus = g_strdup_printf("{\"username\":\"ada\",\"password\":\"%s\",\"recovery_code\":\"%s\"}",
                                           STAFF_PW, "zzzz-zzzz-zzzz-zzzz");
  g_assert_cmpint(api(f, NULL, "POST", "/v1/login", bogus, &reply), ==, 401);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "bad-recovery-code");

  /* Lost phone: an owner resets the second factor; ada enrolls again. */
  g_assert_cmpint(api(f, f->owner, "POST", "/v1/accounts/ada/totp/reset", "{}", &reply), ==, 200);
  g_assert_false(json_object_get_boolean_member(json_node_get_object(reply), "totp_enrolled"));
  g_assert_cmpint(login(f, "ada", STAFF_PW, &reply), ==, 200);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(reply), "totp_enrollment_required"));
  /* An admin may not reset an owner's or another admin's factor. */
  g_autofree char *ada = gk_test_server_enroll_totp(f->server, gk_test_json_str(reply, "token"), NULL, NULL);
  g_assert_cmpint(api(f, ada, "POST", "/v1/accounts/owner/totp/reset", "{}", &reply), ==, 403);
}

static void
test_rising_delays(Fx *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_free(gk_test_server_add_account(f->server, f->owner, "rita", "receptionist", NULL, STAFF_PW, NULL, NULL));
  /* Two free failures, then each next attempt waits 2 s, 4 s, ... from the
   * last failure: an attempt before that is refused unchecked. */
  g_assert_cmpint(login(f, "rita", "Wrong-Passw0rd-1!", &reply), ==, 401);
  g_assert_cmpint(login(f, "rita", "Wrong-Passw0rd-2!", &reply), ==, 401);
  g_assert_cmpint(login(f, "rita", STAFF_PW, &reply), ==, 429);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "slow-down");
  g_usleep(3100 * 1000);
  g_assert_cmpint(login(f, "rita", "Wrong-Passw0rd-3!", &reply), ==, 401);
  g_assert_cmpint(login(f, "rita", STAFF_PW, &reply), ==, 429);
  g_usleep(2000 * 1000);
  /* 2-3 s after the third failure: still waiting (4 s). */
  g_assert_cmpint(login(f, "rita", STAFF_PW, &reply), ==, 429);
  g_usleep(3100 * 1000);
  g_assert_cmpint(login(f, "rita", STAFF_PW, &reply), ==, 200);
  /* A success starts the run again. */
  g_assert_cmpint(login(f, "rita", "Wrong-Passw0rd-4!", &reply), ==, 401);
  g_assert_cmpint(login(f, "rita", STAFF_PW, &reply), ==, 200);
}

static void
test_ip_limit(Fx *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  /* Guessing names from one address: 5 failures within the hour, then the
   * address is refused, whatever account it names. */
  for (guint i = 0; i < 5; i++) {
    g_autofree char *user = g_strdup_printf("nobody%u", i);
    g_assert_cmpint(login(f, user, "Wrong-Passw0rd!", &reply), ==, 401);
  }
  g_autofree char *totp_path = gk_test_server_owner_totp_path(f->server);
  g_autofree char *code = gk_test_totp_next_from_file(totp_path);
  g_assert_cmpint(gk_test_server_login(f->server, "owner", OWNER_PW, code, NULL, &reply), ==, 429);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "too-many-attempts");
  /* Sessions already open are not affected. */
  g_assert_cmpint(api(f, f->owner, "GET", "/v1/hosts", NULL, NULL), ==, 200);
}

static void
test_global_allow_list(void)
{
  GkTestServer *s = gk_test_server_init();
  /* A typo in the list stops the start with a clear message. */
  gk_test_server_configure(s, "[auth]\nadmin-allow = 10.0.0.0/8, 10.0.0.1/8\n");
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  const char *argv[] = { GK_BUILD_DIR "/sync-server/genkan-server", "run", "--data-dir", s->data_dir, NULL };
  g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, NULL));
  g_assert_false(g_spawn_check_wait_status(status, NULL));
  g_assert_nonnull(strstr(err, "auth.admin-allow"));
  g_assert_nonnull(strstr(err, "10.0.0.1/8"));
  /* Outside the list, sign-in is refused (the password is not even tried). */
  gk_test_server_configure(s, "[auth]\nadmin-allow = 10.0.0.0/8, 2001:db8::/32\n");
  gk_test_server_start(s);
  g_autofree char *pw_file = g_build_filename(s->data_dir, "initial-owner-password", NULL);
  g_autofree char *pw = NULL;
  g_assert_true(g_file_get_contents(pw_file, &pw, NULL, NULL));
  g_strstrip(pw);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(gk_test_server_login(s, "owner", pw, NULL, NULL, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "address-not-allowed");
  gk_test_server_stop(s);
  gk_test_server_configure(s, "[auth]\nadmin-allow = 127.0.0.0/8\n");
  gk_test_server_start(s);
  g_autofree char *token = gk_test_server_login_owner(s, OWNER_PW);
  g_assert_nonnull(token);
  gk_test_server_free(s);
}

/* ---- genkanctl ---------------------------------------------------------------------------------- */

/* Runs genkanctl with the fixture's session directory; asserts @want_status;
 * returns stdout (g_free), stderr in *out_err when not NULL (replacing, and
 * freeing, what an earlier call left there). */
static char *
ctl_env(Fx *f, int want_status, const char *const *env, const char *const *args, char **out_err)
{
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                                                G_SUBPROCESS_FLAGS_STDIN_PIPE);
  g_autofree char *xdg = g_build_filename(f->tmp, "xdg", NULL);
  g_subprocess_launcher_setenv(l, "XDG_CONFIG_HOME", xdg, TRUE);
  g_subprocess_launcher_unsetenv(l, "GENKAN_SERVER");
  g_subprocess_launcher_unsetenv(l, "GENKAN_CA");
  g_subprocess_launcher_unsetenv(l, "GENKAN_SITE");
  g_subprocess_launcher_unsetenv(l, "GENKAN_TOTP_CODE");
  for (guint i = 0; env != NULL && env[i] != NULL; i += 2)
    g_subprocess_launcher_setenv(l, env[i], env[i + 1], TRUE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer) CTL);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add(argv, (gpointer) args[i]);
  g_ptr_array_add(argv, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, (const char *const *) argv->pdata, &error);
  g_assert_no_error(error);
  g_autofree char *out = NULL, *err = NULL;
  g_assert_true(g_subprocess_communicate_utf8(p, "", NULL, &out, &err, &error));
  if (g_subprocess_get_exit_status(p) != want_status)
    g_error("genkanctl %s %s: status %d, not %d\n%s%s", args[0], args[1] != NULL ? args[1] : "",
            g_subprocess_get_exit_status(p), want_status, out, err);
  if (out_err != NULL) {
    g_free(*out_err);
    *out_err = g_steal_pointer(&err);
  }
  return g_steal_pointer(&out);
}

#define CTL_RUN(f, status, ...) ctl_env(f, status, NULL, (const char *const[]){ __VA_ARGS__, NULL }, NULL)

/* "key  value" line of genkanctl's output. */
static char *
field(const char *out, const char *key)
{
  g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix(lines[i], key) && lines[i][strlen(key)] == ' ')
      return g_strdup(g_strstrip(lines[i] + strlen(key)));
  g_error("no '%s' line in:\n%s", key, out);
}

static void
test_genkanctl(Fx *f, gconstpointer data)
{
  /* The owner signs in: the password, then the app's code when asked. */
  g_autofree char *totp_path = gk_test_server_owner_totp_path(f->server);
  g_autofree char *code = gk_test_totp_next_from_file(totp_path);
  const char *const env[] = { "GENKAN_PASSWORD", OWNER_PW, "GENKAN_TOTP_CODE", code, NULL };
  g_free(ctl_env(f, 0, env, (const char *const[]){ "--server", f->server->admin_url, "--ca", f->server->ca_path,
                                                   "login", "--user", "owner", NULL }, NULL));
  /* The same code again is refused (and nothing without one at all). */
  g_autofree char *err = NULL;
  g_free(ctl_env(f, 1, env, (const char *const[]){ "--server", f->server->admin_url, "--ca", f->server->ca_path,
                                                   "login", "--user", "owner", NULL }, &err));
  g_assert_nonnull(strstr(err, "totp-reused"));
  g_autofree char *who = CTL_RUN(f, 0, "account", "whoami");
  g_assert_nonnull(strstr(who, "second factor  yes"));

  /* Sites and accounts. */
  g_autofree char *site = CTL_RUN(f, 0, "site", "add", "--name", "Annex");
  g_assert_cmpstr(g_strstrip(site), ==, "2");
  g_autofree char *sites = CTL_RUN(f, 0, "site", "list");
  g_assert_nonnull(strstr(sites, "Annex"));
  g_autofree char *added = CTL_RUN(f, 0, "account", "add", "rita", "--role", "receptionist", "--site", "2");
  g_autofree char *once = field(added, "one-time password");
  g_assert_true(gk_password_check_policy(once, NULL));
  g_autofree char *json = CTL_RUN(f, 0, "--site", "2", "account", "list", "--json");
  g_assert_nonnull(strstr(json, "\"rita\""));
  g_autofree char *main_list = CTL_RUN(f, 0, "account", "list");
  g_assert_null(strstr(main_list, "rita"));
  g_autofree char *role = CTL_RUN(f, 0, "account", "set-role", "rita", "--role", "auditor", "--site", "1", "--site",
                                  "2");
  g_assert_nonnull(strstr(role, "sites          1,2"));
  g_autofree char *off = CTL_RUN(f, 0, "account", "disable", "rita");
  g_assert_nonnull(strstr(off, "disabled       yes"));
  g_free(CTL_RUN(f, 0, "account", "enable", "rita"));
  g_autofree char *reset = CTL_RUN(f, 0, "account", "reset-password", "rita");
  g_autofree char *again = field(reset, "one-time password");
  g_assert_cmpstr(again, !=, once);
  g_free(CTL_RUN(f, 1, "account", "disable", "owner"));
  g_free(CTL_RUN(f, 2, "account", "add", "bad name", "--role", "auditor"));
  g_free(CTL_RUN(f, 2, "account", "add", "x"));
  g_free(CTL_RUN(f, 2, "--site", "one", "account", "list"));

  /* Allow-lists: set, show, clear; a typo is the server's clear 400. */
  g_autofree char *set = CTL_RUN(f, 0, "account", "allow-list", "set", "rita", "10.0.0.0/8", "2001:DB8::/32");
  g_assert_nonnull(strstr(set, "2001:db8::/32"));
  g_autofree char *shown = CTL_RUN(f, 0, "account", "allow-list", "show", "rita");
  g_assert_nonnull(strstr(shown, "10.0.0.0/8"));
  g_free(CTL_RUN(f, 0, "account", "allow-list", "clear", "rita"));
  g_autofree char *none = CTL_RUN(f, 0, "account", "allow-list", "show", "rita");
  g_assert_nonnull(strstr(none, "no allow-list"));
  g_free(ctl_env(f, 1, NULL, (const char *const[]){ "site", "allow-list", "set", "1", "10.0.0.1/8", NULL }, &err));
  g_free(ctl_env(f, 1, NULL, (const char *const[]){ "site", "allow-list", "set", "1", "10.0.0.0/8", NULL }, &err));
  g_assert_nonnull(strstr(err, "would-lock-out"));
  g_free(CTL_RUN(f, 0, "--site", "2", "site", "allow-list", "set", "1", "127.0.0.0/8"));

  /* A new admin: first sign-in changes the password, then the second factor. */
  g_autofree char *ada = CTL_RUN(f, 0, "account", "add", "ada", "--role", "admin");
  g_autofree char *ada_pw = field(ada, "one-time password");
  const char *const ada_env[] = { "GENKAN_PASSWORD", ada_pw, "GENKAN_NEW_PASSWORD", STAFF_PW, NULL };
  g_autofree char *first = NULL;
  g_free(ctl_env(f, 0, ada_env, (const char *const[]){ "login", "--user", "ada", "--new-password", NULL }, &first));
  g_assert_nonnull(strstr(first, "account totp enroll"));
  g_free(ctl_env(f, 1, NULL, (const char *const[]){ "host", "list", NULL }, &err));
  g_assert_nonnull(strstr(err, "totp-enrollment-required"));
  /* No terminal: enroll shows the secret and says how to confirm. */
  g_autofree char *enrolled = CTL_RUN(f, 0, "account", "totp", "enroll", "--no-confirm");
  g_assert_nonnull(strstr(enrolled, "otpauth://totp/Genkan:ada?secret="));
  g_autofree char *secret = field(enrolled, "secret");
  g_free(CTL_RUN(f, 2, "account", "totp", "confirm", "12345"));
  gint64 step = 0;
  g_autofree char *first_code = gk_test_totp_next(secret, &step);
  g_autofree char *confirmed = CTL_RUN(f, 0, "account", "totp", "confirm", first_code);
  g_assert_nonnull(strstr(confirmed, "Recovery codes"));
  g_free(CTL_RUN(f, 0, "host", "list"));
  g_autofree char *next = gk_test_totp_next(secret, &step);
  const char *const ada_again[] = { "GENKAN_PASSWORD", STAFF_PW, NULL };
  g_free(ctl_env(f, 0, ada_again, (const char *const[]){ "login", "--user", "ada", "--code", next, NULL }, NULL));
  g_free(ctl_env(f, 2, ada_again, (const char *const[]){ "login", "--user", "ada", "--code", "12a456", NULL }, NULL));
  g_free(CTL_RUN(f, 0, "account", "whoami", "--json"));
  /* An admin may not add sites. */
  g_free(ctl_env(f, 1, NULL, (const char *const[]){ "site", "add", "--name", "Mine", NULL }, &err));
  g_assert_nonnull(strstr(err, "forbidden"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (sodium_init() < 0)
    return 1;
#define S(path, fn) g_test_add("/accounts/store/" path, StoreFx, NULL, store_setup, fn, store_teardown)
  S("accounts", test_store_accounts);
  S("sessions", test_store_sessions);
  S("failures", test_store_failures);
  S("totp", test_store_totp);
  S("allow-lists", test_store_allow_lists);
#undef S
  g_test_add_func("/accounts/password-policy", test_password_policy);
  g_test_add_func("/accounts/global-allow-list", test_global_allow_list);
#define T(path, config, fn) g_test_add("/accounts/" path, Fx, config, fx_setup, fn, fx_teardown)
  T("weak-passwords", NULL, test_weak_passwords_api);
  T("recovery-codes", NULL, test_recovery_codes);
  T("rising-delays", "[auth]\ndelay-after-failures = 2\nmax-delay-s = 60\n", test_rising_delays);
  T("ip-limit", "[auth]\nmax-failures-per-ip = 5\n", test_ip_limit);
  T("genkanctl", NULL, test_genkanctl);
#undef T
  return g_test_run();
}
