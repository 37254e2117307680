/* Camera pipelines: source → decode/convert to packed RGB → appsink; the
 * appsink's streaming thread feeds the scanner and leaves the newest frame for
 * an idle source on the owner's main context (the preview). */
#include "kiosk-camera.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <string.h>
#include <sys/stat.h>

#include "gk-log.h"

G_DEFINE_QUARK(kiosk-camera-error-quark, kiosk_camera_error)

#define PREVIEW_INTERVAL_US (G_USEC_PER_SEC / KIOSK_CAMERA_PREVIEW_FPS)
/* A frame this early still counts as due, so a 30 fps camera with a little
 * jitter gives every second frame instead of every third. */
#define PREVIEW_SLACK_US 5000
#define DEFAULT_FPS 30

typedef enum {
  SOURCE_V4L2,
  SOURCE_IMAGE,
  SOURCE_TEST,
} SourceKind;

struct _KioskCamera {
  GMainContext *context;
  SourceKind kind;
  char *location; /* device or image path */
  KioskScanner *scanner;
  guint fps;
  gint scanning; /* atomic */

  KioskCameraPreviewFunc preview_func;
  gpointer preview_data;
  GDestroyNotify preview_notify;
  KioskCameraErrorFunc error_func;
  gpointer error_data;
  GDestroyNotify error_notify;

  /* Owner thread only. */
  GstElement *pipeline;
  GSource *bus_source;

  /* Streaming thread only. */
  GstCaps *caps;
  GstVideoInfo info;

  GMutex lock; /* guards what follows, shared by the streaming and owner threads */
  GBytes *preview;
  int preview_width, preview_height, preview_stride;
  GSource *preview_source; /* pending delivery, attached to context */
  gint64 next_preview_us;
  KioskCameraStats stats;
};

static const char *
kind_name(SourceKind kind)
{
  switch (kind) {
  case SOURCE_V4L2:
    return "v4l2";
  case SOURCE_IMAGE:
    return "image";
  case SOURCE_TEST:
    return "test";
  }
  return "?";
}

KioskCamera *
kiosk_camera_new(const char *source, KioskScanner *scanner, GError **error)
{
  g_return_val_if_fail(source != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  SourceKind kind;
  const char *location = NULL;
  if (g_str_has_prefix(source, "v4l2:")) {
    kind = SOURCE_V4L2;
    location = source + strlen("v4l2:");
  } else if (g_str_has_prefix(source, "/dev/")) {
    kind = SOURCE_V4L2;
    location = source;
  } else if (g_str_has_prefix(source, "image:")) {
    kind = SOURCE_IMAGE;
    location = source + strlen("image:");
  } else if (strcmp(source, "test") == 0) {
    kind = SOURCE_TEST;
  } else {
    g_set_error(error, KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_INVALID,
                "unknown camera source \"%s\" (expected /dev/videoN, image:PATH or test)", source);
    return NULL;
  }
  if (location != NULL && *location == '\0') {
    g_set_error(error, KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_INVALID, "camera source \"%s\" names no file",
                source);
    return NULL;
  }
  if (!gst_init_check(NULL, NULL, error))
    return NULL;

  KioskCamera *camera = g_new0(KioskCamera, 1);
  camera->context = g_main_context_ref_thread_default();
  camera->kind = kind;
  camera->location = g_strdup(location);
  camera->scanner = scanner;
  camera->fps = DEFAULT_FPS;
  camera->scanning = TRUE;
  g_mutex_init(&camera->lock);
  return camera;
}

void
kiosk_camera_free(KioskCamera *camera)
{
  if (camera == NULL)
    return;
  kiosk_camera_stop(camera);
  if (camera->preview_notify != NULL)
    camera->preview_notify(camera->preview_data);
  if (camera->error_notify != NULL)
    camera->error_notify(camera->error_data);
  g_main_context_unref(camera->context);
  g_free(camera->location);
  g_mutex_clear(&camera->lock);
  g_free(camera);
}

void
kiosk_camera_set_preview_func(KioskCamera *camera, KioskCameraPreviewFunc func, gpointer user_data,
                              GDestroyNotify notify)
{
  g_return_if_fail(camera != NULL);
  g_return_if_fail(camera->pipeline == NULL);
  if (camera->preview_notify != NULL)
    camera->preview_notify(camera->preview_data);
  camera->preview_func = func;
  camera->preview_data = user_data;
  camera->preview_notify = notify;
}

void
kiosk_camera_set_error_func(KioskCamera *camera, KioskCameraErrorFunc func, gpointer user_data,
                            GDestroyNotify notify)
{
  g_return_if_fail(camera != NULL);
  if (camera->error_notify != NULL)
    camera->error_notify(camera->error_data);
  camera->error_func = func;
  camera->error_data = user_data;
  camera->error_notify = notify;
}

void
kiosk_camera_set_fps(KioskCamera *camera, guint fps)
{
  g_return_if_fail(camera != NULL);
  camera->fps = MIN(fps, 120);
}

void
kiosk_camera_set_scanning(KioskCamera *camera, gboolean scanning)
{
  g_return_if_fail(camera != NULL);
  g_atomic_int_set(&camera->scanning, scanning ? 1 : 0);
}

gboolean
kiosk_camera_is_running(KioskCamera *camera)
{
  g_return_val_if_fail(camera != NULL, FALSE);
  return camera->pipeline != NULL;
}

void
kiosk_camera_stats(KioskCamera *camera, KioskCameraStats *out)
{
  g_return_if_fail(camera != NULL && out != NULL);
  g_mutex_lock(&camera->lock);
  *out = camera->stats;
  g_mutex_unlock(&camera->lock);
}

/* ---- streaming thread ---- */

/* Owner context: hands the newest frame to the UI. Touches nothing of the
 * camera after the callback, which may stop or free it. */
static gboolean
deliver_preview(gpointer data)
{
  KioskCamera *camera = data;
  g_mutex_lock(&camera->lock);
  g_autoptr(GBytes) pixels = g_steal_pointer(&camera->preview);
  int w = camera->preview_width, h = camera->preview_height, stride = camera->preview_stride;
  g_clear_pointer(&camera->preview_source, g_source_unref);
  if (pixels != NULL && camera->preview_func != NULL)
    camera->stats.previews++;
  g_mutex_unlock(&camera->lock);
  if (pixels != NULL && camera->preview_func != NULL)
    camera->preview_func(pixels, w, h, stride, camera->preview_data);
  return G_SOURCE_REMOVE;
}

/* Copies the frame for the preview when one is due; lock held. */
static void
offer_preview_locked(KioskCamera *camera, const guint8 *pixels, int width, int height, int stride)
{
  gint64 now = g_get_monotonic_time();
  if (now + PREVIEW_SLACK_US < camera->next_preview_us)
    return;
  /* Advance by whole intervals so the average stays at or under the limit,
   * without a burst after a stall. */
  camera->next_preview_us = MAX(camera->next_preview_us, now - PREVIEW_INTERVAL_US) + PREVIEW_INTERVAL_US;
  /* A copy, never a ref on the buffer: the UI may keep a texture for long, and
   * a held V4L2 buffer would starve the camera's buffer pool. */
  g_clear_pointer(&camera->preview, g_bytes_unref);
  camera->preview = g_bytes_new(pixels, (gsize) stride * (gsize) height);
  camera->preview_width = width;
  camera->preview_height = height;
  camera->preview_stride = stride;
  if (camera->preview_source == NULL) {
    camera->preview_source = g_idle_source_new();
    g_source_set_priority(camera->preview_source, G_PRIORITY_DEFAULT);
    g_source_set_callback(camera->preview_source, deliver_preview, camera, NULL);
    g_source_set_static_name(camera->preview_source, "kiosk-camera-preview");
    g_source_attach(camera->preview_source, camera->context);
  }
}

static GstFlowReturn
on_new_sample(GstAppSink *sink, gpointer data)
{
  KioskCamera *camera = data;
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample(sink);
  if (sample == NULL)
    return GST_FLOW_FLUSHING;
  GstCaps *caps = gst_sample_get_caps(sample);
  GstBuffer *buffer = gst_sample_get_buffer(sample);
  if (caps == NULL || buffer == NULL)
    return GST_FLOW_ERROR;
  if (camera->caps == NULL || !gst_caps_is_equal(caps, camera->caps)) {
    if (!gst_video_info_from_caps(&camera->info, caps))
      return GST_FLOW_NOT_NEGOTIATED;
    gst_caps_replace(&camera->caps, caps);
  }
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &camera->info, buffer, GST_MAP_READ))
    return GST_FLOW_ERROR;
  const guint8 *pixels = GST_VIDEO_FRAME_PLANE_DATA(&frame, 0);
  int width = GST_VIDEO_FRAME_WIDTH(&frame), height = GST_VIDEO_FRAME_HEIGHT(&frame);
  int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);

  gboolean scan = camera->scanner != NULL && g_atomic_int_get(&camera->scanning) &&
                  width <= KIOSK_SCANNER_MAX_FRAME_SIDE && height <= KIOSK_SCANNER_MAX_FRAME_SIDE;
  if (scan)
    kiosk_scanner_push_rgb(camera->scanner, pixels, width, height, stride, 3);

  g_mutex_lock(&camera->lock);
  camera->stats.frames++;
  camera->stats.scanned += scan;
  camera->stats.width = width;
  camera->stats.height = height;
  if (camera->preview_func != NULL)
    offer_preview_locked(camera, pixels, width, height, stride);
  g_mutex_unlock(&camera->lock);
  gst_video_frame_unmap(&frame);
  return GST_FLOW_OK;
}

/* ---- owner thread ---- */

/* Fixed descriptions (no outside text in them: the device and file names are
 * set as properties afterwards); gst_parse_launch links decodebin's pad once it
 * appears. */
static char *
pipeline_description(const KioskCamera *camera)
{
  g_autofree char *rate = camera->fps > 0 ? g_strdup_printf(",framerate=%u/1", camera->fps) : g_strdup("");
  switch (camera->kind) {
  case SOURCE_V4L2:
    /* Raw or MJPEG up to the size limit; decodebin passes raw straight on. */
    return g_strdup_printf("v4l2src name=src ! video/x-raw,width=[1,%d],height=[1,%d];"
                           "image/jpeg,width=[1,%d],height=[1,%d] ! decodebin ! videoconvert ! "
                           "video/x-raw,format=RGB ! appsink name=sink",
                           KIOSK_CAMERA_MAX_WIDTH, KIOSK_CAMERA_MAX_HEIGHT, KIOSK_CAMERA_MAX_WIDTH,
                           KIOSK_CAMERA_MAX_HEIGHT);
  case SOURCE_IMAGE:
    /* Converted per frame, after imagefreeze, as a camera's frames would be. */
    return g_strdup_printf("filesrc name=src ! decodebin ! imagefreeze ! videoconvert ! "
                           "video/x-raw,format=RGB%s ! appsink name=sink",
                           rate);
  case SOURCE_TEST:
  default:
    return g_strdup_printf("videotestsrc name=src is-live=%s ! video/x-raw,width=640,height=480%s ! "
                           "videoconvert ! video/x-raw,format=RGB ! appsink name=sink",
                           camera->fps > 0 ? "true" : "false", rate);
  }
}

static GstElement *
build_pipeline(KioskCamera *camera, GError **error)
{
  g_autofree char *description = pipeline_description(camera);
  g_autoptr(GError) local = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch_full(description, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &local);
  if (pipeline == NULL) {
    gboolean missing = g_error_matches(local, GST_PARSE_ERROR, GST_PARSE_ERROR_NO_SUCH_ELEMENT);
    g_set_error(error, KIOSK_CAMERA_ERROR, missing ? KIOSK_CAMERA_ERROR_MISSING : KIOSK_CAMERA_ERROR_STREAM,
                "cannot build the camera pipeline: %s%s", local != NULL ? local->message : "unknown error",
                missing ? " (install gstreamer1.0-plugins-base and -good)" : "");
    return NULL;
  }
  g_autoptr(GstElement) src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  if (camera->kind == SOURCE_V4L2)
    g_object_set(src, "device", camera->location, NULL);
  else if (camera->kind == SOURCE_IMAGE)
    g_object_set(src, "location", camera->location, NULL);

  /* One frame kept at most: a slow consumer drops old frames instead of
   * queueing them, so what is scanned is always close to what is in view. A
   * live camera is not synchronised to the clock (every frame as soon as it
   * is captured); the other sources are paced at fps unless fps is 0. */
  GstAppSink *appsink = GST_APP_SINK(sink);
  gst_app_sink_set_max_buffers(appsink, 1);
  gst_app_sink_set_drop(appsink, TRUE);
  g_object_set(sink, "sync", camera->kind != SOURCE_V4L2 && camera->fps > 0, NULL);
  GstAppSinkCallbacks callbacks = { .new_sample = on_new_sample };
  gst_app_sink_set_callbacks(appsink, &callbacks, camera, NULL);
  return g_steal_pointer(&pipeline);
}

/* Camera errors name the source kind and GStreamer's message; never frames. */
static void
stop_pipeline(KioskCamera *camera)
{
  if (camera->pipeline != NULL) {
    /* Joins the streaming threads: no new_sample runs after this. */
    gst_element_set_state(camera->pipeline, GST_STATE_NULL);
    g_clear_pointer(&camera->pipeline, gst_object_unref);
  }
  if (camera->bus_source != NULL) {
    g_source_destroy(camera->bus_source);
    g_clear_pointer(&camera->bus_source, g_source_unref);
  }
  g_mutex_lock(&camera->lock);
  if (camera->preview_source != NULL) {
    /* Same thread as its dispatch, so it cannot be running right now. */
    g_source_destroy(camera->preview_source);
    g_clear_pointer(&camera->preview_source, g_source_unref);
  }
  g_clear_pointer(&camera->preview, g_bytes_unref);
  g_mutex_unlock(&camera->lock);
  gst_caps_replace(&camera->caps, NULL);
}

static GError *
error_from_message(KioskCamera *camera, GstMessage *message)
{
  g_autoptr(GError) gst_error = NULL;
  g_autofree char *debug = NULL;
  gst_message_parse_error(message, &gst_error, &debug);
  GK_LOG_WARN("camera.error", GK_STR("source", kind_name(camera->kind)),
              GK_STR("error", gst_error != NULL ? gst_error->message : "?"),
              GK_STR("debug", debug != NULL ? debug : ""));
  if (camera->kind == SOURCE_V4L2)
    return g_error_new(KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_STREAM, "camera %s failed: %s", camera->location,
                       gst_error != NULL ? gst_error->message : "unknown error");
  return g_error_new(KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_STREAM, "camera (%s) failed: %s",
                     kind_name(camera->kind), gst_error != NULL ? gst_error->message : "unknown error");
}

/* Owner context. After the error callback the camera is not touched: the
 * callback may free it. */
static gboolean
on_bus_message(GstBus *bus, GstMessage *message, gpointer data)
{
  KioskCamera *camera = data;
  g_autoptr(GError) error = NULL;
  switch (GST_MESSAGE_TYPE(message)) {
  case GST_MESSAGE_ERROR:
    error = error_from_message(camera, message);
    break;
  case GST_MESSAGE_EOS:
    error = g_error_new(KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_STREAM, "camera (%s) stream ended",
                        kind_name(camera->kind));
    GK_LOG_WARN("camera.eos", GK_STR("source", kind_name(camera->kind)));
    break;
  default:
    return G_SOURCE_CONTINUE;
  }
  stop_pipeline(camera);
  if (camera->error_func != NULL)
    camera->error_func(error, camera->error_data);
  return G_SOURCE_REMOVE;
}

static gboolean
check_location(KioskCamera *camera, GError **error)
{
  struct stat st;
  if (camera->kind == SOURCE_V4L2) {
    if (stat(camera->location, &st) != 0) {
      g_set_error(error, KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_NO_DEVICE, "camera %s does not exist",
                  camera->location);
      return FALSE;
    }
    if (!S_ISCHR(st.st_mode)) {
      g_set_error(error, KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_NO_DEVICE, "camera %s is not a device",
                  camera->location);
      return FALSE;
    }
  } else if (camera->kind == SOURCE_IMAGE && !g_file_test(camera->location, G_FILE_TEST_IS_REGULAR)) {
    g_set_error(error, KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_NO_DEVICE, "camera image %s does not exist",
                camera->location);
    return FALSE;
  }
  return TRUE;
}

gboolean
kiosk_camera_start(KioskCamera *camera, GError **error)
{
  g_return_val_if_fail(camera != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  if (camera->pipeline != NULL)
    return TRUE;
  if (!check_location(camera, error))
    return FALSE;
  camera->pipeline = build_pipeline(camera, error);
  if (camera->pipeline == NULL)
    return FALSE;
  g_mutex_lock(&camera->lock);
  camera->next_preview_us = 0;
  g_mutex_unlock(&camera->lock);

  g_autoptr(GstBus) bus = gst_element_get_bus(camera->pipeline);
  camera->bus_source = gst_bus_create_watch(bus);
  g_source_set_callback(camera->bus_source, G_SOURCE_FUNC(on_bus_message), camera, NULL);
  g_source_set_static_name(camera->bus_source, "kiosk-camera-bus");
  g_source_attach(camera->bus_source, camera->context);

  /* Opening a V4L2 device happens inside this call, so a busy or non-camera
   * device fails here, with its message on the bus. */
  if (gst_element_set_state(camera->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_autoptr(GstMessage) message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    if (message != NULL) {
      GError *failed = error_from_message(camera, message);
      g_propagate_error(error, failed);
    } else {
      g_set_error(error, KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_STREAM, "camera (%s) did not start",
                  kind_name(camera->kind));
    }
    stop_pipeline(camera);
    return FALSE;
  }
  GK_LOG_INFO("camera.started", GK_STR("source", kind_name(camera->kind)), GK_UINT("fps", camera->fps));
  return TRUE;
}

void
kiosk_camera_stop(KioskCamera *camera)
{
  g_return_if_fail(camera != NULL);
  if (camera->pipeline == NULL)
    return;
  stop_pipeline(camera);
  GK_LOG_INFO("camera.stopped", GK_STR("source", kind_name(camera->kind)));
}
