/* genkan-server as a program: `init` makes a new data directory, `run` serves it. */
#pragma once
#include <glib.h>

/* Files of a data directory. */
#define SRV_DATA_DB            "master.db"
#define SRV_DATA_KEK           "master.kek"
#define SRV_DATA_CONFIG        "genkan-server.conf"
#define SRV_DATA_SERVER_CERT   "server.crt"
#define SRV_DATA_SERVER_KEY    "server.key"
#define SRV_DATA_SIGNING_KEY   "ticket-signing.key"
#define SRV_DATA_OWNER_PW      "initial-owner-password"

/* Where the store's key-encryption key lives: the file GENKAN_KEK_FILE names
 * (an absolute path, so the key can be kept apart from the data, e.g. as a
 * systemd credential), else DIR/master.kek. Every command that opens or makes
 * a store asks here. */
#define SRV_KEK_FILE_ENV       "GENKAN_KEK_FILE"
char *srv_data_kek_path(const char *data_dir, GError **error);

typedef struct {
  const char *data_dir;
  const char *site;      /* first site's name; NULL: "Main site" */
  const char *hostname;  /* server certificate name; NULL: "localhost" */
} SrvInitOptions;

/* Creates a new data directory; refuses one that exists and is not empty. */
gboolean srv_app_init(const SrvInitOptions *options, GError **error);

typedef struct {
  const char *data_dir;
  const char *bind;      /* NULL: from the config file */
  int device_port;       /* -1: from the config file */
  int admin_port;        /* -1: from the config file */
  /* Tests: called once both ports listen, with the ports actually bound. */
  void (*on_ready)(guint16 device_port, guint16 admin_port, gpointer user_data);
  gpointer user_data;
} SrvRunOptions;

/* Serves until SIGTERM/SIGINT (or srv_app_request_stop()); FALSE with a clear
 * error when the data directory, the config or a port is wrong. */
gboolean srv_app_run(const SrvRunOptions *options, GError **error);
/* Asks a running srv_app_run() to stop (thread-safe). */
void srv_app_request_stop(void);
