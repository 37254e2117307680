/* The kiosk's one window: every screen of reception and gate mode, the flow
 * between them (actions), idle timeouts, the keyboard-wedge scanner, and the
 * camera scanner's results. All decisions are the engine's. */
#pragma once
#include <gtk/gtk.h>
#include "kiosk-engine.h"

G_BEGIN_DECLS

#define KIOSK_TYPE_WINDOW (kiosk_window_get_type())
G_DECLARE_FINAL_TYPE(KioskWindow, kiosk_window, KIOSK, WINDOW, GtkApplicationWindow)

KioskWindow *kiosk_window_new(GtkApplication *app, KioskEngine *engine);

/* Shows @paintable (e.g. the latest camera frame) in every camera view. */
void kiosk_window_set_preview(KioskWindow *window, GdkPaintable *paintable);

/* Where badge PDFs go (made 0700 when missing); NULL: no badges. */
void kiosk_window_set_badge_dir(KioskWindow *window, const char *dir);
/* TRUE while staff have unlocked the admin screen with the PIN. */
gboolean kiosk_window_admin_unlocked(KioskWindow *window);

/* A complete code from any scanner, on the main thread (the camera path and
 * the keyboard wedge both end here). @frame_time_us: g_get_monotonic_time()
 * when the frame or first keystroke arrived. */
void kiosk_window_handle_scan(KioskWindow *window, const char *text, gsize len, gint64 frame_time_us);

/* For the test driver: the visible screen ("welcome", "admin/status", …) and
 * the texts shown on it, in widget order. */
const char *kiosk_window_page(KioskWindow *window);
GPtrArray *kiosk_window_visible_texts(KioskWindow *window);
gboolean kiosk_window_offline_shown(KioskWindow *window);
/* Frame-to-verdict latencies (microseconds) of the scans shown so far. */
GArray *kiosk_window_latencies(KioskWindow *window);
/* Texts typed into an entry of the visible page, by its accessible order:
 * fills the entry named @entry_id ("walkin_name", …) as a visitor would. */
gboolean kiosk_window_type_into(KioskWindow *window, const char *entry_id, const char *text);
/* Presses a key of the visible keypad: a digit, 'D' (delete) or 'K' (OK). */
gboolean kiosk_window_press_key(KioskWindow *window, char key);
/* Chooses the @index-th row of the visible list (hosts or leaving visitors). */
gboolean kiosk_window_choose_row(KioskWindow *window, guint index);

G_END_DECLS
