/* The touchscreen app's entry point: genkan-kiosk without a command. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  const char *data_dir;
  const char *camera;       /* kiosk-camera source ("auto", "none", a device, "image:FILE", "test") */
  const char *language;     /* "ja" | "en" | NULL: the device setting */
  gboolean fullscreen;
  gboolean test_driver;     /* commands on stdin, answers on stdout (tests/e2e) */
  double sync_interval_s;
  long redeem_timeout_ms;   /* 0: the gate's default */
} KioskUiOptions;

/* Runs the app until it quits; returns the process exit status. */
int kiosk_ui_run(const KioskUiOptions *options);

/* Switches the language gettext translates into ("ja", "en"), for the whole
 * process. Main thread. */
void kiosk_ui_set_language(const char *language);

G_END_DECLS
