/* A numeric keypad for touch: 0-9, delete and OK, each at least 72 px.
 * Signals: "digit" (string), "delete" (), "submit" (). */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define KIOSK_TYPE_KEYPAD (kiosk_keypad_get_type())
G_DECLARE_FINAL_TYPE(KioskKeypad, kiosk_keypad, KIOSK, KEYPAD, GtkWidget)

GtkWidget *kiosk_keypad_new(void);

G_END_DECLS
