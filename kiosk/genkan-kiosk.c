/* genkan-kiosk: parses options and hands over to the touchscreen app (no
 * command) or to kiosk-core (enroll, sync, scan-image, --headless). */
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gk-log.h"
#include "kiosk-enroll.h"
#include "kiosk-headless.h"
#include "kiosk-net.h"
#include "kiosk-scanner.h"
#include "kiosk-store.h"
#include "kiosk-sync.h"
#include "kiosk-verdict.h"
#ifdef GENKAN_HAVE_UI
#include "kiosk-ui.h"
#endif

#define PROG "genkan-kiosk"

static const char summary_text[] =
  "Without a command: the touchscreen app (reception or gate mode, as set for\n"
  "this device; the enrollment screen on first start).\n"
  "\n"
  "Commands:\n"
  "  enroll CODE        enroll this device with a one-time code from\n"
  "                     `genkanctl device enroll-code`, then run a first full sync\n"
  "  sync               one sync round: push queued events, pull changes\n"
  "  scan-image FILE    decode the QR code in a PNG/JPEG and print one verdict line\n"
  "  --headless         gate reader: one scan per stdin line, one JSON verdict per\n"
  "                     stdout line; syncs in the background\n"
  "\n"
  "Verdict lines: {\"verdict\":\"accepted\"|\"rejected\",\"reason\":…,\"ticket_id\":…,\"offline\":…}\n"
  "(already-used adds \"used_at\" and \"used_by\"). See docs/kiosk.md.\n"
  "\n"
  "Exit status: 0 ok (any verdict), 1 failure, 2 usage error, 3 device revoked (data wiped).";

static void
print_progress(guint changes, gint64 cursor, gpointer user_data)
{
  printf("sync: %u changes received, cursor %" G_GINT64_FORMAT "\n", changes, cursor);
  fflush(stdout);
}

static int
report_revoked(const char *data_dir)
{
  g_autoptr(GError) error = NULL;
  if (!kiosk_store_wipe(data_dir, &error)) {
    g_printerr(PROG ": device revoked, but wiping local data failed: %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  g_printerr(PROG ": device revoked: local data wiped\n");
  return KIOSK_EXIT_REVOKED;
}

static int
cmd_enroll(const char *data_dir, const char *code)
{
  g_autoptr(GError) error = NULL;
  KioskStore *store = NULL;
  if (!kiosk_enroll(data_dir, code, &store, &error)) {
    g_printerr(PROG ": enrollment failed: %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  KioskIdentity id = { 0 };
  int rc = KIOSK_EXIT_OK;
  if (!kiosk_store_load_identity(store, &id, &error)) {
    g_printerr(PROG ": %s\n", error->message);
    kiosk_store_close(store);
    return KIOSK_EXIT_FAILURE;
  }
  printf("enrolled: device %s (%s, %s mode), site %" G_GINT64_FORMAT "\n", id.device_id, id.name, id.mode, id.site_id);
  fflush(stdout);
  g_autoptr(KioskClient) client =
    kiosk_client_new(id.host, id.admin_port, id.device_port, id.ca_pem, id.cert_pem, id.key_pem);
  KioskSyncSummary s;
  if (!kiosk_sync_run(store, client, &id, print_progress, NULL, &s, &error)) {
    /* Enrolled all the same: the sync resumes from its cursor next time. */
    g_printerr(PROG ": the first sync did not finish: %s\n"
                    "hint: run `" PROG " --data-dir %s sync`; it resumes where it stopped\n",
               error->message, data_dir);
  } else {
    printf("sync: done, %u changes, cursor %" G_GINT64_FORMAT "\n", s.pulled, s.cursor);
  }
  kiosk_identity_clear(&id);
  kiosk_store_close(store);
  return rc;
}

static int
cmd_sync(const char *data_dir)
{
  g_autoptr(GError) error = NULL;
  KioskStore *store = kiosk_store_open(data_dir, &error);
  KioskIdentity id = { 0 };
  if (store == NULL || !kiosk_store_load_identity(store, &id, &error)) {
    g_printerr(PROG ": %s\n", error->message);
    if (store)
      kiosk_store_close(store);
    return KIOSK_EXIT_FAILURE;
  }
  KioskClient *client = kiosk_client_new(id.host, id.admin_port, id.device_port, id.ca_pem, id.cert_pem, id.key_pem);
  KioskSyncSummary s;
  gboolean ok = kiosk_sync_run(store, client, &id, NULL, NULL, &s, &error);
  kiosk_client_free(client);
  kiosk_identity_clear(&id);
  kiosk_store_close(store);
  if (!ok && g_error_matches(error, KIOSK_SYNC_ERROR, KIOSK_SYNC_ERROR_REVOKED))
    return report_revoked(data_dir);
  if (!ok) {
    g_printerr(PROG ": sync failed: %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  printf("events sent %u (stored %u, duplicate %u, conflict %u), queue %" G_GINT64_FORMAT "\n", s.sent, s.stored,
         s.duplicate, s.conflict, s.queue_left);
  printf("changes pulled %u, cursor %" G_GINT64_FORMAT "\n", s.pulled, s.cursor);
  printf("clock offset %" G_GINT64_FORMAT " ms\n", s.clock_offset_ms);
  return KIOSK_EXIT_OK;
}

static int
cmd_scan_image(const char *data_dir, const char *file, gboolean checkout, long redeem_timeout_ms)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  /* Open the store first: an unenrolled device should say so, not decode. */
  g_autoptr(KioskStore) store = kiosk_store_open(data_dir, &error);
  if (store == NULL) {
    g_printerr(PROG ": %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  if (!kiosk_scan_image_file(file, &text, &error)) {
    if (g_error_matches(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_NO_CODE))
      g_printerr(PROG ": %s holds no readable QR code\n", file);
    else
      g_printerr(PROG ": cannot read %s: %s\n", file, error->message);
    return KIOSK_EXIT_FAILURE;
  }
  KioskIdentity id = { 0 };
  if (!kiosk_store_load_identity(store, &id, &error)) {
    g_printerr(PROG ": %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  g_autoptr(KioskClient) client =
    kiosk_client_new(id.host, id.admin_port, id.device_port, id.ca_pem, id.cert_pem, id.key_pem);
  kiosk_identity_clear(&id);
  g_autoptr(KioskGate) gate = kiosk_gate_new(store, client, &error);
  if (gate == NULL) {
    g_printerr(PROG ": %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  kiosk_gate_set_checkout(gate, checkout);
  if (redeem_timeout_ms > 0)
    kiosk_gate_set_redeem_timeout(gate, redeem_timeout_ms);
  KioskVerdict v;
  gboolean ok = kiosk_gate_scan(gate, text, strlen(text), 0, &v, &error);
  g_autofree char *line = kiosk_verdict_to_json(&v);
  printf("%s\n", line);
  fflush(stdout);
  kiosk_verdict_clear(&v);
  if (!ok) {
    g_printerr(PROG ": %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  return KIOSK_EXIT_OK;
}

static int
usage_error(GOptionContext *ctx, const char *message)
{
  g_printerr(PROG ": %s\nTry `" PROG " --help`.\n", message);
  return KIOSK_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  g_autofree char *data_dir = NULL, *log_level = NULL;
  gboolean headless = FALSE, checkout = FALSE, version = FALSE, fullscreen = FALSE, test_driver = FALSE;
  g_autofree char *camera = NULL, *language = NULL;
  double sync_interval = 30.0;
  gint redeem_timeout = 0;
  GOptionEntry entries[] = {
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, "The device's data directory (required)", "DIR" },
    { "headless", 0, 0, G_OPTION_ARG_NONE, &headless, "Run as a screenless gate reader (stdin/stdout)", NULL },
    { "checkout", 0, 0, G_OPTION_ARG_NONE, &checkout, "Exit door: accepted scans are check-outs", NULL },
    { "sync-interval", 0, 0, G_OPTION_ARG_DOUBLE, &sync_interval,
      "Seconds between background syncs (default 30; 0 turns them off)", "SECONDS" },
    { "redeem-timeout-ms", 0, 0, G_OPTION_ARG_INT, &redeem_timeout,
      "How long a scan waits for the server before deciding offline (default 300)", "MS" },
    { "camera", 0, 0, G_OPTION_ARG_STRING, &camera,
      "App: auto (default: /dev/video0 if present), none, /dev/videoN, image:FILE or test", "SOURCE" },
    { "language", 0, 0, G_OPTION_ARG_STRING, &language, "App: ja or en (default: the device setting)", "LANG" },
    { "fullscreen", 0, 0, G_OPTION_ARG_NONE, &fullscreen, "App: full screen (under the cage compositor)", NULL },
    { "test-driver", 0, 0, G_OPTION_ARG_NONE, &test_driver,
      "App: take test commands on stdin, answer on stdout (tests/e2e)", NULL },
    { "log-level", 0, 0, G_OPTION_ARG_STRING, &log_level, "error, warning, info (default) or debug", "LEVEL" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("[enroll CODE | sync | scan-image FILE]");
  g_option_context_set_summary(ctx, "Genkan kiosk: visitor check-in and ticket gate.");
  g_option_context_set_description(ctx, summary_text);
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error))
    return usage_error(ctx, error->message);
  if (version) {
    printf(PROG " " GENKAN_VERSION "\n");
    return KIOSK_EXIT_OK;
  }
  if (log_level != NULL) {
    GkLogLevel level;
    if (!gk_log_level_parse(log_level, &level))
      return usage_error(ctx, "--log-level must be error, warning, info or debug");
    gk_log_set_level(level);
  }
  gk_log_install_glib_writer();
  if (sync_interval < 0 || sync_interval > 86400)
    return usage_error(ctx, "--sync-interval must be 0 to 86400 seconds");
  if (redeem_timeout < 0 || redeem_timeout > 60000)
    return usage_error(ctx, "--redeem-timeout-ms must be 0 to 60000");

  /* GOption leaves a "--" in place; it only ends the options. */
  if (argc > 1 && strcmp(argv[1], "--") == 0) {
    argv[1] = argv[0];
    argv++;
    argc--;
  }
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (data_dir == NULL || *data_dir == '\0')
    return usage_error(ctx, "--data-dir DIR is required");
  if (language != NULL && strcmp(language, "ja") != 0 && strcmp(language, "en") != 0)
    return usage_error(ctx, "--language must be ja or en");
  if (cmd == NULL && !headless) {
#ifdef GENKAN_HAVE_UI
    KioskUiOptions ui = { .data_dir = data_dir, .camera = camera, .language = language, .fullscreen = fullscreen,
                          .test_driver = test_driver, .sync_interval_s = sync_interval,
                          .redeem_timeout_ms = redeem_timeout };
    return kiosk_ui_run(&ui);
#else
    g_printerr(PROG ": this build has no touchscreen app (GTK 4 was not found); use --headless\n");
    return KIOSK_EXIT_USAGE;
#endif
  }
  if (headless) {
    if (cmd != NULL)
      return usage_error(ctx, "--headless takes no command");
    KioskHeadlessOptions o = { .data_dir = data_dir, .sync_interval_s = sync_interval, .checkout = checkout,
                               .redeem_timeout_ms = redeem_timeout, .in_fd = STDIN_FILENO, .out = stdout };
    return kiosk_headless_run(&o);
  }
  if (strcmp(cmd, "enroll") == 0) {
    if (argc != 3)
      return usage_error(ctx, "usage: enroll CODE");
    return cmd_enroll(data_dir, argv[2]);
  }
  if (strcmp(cmd, "sync") == 0) {
    if (argc != 2)
      return usage_error(ctx, "sync takes no argument");
    return cmd_sync(data_dir);
  }
  if (strcmp(cmd, "scan-image") == 0) {
    if (argc != 3)
      return usage_error(ctx, "usage: scan-image FILE");
    return cmd_scan_image(data_dir, argv[2], checkout, redeem_timeout);
  }
  g_autofree char *msg = g_strdup_printf("unknown command '%s'", cmd);
  return usage_error(ctx, msg);
}
