/* Fuzz target: the notification settings an admin sends (srv_notify_request_parse
 * for each scope) and the SMTP credentials file must refuse bad input cleanly,
 * or accept it with every value inside the rules the sender relies on. The
 * first byte picks the scope (or the credentials parser). */
#include <stdint.h>
#include <string.h>

#include "srv-notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_request(const char *scope, const uint8_t *data, size_t size)
{
  SrvNotifyRequest r;
  GError *error = NULL;
  if (!srv_notify_request_parse(scope, (const char *) data, size, &r, &error)) {
    /* Refused: a reason, and nothing half-filled. */
    if (error == NULL || r.channel != NULL || r.target != NULL || r.secret != NULL)
      __builtin_trap();
    g_error_free(error);
    return;
  }
  gboolean none = strcmp(r.channel, "none") == 0;
  if (!srv_notify_channel_known(r.channel) || (strcmp(r.language, "ja") != 0 && strcmp(r.language, "en") != 0))
    __builtin_trap();
  if ((strcmp(scope, "host") == 0) != (r.host != NULL))
    __builtin_trap();
  if (none && r.target != NULL)
    __builtin_trap();
  if (r.target != NULL && !srv_notify_target_check(r.channel, r.target, NULL))
    __builtin_trap();
  if (r.target == NULL && !none && strcmp(r.channel, "email") != 0)
    __builtin_trap();
  if (r.secret != NULL && (strcmp(r.channel, "webhook") != 0 || !srv_notify_secret_check(r.secret, NULL)))
    __builtin_trap();
  if (r.offline_after_s < 0 || r.offline_after_s > SRV_NOTIFY_OFFLINE_MAX ||
      (r.offline_after_s != 0 && strcmp(scope, "admins") != 0))
    __builtin_trap();
  /* What admins are shown of a target never carries a Slack or Teams path. */
  if (r.target != NULL) {
    char *shown = srv_notify_target_display(r.channel, r.target);
    if (shown == NULL || ((strcmp(r.channel, "slack") == 0 || strcmp(r.channel, "teams") == 0) &&
                          !g_str_has_suffix(shown, "/…")))
      __builtin_trap();
    g_free(shown);
  }
  srv_notify_request_clear(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const scopes[] = { "host", "default", "security", "admins", "other" };
  if (size < 1)
    return 0;
  guint pick = data[0] % (G_N_ELEMENTS(scopes) + 1);
  if (pick < G_N_ELEMENTS(scopes)) {
    check_request(scopes[pick], data + 1, size - 1);
    return 0;
  }
  char *user = NULL, *password = NULL;
  if (srv_notify_credentials_parse(data + 1, size - 1, &user, &password, NULL)) {
    if (user == NULL || password == NULL || *user == '\0' || *password == '\0' || strchr(user, '\n') != NULL ||
        strchr(password, '\n') != NULL || strlen(user) > 256 || strlen(password) > 256)
      __builtin_trap();
  } else if (user != NULL || password != NULL) {
    __builtin_trap();
  }
  g_free(user);
  g_free(password);
  return 0;
}
