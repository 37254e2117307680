/* Fuzz target: the INI config loader must reject bad input cleanly and leave
 * the settings as they were, or accept it with every value inside its bounds. */
#include <stdint.h>
#include <string.h>

#include "gk-config.h"

static const char *const modes[] = { "reception", "gate", NULL };
static const GkConfigOption table[] = {
  { "server", "bind", GK_CONFIG_STRING, 1, 255, "127.0.0.1", NULL, "address" },
  { "server", "device-port", GK_CONFIG_INT, 1, 65535, "8443", NULL, "port" },
  { "server", "verbose", GK_CONFIG_BOOL, 0, 0, "false", NULL, "verbose" },
  { "kiosk", "mode", GK_CONFIG_ENUM, 0, 0, "reception", modes, "mode" },
  { "kiosk", "idle-timeout", GK_CONFIG_INT, 5, 600, "60", NULL, "seconds" },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GkConfig *config = gk_config_new(table, G_N_ELEMENTS(table));
  GError *error = NULL;
  gboolean ok = gk_config_load_data(config, (const char *) data, size, "fuzz", &error);
  if (ok) {
    gint64 port = gk_config_get_int(config, "server.device-port");
    gint64 idle = gk_config_get_int(config, "kiosk.idle-timeout");
    const char *bind = gk_config_get_string(config, "server.bind");
    const char *mode = gk_config_get_string(config, "kiosk.mode");
    if (port < 1 || port > 65535 || idle < 5 || idle > 600 || bind == NULL ||
        strlen(bind) < 1 || strlen(bind) > 255 || mode == NULL ||
        (strcmp(mode, "reception") != 0 && strcmp(mode, "gate") != 0))
      __builtin_trap();
  } else {
    /* A refused file changes nothing. */
    if (error == NULL || gk_config_get_int(config, "server.device-port") != 8443 ||
        strcmp(gk_config_get_string(config, "server.bind"), "127.0.0.1") != 0)
      __builtin_trap();
    g_error_free(error);
  }
  gk_config_free(config);
  return 0;
}
