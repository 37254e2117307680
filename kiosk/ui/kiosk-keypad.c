/* The numeric keypad: a 4x3 grid built from a table, one signal per key kind. */
#include "kiosk-keypad.h"

#include <glib/gi18n-lib.h>

struct _KioskKeypad {
  GtkWidget parent_instance;
  GtkWidget *grid;
};

G_DEFINE_FINAL_TYPE(KioskKeypad, kiosk_keypad, GTK_TYPE_WIDGET)

enum { SIGNAL_DIGIT, SIGNAL_DELETE, SIGNAL_SUBMIT, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
on_key(GtkButton *button, KioskKeypad *self)
{
  const char *key = g_object_get_data(G_OBJECT(button), "key");
  if (g_strcmp0(key, "del") == 0)
    g_signal_emit(self, signals[SIGNAL_DELETE], 0);
  else if (g_strcmp0(key, "ok") == 0)
    g_signal_emit(self, signals[SIGNAL_SUBMIT], 0);
  else
    g_signal_emit(self, signals[SIGNAL_DIGIT], 0, key);
}

static void
kiosk_keypad_init(KioskKeypad *self)
{
  static const char *const keys[] = { "1", "2", "3", "4", "5", "6", "7", "8", "9", "del", "0", "ok" };
  self->grid = gtk_grid_new();
  gtk_grid_set_row_homogeneous(GTK_GRID(self->grid), TRUE);
  gtk_grid_set_column_homogeneous(GTK_GRID(self->grid), TRUE);
  gtk_grid_set_row_spacing(GTK_GRID(self->grid), 12);
  gtk_grid_set_column_spacing(GTK_GRID(self->grid), 12);
  gtk_widget_set_parent(self->grid, GTK_WIDGET(self));
  for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
    const char *label = keys[i];
    const char *accessible = keys[i];
    if (g_strcmp0(keys[i], "del") == 0) {
      label = "⌫";
      accessible = _("Delete");
    } else if (g_strcmp0(keys[i], "ok") == 0) {
      label = _("OK");
      accessible = _("OK");
    }
    GtkWidget *b = gtk_button_new_with_label(label);
    g_object_set_data(G_OBJECT(b), "key", (gpointer) keys[i]);
    gtk_widget_add_css_class(b, "key");
    if (g_strcmp0(keys[i], "ok") == 0)
      gtk_widget_add_css_class(b, "suggested-action");
    gtk_accessible_update_property(GTK_ACCESSIBLE(b), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible, -1);
    g_signal_connect(b, "clicked", G_CALLBACK(on_key), self);
    gtk_grid_attach(GTK_GRID(self->grid), b, (int) (i % 3), (int) (i / 3), 1, 1);
  }
}

static void
kiosk_keypad_dispose(GObject *object)
{
  KioskKeypad *self = KIOSK_KEYPAD(object);
  g_clear_pointer(&self->grid, gtk_widget_unparent);
  G_OBJECT_CLASS(kiosk_keypad_parent_class)->dispose(object);
}

static void
kiosk_keypad_class_init(KioskKeypadClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = kiosk_keypad_dispose;
  gtk_widget_class_set_layout_manager_type(GTK_WIDGET_CLASS(klass), GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name(GTK_WIDGET_CLASS(klass), "keypad");
  signals[SIGNAL_DIGIT] = g_signal_new("digit", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_DELETE] =
    g_signal_new("delete", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_SUBMIT] =
    g_signal_new("submit", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

GtkWidget *
kiosk_keypad_new(void)
{
  return g_object_new(KIOSK_TYPE_KEYPAD, NULL);
}
