/* The walk-in photo screen (sites with photo=true): the live camera, "Take
 * photo", then the still with "Retake" / "Use this photo". The frame is
 * scaled and encoded as JPEG off the main loop; the JPEG lives in memory only
 * until the walk-in is submitted and wipes itself when dropped. Without a
 * working camera the visitor goes on without a photo: the kiosk never blocks. */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "gk-log.h"
#include "kiosk-window-private.h"

/* The photo's longer side at most (a face on a badge or a list, not a portrait). */
#define PHOTO_LONG_SIDE 480
/* JPEG qualities tried in turn until the photo fits KIOSK_VISIT_PHOTO_MAX. */
static const int photo_qualities[] = { 80, 65, 50, 35 };
/* A camera whose last frame is older than this is not working. */
#define CAMERA_STALE_US (2 * G_USEC_PER_SEC)
/* How often the screen checks whether the camera came or went. */
#define CAMERA_CHECK_MS 500
/* Frames larger than this are no camera frame: refused before any copy. */
#define FRAME_MAX_SIDE 8192

typedef enum {
  PHOTO_IDLE,     /* not on the photo screen */
  PHOTO_LIVE,     /* the camera's preview, "Take photo" */
  PHOTO_ENCODING, /* the still on screen, its JPEG being made */
  PHOTO_STILL,    /* the still, "Retake" / "Use this photo" */
  PHOTO_NONE,     /* no working camera: "Continue without photo" */
  PHOTO_SENDING,  /* the walk-in was submitted from here */
} PhotoState;

/* ---- encoding (worker thread) ---------------------------------------------------- */

static void
wipe_pixbuf(GdkPixbuf *pixbuf)
{
  if (pixbuf == NULL)
    return;
  /* Scaled copies own their pixels (gdk_pixbuf_scale_simple). */
  memset(gdk_pixbuf_get_pixels(pixbuf), 0, gdk_pixbuf_get_byte_length(pixbuf));
  g_object_unref(pixbuf);
}

/* The frame as packed RGB (w * 3 bytes a row), @size bytes, g_free after zeroing. */
static guint8 *
frame_rgb(GdkTexture *frame, int w, int h, gsize *size)
{
  gsize stride = (gsize) w * 4;
  guint8 *argb = g_malloc(stride * (gsize) h);
  /* Cairo's ARGB32: native-endian 32-bit words. Camera frames are opaque, so
   * premultiplication changes nothing. */
  gdk_texture_download(frame, argb, stride);
  *size = (gsize) w * 3 * (gsize) h;
  guint8 *rgb = g_malloc(*size);
  const guint32 *px = (const guint32 *) argb;
  for (gsize i = 0, n = (gsize) w * (gsize) h; i < n; i++) {
    rgb[3 * i] = (guint8) (px[i] >> 16);
    rgb[3 * i + 1] = (guint8) (px[i] >> 8);
    rgb[3 * i + 2] = (guint8) px[i];
  }
  memset(argb, 0, stride * (gsize) h);
  g_free(argb);
  return rgb;
}

/* Saves @pixbuf as the first JPEG quality that fits the protocol's limit. */
static GBytes *
save_jpeg(GdkPixbuf *pixbuf, GError **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS(photo_qualities); i++) {
    char quality[8];
    g_snprintf(quality, sizeof quality, "%d", photo_qualities[i]);
    gchar *buf = NULL;
    gsize len = 0;
    if (!gdk_pixbuf_save_to_buffer(pixbuf, &buf, &len, "jpeg", error, "quality", quality, NULL))
      return NULL;
    GBytes *jpeg = len <= KIOSK_VISIT_PHOTO_MAX ? kiosk_bytes_new_wiped(buf, len) : NULL;
    memset(buf, 0, len);
    g_free(buf);
    if (jpeg != NULL)
      return jpeg;
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "the photo does not fit %d bytes", KIOSK_VISIT_PHOTO_MAX);
  return NULL;
}

static GBytes *
encode_photo(GdkTexture *frame, GError **error)
{
  int w = gdk_texture_get_width(frame), h = gdk_texture_get_height(frame);
  if (w <= 0 || h <= 0 || w > FRAME_MAX_SIDE || h > FRAME_MAX_SIDE) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "a camera frame of %d×%d is not usable", w, h);
    return NULL;
  }
  gsize size = 0;
  guint8 *rgb = frame_rgb(frame, w, h, &size);
  GdkPixbuf *full = gdk_pixbuf_new_from_data(rgb, GDK_COLORSPACE_RGB, FALSE, 8, w, h, w * 3, NULL, NULL);
  int side = MAX(w, h);
  int sw = side > PHOTO_LONG_SIDE ? MAX(1, (int) ((gint64) w * PHOTO_LONG_SIDE / side)) : w;
  int sh = side > PHOTO_LONG_SIDE ? MAX(1, (int) ((gint64) h * PHOTO_LONG_SIDE / side)) : h;
  GdkPixbuf *scaled = gdk_pixbuf_scale_simple(full, sw, sh, GDK_INTERP_BILINEAR);
  g_object_unref(full);
  memset(rgb, 0, size);
  g_free(rgb);
  if (scaled == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot scale the photo");
    return NULL;
  }
  GBytes *jpeg = save_jpeg(scaled, error);
  wipe_pixbuf(scaled);
  return jpeg;
}

static void
encode_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  /* GdkTexture is immutable, so reading it here is safe. */
  GBytes *jpeg = encode_photo(GDK_TEXTURE(data), &error);
  if (jpeg != NULL)
    g_task_return_pointer(task, jpeg, (GDestroyNotify) g_bytes_unref);
  else
    g_task_return_error(task, error);
}

/* ---- the screen ------------------------------------------------------------------ */

static gboolean
camera_working(KioskWindow *self)
{
  return self->preview != NULL && GDK_IS_TEXTURE(self->preview) &&
         g_get_monotonic_time() - self->preview_at_us < CAMERA_STALE_US;
}

static void
set_state(KioskWindow *self, PhotoState state)
{
  static const char *const views[] = {
    [PHOTO_IDLE] = "live", [PHOTO_LIVE] = "live",   [PHOTO_ENCODING] = "still",
    [PHOTO_STILL] = "still", [PHOTO_NONE] = "none", [PHOTO_SENDING] = "still",
  };
  self->photo_state = state;
  GtkWidget *widget = GTK_WIDGET(self);
  gtk_widget_action_set_enabled(widget, "win.take-photo", state == PHOTO_LIVE);
  gtk_widget_action_set_enabled(widget, "win.retake-photo", state == PHOTO_STILL);
  gtk_widget_action_set_enabled(widget, "win.use-photo", state == PHOTO_STILL);
  gtk_widget_action_set_enabled(widget, "win.skip-photo", state == PHOTO_NONE);
  /* Sent without a photo: the "none" screen stays while the walk-in is stored. */
  const char *view = state == PHOTO_SENDING && self->photo_jpeg == NULL ? "none" : views[state];
  gtk_stack_set_visible_child_name(self->photo_view, view);
  gtk_stack_set_visible_child_name(self->photo_actions, view);
  const char *status = "";
  switch (state) {
  case PHOTO_LIVE:
    status = _("Please look at the camera and tap “Take photo”.");
    break;
  case PHOTO_STILL:
    status = _("Is this photo all right?");
    break;
  case PHOTO_ENCODING:
  case PHOTO_SENDING:
    status = _("Just a moment…");
    break;
  case PHOTO_IDLE:
  case PHOTO_NONE:
  default:
    break;
  }
  gtk_label_set_text(self->photo_status, status);
}

/* Drops the still and its JPEG (and ignores an encoding still under way). */
static void
drop_photo(KioskWindow *self)
{
  if (self->photo_cancel != NULL) {
    g_cancellable_cancel(self->photo_cancel);
    g_clear_object(&self->photo_cancel);
  }
  g_clear_pointer(&self->photo_jpeg, g_bytes_unref);
  g_clear_object(&self->photo_frame);
  /* NULL once the template's children are gone (a second dispose). */
  if (self->photo_still != NULL)
    gtk_picture_set_paintable(self->photo_still, NULL);
}

/* Live or "no camera", as the camera is now. */
static void
show_camera(KioskWindow *self)
{
  set_state(self, camera_working(self) ? PHOTO_LIVE : PHOTO_NONE);
}

/* A camera may stop (unplugged) or start while the visitor is here. */
static gboolean
camera_check(gpointer data)
{
  KioskWindow *self = data;
  gboolean working = camera_working(self);
  if ((self->photo_state == PHOTO_LIVE && !working) || (self->photo_state == PHOTO_NONE && working))
    show_camera(self);
  return G_SOURCE_CONTINUE;
}

gboolean
kiosk_window_photo_wanted(KioskWindow *self)
{
  return kiosk_engine_setting_bool(self->engine, "photo");
}

void
kiosk_window_photo_start(KioskWindow *self, gboolean terms_accepted)
{
  drop_photo(self);
  self->photo_terms = terms_accepted;
  kiosk_window_show_page(self, "photo");
  show_camera(self);
  if (self->photo_tick == 0)
    self->photo_tick = g_timeout_add(CAMERA_CHECK_MS, camera_check, self);
}

void
kiosk_window_photo_forget(KioskWindow *self)
{
  g_clear_handle_id(&self->photo_tick, g_source_remove);
  drop_photo(self);
  self->photo_terms = FALSE;
  if (self->photo_view != NULL)
    set_state(self, PHOTO_IDLE);
}

static void
encode_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) jpeg = g_task_propagate_pointer(G_TASK(result), &error);
  GCancellable *cancellable = g_task_get_cancellable(G_TASK(result));
  /* A retake, the end of the flow or the window's end came first: the bytes
   * are dropped (and wiped) here. */
  if (g_cancellable_is_cancelled(cancellable) || gtk_widget_in_destruction(GTK_WIDGET(self)) ||
      self->photo_state != PHOTO_ENCODING)
    return;
  g_clear_object(&self->photo_cancel);
  if (jpeg == NULL) {
    /* Never the pixels or the visitor: just why. */
    GK_LOG_WARN("kiosk.photo.not_encoded", GK_STR("error", error->message));
    drop_photo(self);
    show_camera(self);
    gtk_label_set_text(self->photo_status, _("The photo could not be taken. Please try again."));
    return;
  }
  self->photo_jpeg = g_steal_pointer(&jpeg);
  set_state(self, PHOTO_STILL);
}

static void
action_take_photo(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  if (self->photo_state != PHOTO_LIVE)
    return;
  if (!camera_working(self)) {
    set_state(self, PHOTO_NONE);
    return;
  }
  drop_photo(self);
  /* The frame on screen now is the photo: what the visitor saw is what is kept. */
  self->photo_frame = g_object_ref(GDK_TEXTURE(self->preview));
  gtk_picture_set_paintable(self->photo_still, GDK_PAINTABLE(self->photo_frame));
  set_state(self, PHOTO_ENCODING);
  self->photo_cancel = g_cancellable_new();
  g_autoptr(GTask) task = g_task_new(NULL, self->photo_cancel, encode_done, g_object_ref(self));
  g_task_set_source_tag(task, action_take_photo);
  g_task_set_task_data(task, g_object_ref(self->photo_frame), g_object_unref);
  g_task_run_in_thread(task, encode_thread);
}

static void
action_retake_photo(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  if (self->photo_state != PHOTO_STILL)
    return;
  drop_photo(self);
  show_camera(self);
}

static void
submit(KioskWindow *self)
{
  set_state(self, PHOTO_SENDING);
  kiosk_window_submit_walkin(self, self->photo_terms);
}

static void
action_use_photo(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  if (self->photo_state != PHOTO_STILL || self->photo_jpeg == NULL)
    return;
  submit(self);
}

static void
action_skip_photo(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  /* Only when there is no camera: a site that takes photos wants one. */
  if (self->photo_state != PHOTO_NONE)
    return;
  drop_photo(self);
  submit(self);
}

#define BIND(name) gtk_widget_class_bind_template_child(widget_class, KioskWindow, name)

void
kiosk_window_class_init_photo(GtkWidgetClass *widget_class)
{
  BIND(photo_view);
  BIND(photo_actions);
  BIND(photo_live);
  BIND(photo_still);
  BIND(photo_status);
  gtk_widget_class_install_action(widget_class, "win.take-photo", NULL, action_take_photo);
  gtk_widget_class_install_action(widget_class, "win.retake-photo", NULL, action_retake_photo);
  gtk_widget_class_install_action(widget_class, "win.use-photo", NULL, action_use_photo);
  gtk_widget_class_install_action(widget_class, "win.skip-photo", NULL, action_skip_photo);
}
