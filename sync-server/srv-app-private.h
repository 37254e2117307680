/* What the route handlers share with the application: read-only after start,
 * except the revocation set, which has its own lock. */
#pragma once
#include <glib.h>

#include "gk-config.h"
#include "gk-ticket.h"
#include "srv-ca.h"
#include "srv-loop.h"
#include "srv-store.h"

/* Device certificates live 90 days; devices renew them at sync well before. */
#define SRV_DEVICE_CERT_DAYS 90
/* The account `init` makes; its one-time password file goes at first sign-in. */
#define SRV_OWNER_USERNAME "owner"

typedef struct {
  char *data_dir;
  GkConfig *config;
  SrvStore *store;
  SrvCa *ca;
  GkSigningKey *signing_key;
  GkKeyring *keyring;
  SrvLoop *loop;
  gint64 site_id;              /* the first site; in an admin route handler the site of the
                                * request (handlers get a per-request copy: srv-admin-api.c) */
  guint8 ca_fingerprint[32];
  char *ca_pem;                /* sent to devices at enrollment */
  char *public_host;           /* put into enrollment codes */
  guint16 admin_port;
  guint16 device_port;
  GMutex revoked_lock;
  GHashTable *revoked;         /* GBytes serial -> itself */
  struct SrvNotifySender *notify;  /* outbox sender threads; woken after a check-in */
} SrvApp;

/* Route entry points, one per listener (srv-admin-api.c, srv-device-api.c). */
void srv_admin_api_handle(const SrvRequest *request, SrvResponse *response, gpointer app);
void srv_device_api_handle(const SrvRequest *request, SrvResponse *response, gpointer app);
/* The admin routes that need a session (srv-admin-api.c), for tests that
 * check every route against every role. */
guint srv_admin_api_route_count(void);
void srv_admin_api_route(guint i, SrvHttpMethod *out_method, const char **out_pattern);

/* Revocation set shared with the TLS layer. */
gboolean srv_app_serial_revoked(SrvApp *app, const guint8 *serial, gsize len);
void srv_app_mark_revoked(SrvApp *app, GBytes *serial);
