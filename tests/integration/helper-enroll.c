/* Enrolls one device with a running genkan-server, for shell tests that need a
 * device certificate: signs in as owner (changing the initial password), makes an
 * enrollment code, enrolls a fresh key, writes OUT_DIR/device.crt and device.key.
 *   helper-enroll DATA_DIR ADMIN_PORT OUT_DIR */
#include <stdio.h>
#include <string.h>

#include "gk-test-server.h"

int
main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: %s DATA_DIR ADMIN_PORT OUT_DIR\n", argv[0]);
    return 2;
  }
  guint64 port = g_ascii_strtoull(argv[2], NULL, 10);
  if (port == 0 || port > 65535) {
    fprintf(stderr, "%s: bad port '%s'\n", argv[0], argv[2]);
    return 2;
  }
  /* Only the fields the login and enrollment helpers read. */
  GkTestServer s = { 0 };
  s.data_dir = argv[1];
  s.ca_path = g_build_filename(argv[1], "ca.crt", NULL);
  s.admin_port = (guint16) port;
  s.admin_url = g_strdup_printf("https://127.0.0.1:%u", s.admin_port);

  char *token = gk_test_server_login_owner(&s, "Enr0ll-Helper-Passw0rd!");
  GkTestDevice *d = gk_test_enroll_device(&s, token, "Scan probe", "gate");
  char *crt = g_build_filename(argv[3], "device.crt", NULL);
  char *key = g_build_filename(argv[3], "device.key", NULL);
  GError *error = NULL;
  gboolean ok = g_file_set_contents_full(crt, d->cert_pem, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error) &&
                g_file_set_contents_full(key, d->key_pem, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error);
  if (!ok) {
    fprintf(stderr, "%s: %s\n", argv[0], error->message);
    g_error_free(error);
  } else {
    printf("%s\n", d->device_id);
  }
  gk_test_device_free(d);
  g_free(token);
  g_free(crt);
  g_free(key);
  g_free(s.ca_path);
  g_free(s.admin_url);
  return ok ? 0 : 1;
}
