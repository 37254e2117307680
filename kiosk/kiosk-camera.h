/* Camera input: a GStreamer pipeline (a V4L2 camera, or a still image or test
 * pattern for tests and the demo) that hands every frame to a KioskScanner on
 * GStreamer's streaming thread and a throttled preview to the UI's main
 * context. No frame is ever decoded or copied on the main loop. */
#pragma once
#include <gio/gio.h>

#include "kiosk-scanner.h"

G_BEGIN_DECLS

#define KIOSK_CAMERA_ERROR kiosk_camera_error_quark()
GQuark kiosk_camera_error_quark(void);
typedef enum {
  KIOSK_CAMERA_ERROR_INVALID,   /* a source description we do not understand */
  KIOSK_CAMERA_ERROR_NO_DEVICE, /* the camera device or image file does not exist */
  KIOSK_CAMERA_ERROR_MISSING,   /* a GStreamer element is not installed */
  KIOSK_CAMERA_ERROR_STREAM,    /* the pipeline failed to start or stopped with an error */
} KioskCameraError;

/* Previews arrive at most this often (frames in between go to the scanner only). */
#define KIOSK_CAMERA_PREVIEW_FPS 15
/* Largest frame asked of a V4L2 camera: more costs conversion time, not scans. */
#define KIOSK_CAMERA_MAX_WIDTH  1280
#define KIOSK_CAMERA_MAX_HEIGHT 720

/* Runs on the main context the camera was made in. @pixels holds packed RGB
 * (3 bytes per pixel, R G B: GDK_MEMORY_R8G8B8), @stride bytes per row; it is a
 * copy the callee may keep (g_bytes_ref), so it never holds a camera buffer. */
typedef void (*KioskCameraPreviewFunc)(GBytes *pixels, int width, int height, int stride, gpointer user_data);
/* Runs on the same main context when the running pipeline fails (camera
 * unplugged, unreadable image, end of stream); the camera has stopped. */
typedef void (*KioskCameraErrorFunc)(const GError *error, gpointer user_data);

typedef struct _KioskCamera KioskCamera;

/* @source is one of
 *   "/dev/videoN" or "v4l2:/dev/videoN"   a V4L2 camera (live)
 *   "image:PATH"                         a PNG or JPEG shown as a still video
 *   "test"                               GStreamer's test pattern
 * Nothing is opened yet. @scanner (may be NULL: preview only, e.g. for a
 * photo) receives every frame from the streaming thread; it must outlive the
 * camera, or at least its last kiosk_camera_stop(). The camera belongs to the
 * thread-default main context at this call: start, stop and free it from that
 * context's thread, where the preview and error callbacks also run. */
KioskCamera *kiosk_camera_new(const char *source, KioskScanner *scanner, GError **error);
/* Stops it (no callback runs after this returns) and frees it. NULL is fine. */
void kiosk_camera_free(KioskCamera *camera);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskCamera, kiosk_camera_free)

void kiosk_camera_set_preview_func(KioskCamera *camera, KioskCameraPreviewFunc func, gpointer user_data,
                                   GDestroyNotify notify);
void kiosk_camera_set_error_func(KioskCamera *camera, KioskCameraErrorFunc func, gpointer user_data,
                                 GDestroyNotify notify);
/* Frames per second for "image:" and "test" sources (default 30); 0: as fast
 * as the pipeline goes (benchmarks). Takes effect at the next start. */
void kiosk_camera_set_fps(KioskCamera *camera, guint fps);
/* Whether frames go to the scanner (default TRUE); thread-safe, immediate. */
void kiosk_camera_set_scanning(KioskCamera *camera, gboolean scanning);

/* Builds the pipeline and sets it playing. NO_DEVICE when the V4L2 device or
 * image file is missing, MISSING when an element is not installed, STREAM when
 * GStreamer refuses to start; the camera is then stopped and may be started
 * again. Errors after a successful start go to the error callback. Starting a
 * running camera does nothing. */
gboolean kiosk_camera_start(KioskCamera *camera, GError **error);
/* Stops the pipeline and joins its threads; a preview not yet delivered is
 * dropped. Safe on a stopped camera. */
void kiosk_camera_stop(KioskCamera *camera);
gboolean kiosk_camera_is_running(KioskCamera *camera);

typedef struct {
  guint64 frames;     /* frames that reached the sink */
  guint64 scanned;    /* frames handed to the scanner (kiosk_scanner_push_rgb) */
  guint64 previews;   /* preview callbacks run */
  int width, height;  /* of the last frame; 0 before the first */
} KioskCameraStats;
void kiosk_camera_stats(KioskCamera *camera, KioskCameraStats *out);

G_END_DECLS
