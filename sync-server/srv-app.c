/* genkan-server as a program: `init` lays out a new data directory (store, keys,
 * CA, certificates, first site and owner), `run` serves it on two TLS ports. */
#include "srv-app.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-password.h"
#include "gk-secure-file.h"
#include "srv-app-private.h"
#include "srv-auth.h"
#include "srv-host-api.h"
#include "srv-host-csv.h"
#include "srv-backup.h"
#include "srv-notify-sender.h"
#include "srv-retention.h"
#include "srv-tls.h"

#define SIGNING_KEY_ID 1

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };
static const char *const smtp_securities[] = { "starttls", "tls", "none", NULL };

/* Every setting of genkan-server.conf. */
static const GkConfigOption server_options[] = {
  { "server", "bind", GK_CONFIG_STRING, 2, 64, "127.0.0.1", NULL, "address both ports listen on" },
  { "server", "device-port", GK_CONFIG_INT, 1, 65535, "8443", NULL, "mutual-TLS port for devices" },
  { "server", "admin-port", GK_CONFIG_INT, 1, 65535, "8444", NULL, "admin API and enrollment port" },
  { "server", "public-host", GK_CONFIG_STRING, 1, 253, "localhost", NULL,
    "host name devices use to reach the admin port (put into enrollment codes)" },
  { "server", "workers", GK_CONFIG_INT, 1, 64, "4", NULL, "threads that run requests" },
  { "server", "log-level", GK_CONFIG_ENUM, 0, 0, "info", log_levels, "least important log level written" },
  { "limits", "max-connections", GK_CONFIG_INT, 16, 1000000, "20000", NULL, "open connections, all ports" },
  { "limits", "max-connections-per-ip", GK_CONFIG_INT, 1, 1000000, "256", NULL,
    "open connections from one address (a NAT may hide many devices)" },
  { "limits", "request-timeout-ms", GK_CONFIG_INT, 100, 600000, "10000", NULL,
    "time from a request's first byte to its last" },
  { "limits", "idle-timeout-s", GK_CONFIG_INT, 1, 86400, "300", NULL, "keep-alive connection with no request" },
  { "sessions", "idle-minutes", GK_CONFIG_INT, 1, 1440, "30", NULL, "admin session idle timeout" },
  { "sessions", "max-hours", GK_CONFIG_INT, 1, 168, "12", NULL, "admin session absolute lifetime" },
  { "auth", "max-failures-per-account", GK_CONFIG_INT, 1, 100, "100", NULL,
    "failed sign-ins of one account within an hour after which it is refused without a password check" },
  { "auth", "max-failures-per-ip", GK_CONFIG_INT, 1, 1000000, "500", NULL,
    "failed sign-ins from one address within an hour after which it is refused" },
  { "auth", "delay-after-failures", GK_CONFIG_INT, 1, 100, "5", NULL,
    "failed sign-ins of an account (since its last success) before each next attempt must wait, twice as long each time" },
  { "auth", "ip-delay-after-failures", GK_CONFIG_INT, 1, 100000, "20", NULL,
    "likewise for the failed sign-ins from one address within the hour" },
  { "auth", "max-delay-s", GK_CONFIG_INT, 0, 3600, "60", NULL, "longest such wait (0: no waits, only the limits)" },
  { "auth", "admin-allow", GK_CONFIG_STRING, 0, 4096, "", NULL,
    "comma list of CIDR ranges that may sign in and use the admin API at all (empty: any address)" },
  { "auth", "totp-issuer", GK_CONFIG_STRING, 1, 64, "Genkan", NULL, "issuer name authenticator apps show" },
  { "enrollment", "code-ttl-hours", GK_CONFIG_INT, 1, 168, "24", NULL, "lifetime of an enrollment code" },
  { "exports", "max-rows", GK_CONFIG_INT, 1, 1000000, "100000", NULL,
    "rows one CSV export may hold; more is refused (413 export-too-large: narrow the dates)" },
  { "notify", "senders", GK_CONFIG_INT, 1, 16, "2", NULL, "threads that deliver notifications" },
  { "notify", "connect-timeout-ms", GK_CONFIG_INT, 100, 60000, "5000", NULL,
    "time to connect to a webhook or the SMTP relay" },
  { "notify", "timeout-ms", GK_CONFIG_INT, 1000, 300000, "15000", NULL, "time for one delivery attempt in all" },
  { "notify", "retry-base-s", GK_CONFIG_INT, 1, 3600, "10", NULL,
    "delay after the first failed attempt (doubles each time, with jitter)" },
  { "notify", "retry-max-s", GK_CONFIG_INT, 1, 86400, "1800", NULL, "longest delay between attempts" },
  { "notify", "give-up-hours", GK_CONFIG_INT, 1, 168, "24", NULL,
    "after this long a notification is marked failed (genkanctl notifications list --failed)" },
  { "notify", "offline-check-s", GK_CONFIG_INT, 1, 3600, "60", NULL,
    "how often devices are checked for the admins channel's offline alerts" },
  { "notify", "retention-days", GK_CONFIG_INT, 1, 3650, "30", NULL,
    "delivered and failed notifications (they hold visitors' names) are deleted after this" },
  { "notify", "timezone", GK_CONFIG_STRING, 0, 64, "", NULL,
    "time zone of times in messages, e.g. Asia/Tokyo (empty: the server's)" },
  { "notify", "ca-file", GK_CONFIG_STRING, 0, 4096, "", NULL,
    "extra CA certificates (PEM) trusted for webhooks and the SMTP relay (empty: the system's)" },
  { "smtp", "host", GK_CONFIG_STRING, 0, 253, "", NULL, "SMTP relay for e-mail notifications (empty: no e-mail)" },
  { "smtp", "port", GK_CONFIG_INT, 1, 65535, "587", NULL, "SMTP relay port" },
  { "smtp", "security", GK_CONFIG_ENUM, 0, 0, "starttls", smtp_securities,
    "starttls (required, not optional), tls (implicit, port 465) or none (only to a relay on this machine)" },
  { "smtp", "from", GK_CONFIG_STRING, 0, 254, "", NULL, "sender address of notification e-mails" },
  { "retention", "purge-interval-s", GK_CONFIG_INT, 1, 604800, "3600", NULL,
    "how often visitors' data and audit entries past each site's retention are purged (genkanctl site retention)" },
  { "retention", "first-run-s", GK_CONFIG_INT, 0, 86400, "60", NULL, "delay from the start to the first purge" },
  { "smtp", "credentials-file", GK_CONFIG_STRING, 0, 4096, "", NULL,
    "file (mode 0600) with the relay's user name and password on two lines (empty: no login)" },
  /* Scheduled backups (docs/backups.md); the dir belongs on another disk or host. */
  { "backup", "dir", GK_CONFIG_STRING, 0, 4096, "", NULL,
    "absolute directory for scheduled encrypted backups, on another disk or host, never inside the data dir (empty: none)" },
  { "backup", "key-file", GK_CONFIG_STRING, 0, 4096, "", NULL,
    "backup key made by genkan-server backup-key (mode 0600; keep a copy apart from the backups)" },
  { "backup", "interval-s", GK_CONFIG_INT, 1, 604800, "86400", NULL, "time between scheduled backups" },
  { "backup", "keep", GK_CONFIG_INT, 1, 31, "30", NULL, "newest backup files kept in dir (7 to 31 recommended)" },
};

static SrvLoop *volatile running_loop;

static char *
data_path(const char *dir, const char *name)
{
  return g_build_filename(dir, name, NULL);
}

char *
srv_data_kek_path(const char *data_dir, GError **error)
{
  const char *apart = g_getenv(SRV_KEK_FILE_ENV);
  if (apart == NULL || *apart == '\0')
    return data_path(data_dir, SRV_DATA_KEK);
  /* Relative to what? The server's working directory is not something an
   * admin reasons about when keeping a key apart. */
  if (!g_path_is_absolute(apart)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s must be an absolute path, not '%s'", SRV_KEK_FILE_ENV,
                apart);
    return NULL;
  }
  return g_strdup(apart);
}

/* ---- init -------------------------------------------------------------------------- */

static gboolean
dir_is_new(const char *dir, GError **error)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  if (d == NULL) {
    if (g_mkdir_with_parents(dir, 0700) != 0) {
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "cannot create %s: %s", dir,
                  g_strerror(errno));
      return FALSE;
    }
    return TRUE;
  }
  gboolean empty = g_dir_read_name(d) == NULL;
  g_dir_close(d);
  if (!empty) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                "%s already holds files: refusing to overwrite an existing data directory", dir);
    return FALSE;
  }
  if (g_chmod(dir, 0700) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "cannot restrict %s: %s", dir, g_strerror(errno));
    return FALSE;
  }
  return TRUE;
}

static gboolean
write_default_config(const char *path, const char *hostname, GError **error)
{
  g_autofree char *described = gk_config_describe(server_options, G_N_ELEMENTS(server_options));
  /* Every default as a comment, and the host name this server was made for. */
  GString *text = g_string_new("# genkan-server settings. Each line below shows a setting with its default;\n"
                               "# remove the '#' to change one. Unknown settings are an error.\n\n");
  g_auto(GStrv) lines = g_strsplit(described, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (lines[i][0] == '[')
      g_string_append_printf(text, "%s\n", lines[i]);
    else if (g_str_has_prefix(lines[i], "      "))
      g_string_append_printf(text, "#   %s\n", lines[i] + 6);
    else if (lines[i][0] == ' ' && g_str_has_prefix(lines[i], "  public-host"))
      g_string_append_printf(text, "public-host = %s\n", hostname);
    else if (lines[i][0] == ' ')
      g_string_append_printf(text, "#%s\n", lines[i] + 2);
    else
      g_string_append(text, "\n");
  }
  gboolean ok = g_file_set_contents_full(path, text->str, (gssize) text->len,
                                         G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600, error);
  g_string_free(text, TRUE);
  return ok;
}

gboolean
srv_app_init(const SrvInitOptions *options, GError **error)
{
  g_return_val_if_fail(options != NULL && options->data_dir != NULL, FALSE);
  const char *dir = options->data_dir;
  const char *site = options->site ? options->site : "Main site";
  const char *hostname = options->hostname ? options->hostname : "localhost";
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;

  if (sodium_init() < 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "libsodium could not start");
    return FALSE;
  }
  g_autofree char *kek = srv_data_kek_path(dir, error);
  if (kek == NULL)
    return FALSE;
  if (!dir_is_new(dir, error))
    return FALSE;

  g_autofree char *db = data_path(dir, SRV_DATA_DB);
  g_autofree char *conf = data_path(dir, SRV_DATA_CONFIG);
  g_autofree char *cert = data_path(dir, SRV_DATA_SERVER_CERT);
  g_autofree char *key = data_path(dir, SRV_DATA_SERVER_KEY);
  g_autofree char *signing_path = data_path(dir, SRV_DATA_SIGNING_KEY);
  g_autofree char *pw_path = data_path(dir, SRV_DATA_OWNER_PW);

  g_autoptr(SrvCa) ca = srv_ca_create(dir, "Genkan device CA", error);
  if (ca == NULL)
    return FALSE;
  const char *ips[] = { "127.0.0.1", NULL };
  if (!srv_ca_issue_server_cert(ca, hostname, ips, cert, key, error))
    return FALSE;

  g_autoptr(GkSigningKey) signing = gk_signing_key_generate(SIGNING_KEY_ID);
  if (!gk_signing_key_save(signing, signing_path, error))
    return FALSE;
  if (!write_default_config(conf, hostname, error))
    return FALSE;

  if (!srv_store_create(db, kek, error))
    return FALSE;
  g_autoptr(SrvStore) store = srv_store_open(db, kek, 1, error);
  if (store == NULL)
    return FALSE;
  guint8 pk[32];
  gk_signing_key_public(signing, pk);
  gint64 site_id, owner_id;
  if (!srv_store_site_add(store, site, now, &site_id, error) ||
      !srv_store_signing_key_add(store, SIGNING_KEY_ID, pk, now, error))
    return FALSE;

  /* No default password anywhere: a random one-time password, changed at first login. */
  g_autofree char *password = gk_password_generate(20);
  g_autofree char *hash = gk_password_hash(password, error);
  g_autofree char *pw_line = g_strconcat(password, "\n", NULL);
  sodium_memzero(password, strlen(password));
  gboolean ok = hash != NULL &&
                srv_store_account_add(store, SRV_OWNER_USERNAME, hash, "owner", TRUE, now, &owner_id, error) &&
                gk_secure_file_write(pw_path, pw_line, strlen(pw_line), TRUE, error);
  sodium_memzero(pw_line, strlen(pw_line));
  if (!ok)
    return FALSE;
  GK_LOG_INFO("server.initialised", GK_STR("dir", dir), GK_STR("hostname", hostname));
  return TRUE;
}

/* ---- revocation set -------------------------------------------------------------------- */

gboolean
srv_app_serial_revoked(SrvApp *app, const guint8 *serial, gsize len)
{
  g_autoptr(GBytes) key = g_bytes_new(serial, len);
  g_mutex_lock(&app->revoked_lock);
  gboolean revoked = g_hash_table_contains(app->revoked, key);
  g_mutex_unlock(&app->revoked_lock);
  return revoked;
}

void
srv_app_mark_revoked(SrvApp *app, GBytes *serial)
{
  g_mutex_lock(&app->revoked_lock);
  g_hash_table_add(app->revoked, g_bytes_ref(serial));
  g_mutex_unlock(&app->revoked_lock);
}

static gboolean
tls_revoked_cb(const guint8 serial[], size_t len, void *user)
{
  return srv_app_serial_revoked(user, serial, len);
}

/* ---- run ----------------------------------------------------------------------------------- */

static void
app_free(SrvApp *app)
{
  srv_store_close(app->store);
  srv_ca_free(app->ca);
  gk_signing_key_free(app->signing_key);
  gk_keyring_free(app->keyring);
  gk_config_free(app->config);
  if (app->revoked)
    g_hash_table_unref(app->revoked);
  g_mutex_clear(&app->revoked_lock);
  g_free(app->ca_pem);
  g_free(app->public_host);
  g_free(app->data_dir);
  g_free(app);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SrvApp, app_free)

static SrvApp *
app_load(const char *dir, GError **error)
{
  g_autoptr(SrvApp) app = g_new0(SrvApp, 1);
  g_mutex_init(&app->revoked_lock);
  app->revoked = g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
  app->data_dir = g_strdup(dir);
  app->config = gk_config_new(server_options, G_N_ELEMENTS(server_options));

  g_autofree char *kek = srv_data_kek_path(dir, error);
  if (kek == NULL)
    return NULL;
  g_autofree char *db = data_path(dir, SRV_DATA_DB);
  g_autofree char *conf = data_path(dir, SRV_DATA_CONFIG);
  g_autofree char *signing_path = data_path(dir, SRV_DATA_SIGNING_KEY);
  g_autofree char *ca_cert = data_path(dir, SRV_CA_CERT_FILE);

  if (!g_file_test(db, G_FILE_TEST_EXISTS)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "%s is not a Genkan data directory (no %s): run 'genkan-server init --data-dir %s' first", dir,
                SRV_DATA_DB, dir);
    return NULL;
  }
  if (g_file_test(conf, G_FILE_TEST_EXISTS) && !gk_config_load_file(app->config, conf, error))
    return NULL;
  GkLogLevel level;
  if (gk_log_level_parse(gk_config_get_string(app->config, "server.log-level"), &level))
    gk_log_set_level(level);
  if (!srv_auth_check_config(app->config, error))
    return NULL;

  if (!g_file_test(kek, G_FILE_TEST_EXISTS)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "no key-encryption key at %s: when it is kept apart from the data, set %s to its path", kek,
                SRV_KEK_FILE_ENV);
    return NULL;
  }
  guint workers = (guint) gk_config_get_int(app->config, "server.workers");
  app->store = srv_store_open(db, kek, workers + 1, error);
  if (app->store == NULL)
    return NULL;
  app->ca = srv_ca_open(dir, error);
  if (app->ca == NULL)
    return NULL;
  app->signing_key = gk_signing_key_load(signing_path, error);
  if (app->signing_key == NULL)
    return NULL;
  app->keyring = gk_keyring_new();
  guint8 pk[32];
  gk_signing_key_public(app->signing_key, pk);
  gk_keyring_add(app->keyring, gk_signing_key_id(app->signing_key), pk);
  if (!srv_ca_fingerprint_sha256(ca_cert, app->ca_fingerprint, error) ||
      !g_file_get_contents(ca_cert, &app->ca_pem, NULL, error))
    return NULL;
  g_autofree char *site_name = NULL;
  if (!srv_store_site_default(app->store, &app->site_id, &site_name, error))
    return NULL;
  app->public_host = g_strdup(gk_config_get_string(app->config, "server.public-host"));

  g_autoptr(GPtrArray) revoked = srv_store_revoked_serials(app->store, error);
  if (revoked == NULL)
    return NULL;
  for (guint i = 0; i < revoked->len; i++)
    srv_app_mark_revoked(app, revoked->pdata[i]);
  return g_steal_pointer(&app);
}

static gpointer
signal_thread(gpointer data)
{
  sigset_t *set = data;
  int sig = 0;
  while (sigwait(set, &sig) == 0) {
    if (sig == SIGTERM || sig == SIGINT) {
      GK_LOG_INFO("server.signal", GK_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
      srv_app_request_stop();
      return NULL;
    }
  }
  return NULL;
}

void
srv_app_request_stop(void)
{
  SrvLoop *loop = running_loop;
  if (loop != NULL)
    srv_loop_stop(loop);
}

gboolean
srv_app_run(const SrvRunOptions *options, GError **error)
{
  g_return_val_if_fail(options != NULL && options->data_dir != NULL, FALSE);
  if (sodium_init() < 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "libsodium could not start");
    return FALSE;
  }
  /* Signals go to one thread that asks the loop to stop; every other thread
   * (workers included) is created after this and inherits the mask. A peer that
   * vanishes must never kill the server with SIGPIPE. */
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  g_autoptr(SrvApp) app = app_load(options->data_dir, error);
  if (app == NULL)
    return FALSE;
  const char *dir = options->data_dir;
  const char *bind = options->bind ? options->bind : gk_config_get_string(app->config, "server.bind");
  int device_port = options->device_port >= 0 ? options->device_port
                                              : (int) gk_config_get_int(app->config, "server.device-port");
  int admin_port = options->admin_port >= 0 ? options->admin_port
                                            : (int) gk_config_get_int(app->config, "server.admin-port");

  g_autofree char *cert = data_path(dir, SRV_DATA_SERVER_CERT);
  g_autofree char *key = data_path(dir, SRV_DATA_SERVER_KEY);
  g_autofree char *ca_cert = data_path(dir, SRV_CA_CERT_FILE);
  SrvTlsContext *tls_device = srv_tls_context_new(SRV_TLS_DEVICE_PORT, cert, key, ca_cert, error);
  if (tls_device == NULL)
    return FALSE;
  SrvTlsContext *tls_admin = srv_tls_context_new(SRV_TLS_ADMIN_PORT, cert, key, NULL, error);
  if (tls_admin == NULL) {
    srv_tls_context_free(tls_device);
    return FALSE;
  }
  srv_tls_context_set_revocation_check(tls_device, tls_revoked_cb, app);

  SrvLoopLimits limits;
  srv_loop_limits_init_default(&limits);
  limits.workers = (guint) gk_config_get_int(app->config, "server.workers");
  limits.max_connections = (guint) gk_config_get_int(app->config, "limits.max-connections");
  limits.max_connections_per_ip = (guint) gk_config_get_int(app->config, "limits.max-connections-per-ip");
  limits.request_timeout_ms = (guint) gk_config_get_int(app->config, "limits.request-timeout-ms");
  limits.idle_timeout_ms = (guint) gk_config_get_int(app->config, "limits.idle-timeout-s") * 1000;
  /* The hosts CSV import takes up to 2 MiB; the admin port's cap function
   * keeps every other route at 1 MiB (srv_host_api_body_cap). */
  limits.http.max_body_bytes = SRV_HOST_CSV_MAX_BYTES;

  gboolean ok = FALSE;
  guint16 bound_device = 0, bound_admin = 0;
  SrvRetentionScheduler *retention = NULL;
  SrvBackupScheduler *backups = NULL;
  SrvLoop *loop = srv_loop_new(&limits, error);
  if (loop == NULL)
    goto out;
  app->loop = loop;
  if (!srv_loop_add_listener(loop, bind, (guint16) device_port, tls_device, srv_device_api_handle, app,
                             &bound_device, error) ||
      !srv_loop_add_listener(loop, bind, (guint16) admin_port, tls_admin, srv_admin_api_handle, app, &bound_admin,
                             error))
    goto out;
  srv_loop_set_body_cap(loop, tls_admin, srv_host_api_body_cap, NULL);
  app->device_port = bound_device;
  app->admin_port = bound_admin;
  /* Notifications queued before a stop or a crash go out as soon as we run. */
  app->notify = srv_notify_sender_start(app->store, app->config, error);
  if (app->notify == NULL)
    goto out;
  if (!srv_backup_scheduler_start(app, &backups, error))
    goto out;

  /* Data past retention goes soon after a start, then on the interval. */
  retention = srv_retention_scheduler_start(app, gk_config_get_int(app->config, "retention.first-run-s"),
                                            gk_config_get_int(app->config, "retention.purge-interval-s"));

  running_loop = loop;
  GThread *signals = g_thread_new("signals", signal_thread, &set);
  g_thread_unref(signals);
  GK_LOG_INFO("server.listening", GK_STR("bind", bind), GK_UINT("device_port", bound_device),
              GK_UINT("admin_port", bound_admin), GK_STR("version", GENKAN_VERSION));
  if (options->on_ready)
    options->on_ready(bound_device, bound_admin, options->user_data);
  srv_loop_run(loop);
  running_loop = NULL;
  ok = TRUE;
out:
  srv_retention_scheduler_stop(retention);
  srv_backup_scheduler_stop(backups);
  srv_notify_sender_stop(app->notify);
  app->notify = NULL;
  app->loop = NULL;
  srv_loop_free(loop);
  srv_tls_context_free(tls_admin);
  srv_tls_context_free(tls_device);
  return ok;
}
