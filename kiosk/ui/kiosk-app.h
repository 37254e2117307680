/* KioskApp: the GtkApplication. Owns the engine, the QR scanner and the
 * camera (they outlive a window rebuilt for a language switch), and the
 * app-wide actions: app.language(s), app.quit (staff only). */
#pragma once
#include <gtk/gtk.h>
#include "kiosk-ui.h"
#include "kiosk-window.h"

G_BEGIN_DECLS

#define KIOSK_TYPE_APP (kiosk_app_get_type())
G_DECLARE_FINAL_TYPE(KioskApp, kiosk_app, KIOSK, APP, GtkApplication)

KioskApp *kiosk_app_new(const KioskUiOptions *options);
KioskWindow *kiosk_app_get_window(KioskApp *app);
KioskEngine *kiosk_app_get_engine(KioskApp *app);
/* Feeds an 8-bit grayscale frame to the same scanner the camera feeds. */
gboolean kiosk_app_push_frame(KioskApp *app, const guint8 *gray, int width, int height, int stride);
/* Waits (at most 2 s) until the scanner has decoded what it was given. */
void kiosk_app_wait_scanner(KioskApp *app);
const char *kiosk_app_get_language(KioskApp *app);
/* The exit status kiosk_ui_run() returns. */
int kiosk_app_get_status(KioskApp *app);

G_END_DECLS
