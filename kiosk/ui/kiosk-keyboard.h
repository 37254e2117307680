/* The on-screen keyboard for the walk-in form: a Latin (QWERTY) layout and a
 * kana (gojūon) layout, typing into whichever entry the caller points it at. */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define KIOSK_TYPE_KEYBOARD (kiosk_keyboard_get_type())
G_DECLARE_FINAL_TYPE(KioskKeyboard, kiosk_keyboard, KIOSK, KEYBOARD, GtkWidget)

GtkWidget *kiosk_keyboard_new(void);
/* The entry keys type into (not owned; NULL: keys do nothing). */
void kiosk_keyboard_set_target(KioskKeyboard *keyboard, GtkEditable *target);
/* "latin" or "kana". */
void kiosk_keyboard_set_layout(KioskKeyboard *keyboard, const char *layout);

/* Applies the dakuten (゛) or handakuten (゜) key to the last kana of @text:
 * returns the replacement character as UTF-8 (static), or NULL when the mark
 * does not apply. Exposed for tests. */
const char *kiosk_keyboard_voice(const char *last_kana, gboolean handakuten);

G_END_DECLS
