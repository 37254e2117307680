/* genkan-server: parses the command line and hands over to server-core. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "gk-log.h"
#include "srv-app.h"
#include "srv-backup.h"

static int
usage(FILE *out)
{
  fputs("Usage:\n"
        "  genkan-server init --data-dir DIR [--site NAME] [--hostname NAME]\n"
        "  genkan-server run --data-dir DIR [--bind ADDR] [--device-port N] [--admin-port N]\n"
        "  genkan-server backup-key --out KEYFILE\n"
        "  genkan-server backup --data-dir DIR --out FILE --key KEYFILE\n"
        "  genkan-server restore --in FILE --key KEYFILE --data-dir NEWDIR\n"
        "  genkan-server --version\n"
        "\n"
        "init creates a new data directory: encrypted master store, key-encryption key,\n"
        "device CA, server certificate, ticket-signing key, a first site and an owner\n"
        "account whose one-time password is written to DIR/initial-owner-password.\n"
        "run serves devices (mutual TLS) and admins until SIGTERM or SIGINT.\n"
        "backup-key makes a backup key (0600); backup writes an encrypted backup of DIR,\n"
        "also while the server runs; restore makes a new data directory from a backup\n"
        "(see docs/backups.md).\n"
        "\n"
        "The store's key-encryption key is DIR/master.kek unless GENKAN_KEK_FILE names\n"
        "another file (absolute path): keep it apart from the data, e.g. as a systemd\n"
        "credential (packaging/genkan-server.service). Every command above honours it.\n",
        out);
  return out == stdout ? 0 : 2;
}

/* backup-key, backup and restore (srv-backup.c does the work). */
static int
backup_main(const char *command, int argc, char **argv)
{
  g_autofree char *data_dir = NULL, *out = NULL, *in = NULL, *key = NULL;
  GOptionEntry entries[] = {
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Data directory (backup: to back up; restore: new)", "DIR" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, "File to write (must not exist)", "FILE" },
    { "in", 0, 0, G_OPTION_ARG_FILENAME, &in, "Backup file to restore", "FILE" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &key, "Backup key file", "KEYFILE" },
    { NULL },
  };
  g_autofree char *param = g_strdup_printf("%s - Genkan sync server", command);
  g_autoptr(GOptionContext) ctx = g_option_context_new(param);
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  int sub_argc = argc - 1;
  char **sub_argv = argv + 1;
  if (!g_option_context_parse(ctx, &sub_argc, &sub_argv, &error)) {
    fprintf(stderr, "genkan-server %s: %s\n", command, error->message);
    return 2;
  }
  if (sub_argc > 1) {
    fprintf(stderr, "genkan-server %s: unexpected argument '%s'\n", command, sub_argv[1]);
    return 2;
  }
  gboolean is_key = strcmp(command, "backup-key") == 0, is_backup = strcmp(command, "backup") == 0;
  gboolean ok;
  if (is_key) {
    if (out == NULL || data_dir || in || key) {
      fprintf(stderr, "genkan-server backup-key: takes --out KEYFILE only\n");
      return 2;
    }
    ok = srv_backup_key_generate(out, &error);
    if (ok)
      printf("Backup key written to %s. Keep a copy apart from the backups: without it they cannot be restored.\n",
             out);
  } else if (is_backup) {
    if (data_dir == NULL || out == NULL || key == NULL || in) {
      fprintf(stderr, "genkan-server backup: needs --data-dir DIR --out FILE --key KEYFILE\n");
      return 2;
    }
    gint64 bytes = 0;
    ok = srv_backup_create(data_dir, out, key, &bytes, &error);
    g_autofree char *base = g_path_get_basename(out);
    g_autofree char *db = g_build_filename(data_dir, SRV_DATA_DB, NULL);
    if (g_file_test(db, G_FILE_TEST_IS_REGULAR))
      srv_backup_audit_offline(data_dir, ok ? "backup" : "backup.failed", ok,
                               ok ? NULL : error->code == SRV_BACKUP_ERROR_KEY ? "key"
                                         : error->code == SRV_BACKUP_ERROR_REFUSED ? "refused" : "io", base);
    if (ok)
      printf("Backup of %s written to %s (%" G_GINT64_FORMAT " bytes).\n", data_dir, out, bytes);
  } else {
    if (data_dir == NULL || in == NULL || key == NULL || out) {
      fprintf(stderr, "genkan-server restore: needs --in FILE --key KEYFILE --data-dir NEWDIR\n");
      return 2;
    }
    g_autofree char *summary = NULL;
    ok = srv_backup_restore(in, key, data_dir, &summary, &error);
    g_autofree char *base = g_path_get_basename(in);
    if (ok)  /* the restored store's own log says where it came from */
      srv_backup_audit_offline(data_dir, "restore", TRUE, NULL, base);
    if (ok)
      printf("Restored %s into %s (new store keys; integrity_check and foreign_key_check ok).\n"
             "Tables and rows:\n%s",
             in, data_dir, summary);
  }
  if (!ok) {
    fprintf(stderr, "genkan-server %s: %s\n", command, error->message);
    return 1;
  }
  return 0;
}

int
main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  gk_log_install_glib_writer();
  if (argc < 2)
    return usage(stderr);
  const char *command = argv[1];
  if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0)
    return usage(stdout);
  if (strcmp(command, "--version") == 0) {
    printf("genkan-server %s\n", GENKAN_VERSION);
    return 0;
  }
  if (strcmp(command, "backup-key") == 0 || strcmp(command, "backup") == 0 || strcmp(command, "restore") == 0)
    return backup_main(command, argc, argv);
  if (strcmp(command, "init") != 0 && strcmp(command, "run") != 0) {
    fprintf(stderr, "genkan-server: unknown command '%s'\n", command);
    return usage(stderr);
  }

  g_autofree char *data_dir = NULL, *site = NULL, *hostname = NULL, *bind = NULL;
  int device_port = -1, admin_port = -1;
  GOptionEntry init_entries[] = {
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "New data directory", "DIR" },
    { "site", 0, 0, G_OPTION_ARG_STRING, &site, "Name of the first site", "NAME" },
    { "hostname", 0, 0, G_OPTION_ARG_STRING, &hostname, "Host name in the server certificate (default localhost)", "NAME" },
    { NULL },
  };
  GOptionEntry run_entries[] = {
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Data directory made by init", "DIR" },
    { "bind", 0, 0, G_OPTION_ARG_STRING, &bind, "Address to listen on (default 127.0.0.1)", "ADDR" },
    { "device-port", 0, 0, G_OPTION_ARG_INT, &device_port, "Device port (default 8443)", "N" },
    { "admin-port", 0, 0, G_OPTION_ARG_INT, &admin_port, "Admin port (default 8444)", "N" },
    { NULL },
  };
  gboolean is_init = strcmp(command, "init") == 0;
  g_autofree char *param = g_strdup_printf("%s - Genkan sync server", command);
  g_autoptr(GOptionContext) ctx = g_option_context_new(param);
  g_option_context_add_main_entries(ctx, is_init ? init_entries : run_entries, NULL);
  g_autoptr(GError) error = NULL;
  int sub_argc = argc - 1;
  char **sub_argv = argv + 1;
  if (!g_option_context_parse(ctx, &sub_argc, &sub_argv, &error)) {
    fprintf(stderr, "genkan-server %s: %s\n", command, error->message);
    return 2;
  }
  if (sub_argc > 1) {
    fprintf(stderr, "genkan-server %s: unexpected argument '%s'\n", command, sub_argv[1]);
    return 2;
  }
  if (data_dir == NULL) {
    fprintf(stderr, "genkan-server %s: --data-dir is required\n", command);
    return 2;
  }
  if ((device_port != -1 && (device_port < 0 || device_port > 65535)) ||
      (admin_port != -1 && (admin_port < 0 || admin_port > 65535))) {
    fprintf(stderr, "genkan-server run: ports must be from 0 to 65535\n");
    return 2;
  }

  if (is_init) {
    SrvInitOptions opts = { .data_dir = data_dir, .site = site, .hostname = hostname };
    if (!srv_app_init(&opts, &error)) {
      fprintf(stderr, "genkan-server init: %s\n", error->message);
      return 1;
    }
    printf("Initialised %s.\nThe owner's one-time password is in %s/initial-owner-password;\n"
           "sign in with: genkanctl --server https://%s:8444 --ca %s/ca.crt login --user owner --new-password\n",
           data_dir, data_dir, hostname ? hostname : "localhost", data_dir);
    return 0;
  }
  SrvRunOptions opts = { .data_dir = data_dir, .bind = bind, .device_port = device_port, .admin_port = admin_port };
  if (!srv_app_run(&opts, &error)) {
    fprintf(stderr, "genkan-server run: %s\n", error->message);
    return 1;
  }
  return 0;
}
