/* QR scanner: decodes camera frames with zbar (QR symbology only) on its own
 * worker thread, keeps at most one frame waiting, reports each code once while
 * it stays in view; plus a synchronous decode of image files for --headless. */
#pragma once
#include <glib.h>

#include "gk-ticket.h"

#define KIOSK_SCANNER_ERROR kiosk_scanner_error_quark()
GQuark kiosk_scanner_error_quark(void);

typedef enum {
  KIOSK_SCANNER_ERROR_NO_CODE,   /* decoded fine, but no usable QR code in it */
  KIOSK_SCANNER_ERROR_BAD_IMAGE, /* unreadable, not PNG/JPEG, corrupt, bad frame */
  KIOSK_SCANNER_ERROR_TOO_LARGE, /* file or pixel dimensions over the limits */
} KioskScannerError;

/* Limits for kiosk_scan_image_file(): both are checked before any pixel is
 * decoded, so a hostile file cannot make us allocate gigabytes. */
#define KIOSK_SCANNER_MAX_FILE_BYTES (20 * 1024 * 1024)
#define KIOSK_SCANNER_MAX_IMAGE_SIDE 8000
/* Frames pushed to a KioskScanner may be at most this wide and high. */
#define KIOSK_SCANNER_MAX_FRAME_SIDE 8192
/* Longer decoded texts are dropped: no ticket or enrollment code is near it. */
#define KIOSK_SCANNER_MAX_TEXT (GK_TICKET_TEXT_MAX * 2)
#define KIOSK_SCANNER_DEFAULT_REPEAT_MS     1500
#define KIOSK_SCANNER_DEFAULT_REPEAT_FRAMES 2

/* Called on the scanner's worker thread, never on the thread that pushed the
 * frame: a GTK caller marshals to its main loop (g_main_context_invoke() with a
 * copy of @text). @text is the code's bytes exactly as decoded: 1 to
 * KIOSK_SCANNER_MAX_TEXT bytes, no NUL inside, NUL-terminated for convenience,
 * valid only during the call. It is untrusted input: hand it to
 * gk_ticket_decode() (or another validating parser), never use it as a path,
 * URL or markup. @frame_time_us is g_get_monotonic_time() when the frame was
 * pushed, so the caller can measure frame-to-verdict latency. The callback must
 * not call kiosk_scanner_free() on its own scanner. */
typedef void (*KioskScanFunc)(const char *text, gsize len, gint64 frame_time_us, gpointer user_data);

typedef struct _KioskScanner KioskScanner;

typedef struct {
  guint64 frames_in;      /* frames pushed */
  guint64 dropped;        /* replaced while waiting, never decoded */
  guint64 scanned;        /* frames the worker decoded (with or without a code) */
  guint64 decoded;        /* scanned frames that held at least one usable code */
  guint64 reported;       /* callback invocations (after de-duplication) */
  double mean_decode_ms;  /* worker time per scanned frame: conversion + zbar */
} KioskScannerStats;

/* Starts the worker thread ("kiosk-scanner"). @on_code must not be NULL. */
KioskScanner *kiosk_scanner_new(KioskScanFunc on_code, gpointer user_data);
/* Stops and joins the worker; a frame still waiting is discarded, a frame being
 * decoded is finished first (its callback may still run during this call). */
void kiosk_scanner_free(KioskScanner *scanner);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskScanner, kiosk_scanner_free)

/* De-duplication: a text seen in a scanned frame is reported once, and again
 * only after it was missing from the scanned frames for at least @absent_ms
 * milliseconds AND at least @absent_frames scanned frames (either may be 0).
 * Requiring both keeps a ticket held still from counting twice when the camera
 * stalls (no frames: time passes, frames do not) or when a blurred frame or two
 * miss it (frames pass, time does not). Defaults:
 * KIOSK_SCANNER_DEFAULT_REPEAT_MS and _FRAMES. Thread-safe. */
void kiosk_scanner_set_repeat(KioskScanner *scanner, guint absent_ms, guint absent_frames);

/* Copies an 8-bit grayscale frame (@stride >= @width bytes per row) and hands it
 * to the worker. The queue holds one waiting frame besides the one being
 * decoded: a newer frame replaces the waiting one, so a burst never piles up and
 * the code on screen is at most two frames old. Returns FALSE when a frame was
 * dropped that way (counted in stats) or the frame is invalid (sizes <= 0 or
 * over KIOSK_SCANNER_MAX_FRAME_SIDE, short stride: g_return_val_if_fail). Costs
 * the caller one memcpy; conversion and decoding happen on the worker. */
gboolean kiosk_scanner_push_frame(KioskScanner *scanner, const guint8 *gray, int width, int height,
                                  int stride);
/* Same for packed RGB (@bytes_per_pixel 3, bytes R,G,B) or RGBx/RGBA (4; the
 * fourth byte is ignored, camera frames are opaque). Converted to BT.601 luma
 * on the worker. */
gboolean kiosk_scanner_push_rgb(KioskScanner *scanner, const guint8 *pixels, int width, int height,
                                int stride, int bytes_per_pixel);

/* Blocks until no frame is waiting or being decoded (callbacks done), or
 * @timeout_ms passed; TRUE when idle. For tests and orderly shutdown. */
gboolean kiosk_scanner_wait_idle(KioskScanner *scanner, guint timeout_ms);
void kiosk_scanner_stats(KioskScanner *scanner, KioskScannerStats *out);

/* ---- synchronous decoding (files, tests, the benchmark) ---- */

/* What kiosk_scan_gray() tries besides a plain zbar pass on the frame; it stops
 * at the first pass that finds a code, so a clean frame costs one pass.
 * KIOSK_SCAN_DEFAULT is what the worker and kiosk_scan_image_file() use, chosen
 * by measurement with tests/bench/bench-scan.c: a frame with no code costs
 * about 1.25 plain passes, or 2.25 when the stretch applies. */
typedef enum {
  KIOSK_SCAN_PLAIN      = 0,
  KIOSK_SCAN_HALF       = 1 << 0, /* after the plain pass: a 2x box-downscaled copy */
  KIOSK_SCAN_STRETCH    = 1 << 1, /* stretch the 1st..99th percentile to 0..255 (low contrast) */
  KIOSK_SCAN_HALF_FIRST = 1 << 2, /* the 2x box-downscaled copy before the plain pass */
  KIOSK_SCAN_DEFAULT    = KIOSK_SCAN_HALF_FIRST | KIOSK_SCAN_STRETCH,
} KioskScanFlags;

/* Decodes one 8-bit grayscale frame with the scanner's zbar configuration (QR
 * only). On success *@out_text (g_free) is the first usable code zbar returns
 * when there are several (zbar's order, not a position on the image), and
 * @out_len (may be NULL) its length. NO_CODE when there is none; BAD_IMAGE for
 * impossible sizes. */
gboolean kiosk_scan_gray(const guint8 *gray, int width, int height, int stride, KioskScanFlags flags,
                         char **out_text, gsize *out_len, GError **error);

/* Loads a PNG or JPEG file (recognised by content, never by name; other formats
 * are BAD_IMAGE so no other gdk-pixbuf loader sees the bytes) as 8-bit gray:
 * alpha is composited over white, colour becomes BT.601 luma. TOO_LARGE for
 * files over KIOSK_SCANNER_MAX_FILE_BYTES or images with a side over
 * KIOSK_SCANNER_MAX_IMAGE_SIDE, refused before the pixels are decoded. Returns
 * the pixels (g_free; stride = width) and sets @out_width/@out_height. */
guint8 *kiosk_scanner_load_gray(const char *path, int *out_width, int *out_height, GError **error);

/* kiosk_scanner_load_gray() then kiosk_scan_gray(KIOSK_SCAN_DEFAULT): the text
 * of the first code (see there), g_free. */
gboolean kiosk_scan_image_file(const char *path, char **out_text, GError **error);

/* BT.601 luma of packed RGB/RGBx rows, integer math:
 * Y = (77 R + 150 G + 29 B + 128) >> 8 (weights sum to 256, so white stays 255).
 * @out has @width bytes per row, rows contiguous. Exposed for tests. */
void kiosk_scanner_rgb_to_gray(const guint8 *pixels, int width, int height, int stride,
                               int bytes_per_pixel, guint8 *out);
