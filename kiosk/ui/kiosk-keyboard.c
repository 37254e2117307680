/* On-screen keyboard: key rows from tables, two layouts in a GtkStack. The
 * voiced-mark keys change the kana before the cursor, as phone keyboards do. */
#include "kiosk-keyboard.h"

#include <glib/gi18n-lib.h>
#include <string.h>

struct _KioskKeyboard {
  GtkWidget parent_instance;
  GtkWidget *stack;
  GtkEditable *target;   /* weak */
};

G_DEFINE_FINAL_TYPE(KioskKeyboard, kiosk_keyboard, GTK_TYPE_WIDGET)

/* Special keys are named in the tables by these words. */
#define KEY_BACKSPACE "⌫"
#define KEY_SPACE     "space"
#define KEY_TO_KANA   "かな"
#define KEY_TO_LATIN  "ABC"
#define KEY_DAKUTEN   "゛"
#define KEY_HANDAKU   "゜"

static const char *const latin_rows[] = {
  "1 2 3 4 5 6 7 8 9 0 -",
  "Q W E R T Y U I O P",
  "A S D F G H J K L '",
  "Z X C V B N M , . @",
  KEY_TO_KANA " " KEY_SPACE " " KEY_BACKSPACE,
};

/* Gojūon columns read right to left in Japan, but a kiosk grid reads best as
 * rows: one row per consonant. */
static const char *const kana_rows[] = {
  "あ い う え お か き く け こ",
  "さ し す せ そ た ち つ て と",
  "な に ぬ ね の は ひ ふ へ ほ",
  "ま み む め も や ゆ よ ら り",
  "る れ ろ わ を ん ー ゃ ゅ ょ",
  "っ " KEY_DAKUTEN " " KEY_HANDAKU " " KEY_TO_LATIN " " KEY_SPACE " " KEY_BACKSPACE,
};

static const struct {
  const char *plain, *voiced, *semi;
} voicing[] = {
  { "か", "が", NULL }, { "き", "ぎ", NULL }, { "く", "ぐ", NULL }, { "け", "げ", NULL }, { "こ", "ご", NULL },
  { "さ", "ざ", NULL }, { "し", "じ", NULL }, { "す", "ず", NULL }, { "せ", "ぜ", NULL }, { "そ", "ぞ", NULL },
  { "た", "だ", NULL }, { "ち", "ぢ", NULL }, { "つ", "づ", NULL }, { "て", "で", NULL }, { "と", "ど", NULL },
  { "は", "ば", "ぱ" }, { "ひ", "び", "ぴ" }, { "ふ", "ぶ", "ぷ" }, { "へ", "べ", "ぺ" }, { "ほ", "ぼ", "ぽ" },
  { "う", "ゔ", NULL },
};

const char *
kiosk_keyboard_voice(const char *last_kana, gboolean handakuten)
{
  if (last_kana == NULL)
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS(voicing); i++)
    if (strcmp(voicing[i].plain, last_kana) == 0)
      return handakuten ? voicing[i].semi : voicing[i].voiced;
  return NULL;
}

static void
type_text(KioskKeyboard *self, const char *text)
{
  int pos = gtk_editable_get_position(self->target);
  gtk_editable_insert_text(self->target, text, -1, &pos);
  gtk_editable_set_position(self->target, pos);
}

/* The character before the cursor, or NULL. */
static char *
char_before_cursor(GtkEditable *target)
{
  int pos = gtk_editable_get_position(target);
  if (pos <= 0)
    return NULL;
  return gtk_editable_get_chars(target, pos - 1, pos);
}

static void
apply_voicing(KioskKeyboard *self, gboolean handakuten)
{
  g_autofree char *last = char_before_cursor(self->target);
  const char *voiced = kiosk_keyboard_voice(last, handakuten);
  if (voiced == NULL)
    return;
  int pos = gtk_editable_get_position(self->target);
  gtk_editable_delete_text(self->target, pos - 1, pos);
  pos--;
  gtk_editable_insert_text(self->target, voiced, -1, &pos);
  gtk_editable_set_position(self->target, pos);
}

static void
on_key(GtkButton *button, KioskKeyboard *self)
{
  const char *key = g_object_get_data(G_OBJECT(button), "key");
  if (strcmp(key, KEY_TO_KANA) == 0 || strcmp(key, KEY_TO_LATIN) == 0) {
    kiosk_keyboard_set_layout(self, strcmp(key, KEY_TO_KANA) == 0 ? "kana" : "latin");
    return;
  }
  if (self->target == NULL)
    return;
  if (strcmp(key, KEY_BACKSPACE) == 0) {
    int pos = gtk_editable_get_position(self->target);
    if (pos > 0)
      gtk_editable_delete_text(self->target, pos - 1, pos);
  } else if (strcmp(key, KEY_SPACE) == 0) {
    type_text(self, " ");
  } else if (strcmp(key, KEY_DAKUTEN) == 0 || strcmp(key, KEY_HANDAKU) == 0) {
    apply_voicing(self, strcmp(key, KEY_HANDAKU) == 0);
  } else {
    type_text(self, key);
  }
}

static const char *
accessible_name(const char *key)
{
  if (strcmp(key, KEY_BACKSPACE) == 0)
    return _("Delete");
  if (strcmp(key, KEY_SPACE) == 0)
    return _("Space");
  if (strcmp(key, KEY_TO_KANA) == 0)
    return _("Kana keyboard");
  if (strcmp(key, KEY_TO_LATIN) == 0)
    return _("Latin keyboard");
  if (strcmp(key, KEY_DAKUTEN) == 0)
    return _("Voiced mark");
  if (strcmp(key, KEY_HANDAKU) == 0)
    return _("Semi-voiced mark");
  return key;
}

static GtkWidget *
build_layout(KioskKeyboard *self, const char *const *rows, gsize n_rows)
{
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
  for (gsize r = 0; r < n_rows; r++) {
    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_box_set_homogeneous(GTK_BOX(row), TRUE);
    g_auto(GStrv) keys = g_strsplit(rows[r], " ", -1);
    for (guint i = 0; keys[i] != NULL; i++) {
      /* The button keeps the key string alive: it owns a copy. */
      char *key = g_strdup(keys[i]);
      gboolean special = strcmp(key, KEY_SPACE) == 0;
      GtkWidget *b = gtk_button_new_with_label(special ? _("Space") : key);
      g_object_set_data_full(G_OBJECT(b), "key", key, g_free);
      gtk_widget_add_css_class(b, "key");
      gtk_accessible_update_property(GTK_ACCESSIBLE(b), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible_name(key), -1);
      g_signal_connect(b, "clicked", G_CALLBACK(on_key), self);
      gtk_box_append(GTK_BOX(row), b);
    }
    gtk_box_append(GTK_BOX(box), row);
  }
  return box;
}

static void
kiosk_keyboard_init(KioskKeyboard *self)
{
  self->stack = gtk_stack_new();
  gtk_widget_set_parent(self->stack, GTK_WIDGET(self));
  gtk_stack_add_named(GTK_STACK(self->stack), build_layout(self, latin_rows, G_N_ELEMENTS(latin_rows)), "latin");
  gtk_stack_add_named(GTK_STACK(self->stack), build_layout(self, kana_rows, G_N_ELEMENTS(kana_rows)), "kana");
}

void
kiosk_keyboard_set_target(KioskKeyboard *self, GtkEditable *target)
{
  g_return_if_fail(KIOSK_IS_KEYBOARD(self));
  if (self->target != NULL)
    g_object_remove_weak_pointer(G_OBJECT(self->target), (gpointer *) &self->target);
  self->target = target;
  if (target != NULL)
    g_object_add_weak_pointer(G_OBJECT(target), (gpointer *) &self->target);
}

void
kiosk_keyboard_set_layout(KioskKeyboard *self, const char *layout)
{
  g_return_if_fail(KIOSK_IS_KEYBOARD(self));
  gtk_stack_set_visible_child_name(GTK_STACK(self->stack), g_strcmp0(layout, "kana") == 0 ? "kana" : "latin");
}

static void
kiosk_keyboard_dispose(GObject *object)
{
  KioskKeyboard *self = KIOSK_KEYBOARD(object);
  kiosk_keyboard_set_target(self, NULL);
  g_clear_pointer(&self->stack, gtk_widget_unparent);
  G_OBJECT_CLASS(kiosk_keyboard_parent_class)->dispose(object);
}

static void
kiosk_keyboard_class_init(KioskKeyboardClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = kiosk_keyboard_dispose;
  gtk_widget_class_set_layout_manager_type(GTK_WIDGET_CLASS(klass), GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name(GTK_WIDGET_CLASS(klass), "keyboard");
}

GtkWidget *
kiosk_keyboard_new(void)
{
  return g_object_new(KIOSK_TYPE_KEYBOARD, NULL);
}
