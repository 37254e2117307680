/* QR scanner: zbar (QR only) on a worker thread fed by a one-slot frame queue,
 * per-text de-duplication, and synchronous decoding of PNG/JPEG files. */
#include "kiosk-scanner.h"

#include <errno.h>
#include <fcntl.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zbar.h>

G_DEFINE_QUARK(kiosk-scanner-error-quark, kiosk_scanner_error)

/* Below this a half-size copy cannot hold a readable ticket symbol. */
#define KIOSK_SCAN_HALF_MIN_SIDE 96
/* A stretch is skipped when the 1st..99th percentile already spans this much. */
#define KIOSK_SCAN_STRETCH_MAX_RANGE 160
/* Texts remembered for de-duplication; more distinct codes in view at once than
 * this only means an old one may be reported again early. */
#define KIOSK_SEEN_MAX 32

/* ---- zbar ---- */

static zbar_image_scanner_t *
kiosk_zbar_new(void)
{
  zbar_image_scanner_t *zs = zbar_image_scanner_create();
  /* QR only: every other symbology is disabled, so a barcode on a visitor's
   * badge or a poster behind them is never even decoded. */
  zbar_image_scanner_set_config(zs, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
  zbar_image_scanner_set_config(zs, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
  /* Raw bytes, no guessing of a character set: the text is checked by a
   * parser later, it is never displayed or interpreted here. */
  zbar_image_scanner_set_config(zs, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1);
  zbar_image_scanner_enable_cache(zs, 0);
  return zs;
}

/* Appends every usable QR text zbar finds in a contiguous Y800 image to @texts;
 * returns how many it appended. */
static guint
kiosk_zbar_run(zbar_image_scanner_t *zs, const guint8 *gray, int width, int height, GPtrArray *texts)
{
  zbar_image_t *image = zbar_image_create();
  zbar_image_set_format(image, zbar_fourcc('Y', '8', '0', '0'));
  zbar_image_set_size(image, (unsigned) width, (unsigned) height);
  /* zbar only reads Y800 data (it binarizes into its own buffer). */
  zbar_image_set_data(image, (void *) gray, (unsigned long) width * (unsigned long) height, NULL);
  guint added = 0;
  if (zbar_scan_image(zs, image) > 0) {
    for (const zbar_symbol_t *sym = zbar_image_first_symbol(image); sym != NULL;
         sym = zbar_symbol_next(sym)) {
      if (zbar_symbol_get_type(sym) != ZBAR_QRCODE)
        continue;
      const char *data = zbar_symbol_get_data(sym);
      unsigned len = zbar_symbol_get_data_length(sym);
      /* Never trusted: too long or with a NUL it is nothing we issued. */
      if (data == NULL || len == 0 || len > KIOSK_SCANNER_MAX_TEXT || memchr(data, '\0', len) != NULL)
        continue;
      g_ptr_array_add(texts, g_strndup(data, len));
      added++;
    }
  }
  zbar_image_destroy(image);
  return added;
}

/* ---- pixel helpers ---- */

void
kiosk_scanner_rgb_to_gray(const guint8 *pixels, int width, int height, int stride, int bytes_per_pixel,
                          guint8 *out)
{
  g_return_if_fail(pixels != NULL && out != NULL);
  g_return_if_fail(bytes_per_pixel == 3 || bytes_per_pixel == 4);
  g_return_if_fail(width > 0 && height > 0 && stride >= width * bytes_per_pixel);
  for (int y = 0; y < height; y++) {
    const guint8 *p = pixels + (gsize) y * (gsize) stride;
    guint8 *o = out + (gsize) y * (gsize) width;
    for (int x = 0; x < width; x++, p += bytes_per_pixel)
      o[x] = (guint8) ((77u * p[0] + 150u * p[1] + 29u * p[2] + 128u) >> 8);
  }
}

/* 2x box filter: each output pixel is the rounded mean of a 2x2 block. It
 * averages away sensor noise and screen moire before zbar thresholds. */
static guint8 *
kiosk_half(const guint8 *gray, int width, int height, int stride, int *out_w, int *out_h)
{
  int w2 = width / 2, h2 = height / 2;
  guint8 *out = g_malloc((gsize) w2 * (gsize) h2);
  for (int y = 0; y < h2; y++) {
    const guint8 *r0 = gray + (gsize) (2 * y) * (gsize) stride;
    const guint8 *r1 = r0 + stride;
    guint8 *o = out + (gsize) y * (gsize) w2;
    for (int x = 0; x < w2; x++)
      o[x] = (guint8) ((r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1] + 2u) >> 2);
  }
  *out_w = w2;
  *out_h = h2;
  return out;
}

/* Linear stretch of the 1st..99th percentile to 0..255, or NULL when the frame
 * already has the contrast (a second zbar pass would see the same edges) or is
 * flat (nothing to find). zbar's finder-pattern search works on edges with a
 * minimum strength, which a dim or glare-washed code does not reach. */
static guint8 *
kiosk_stretch(const guint8 *gray, int width, int height)
{
  guint64 hist[256] = { 0 };
  gsize n = (gsize) width * (gsize) height;
  for (gsize i = 0; i < n; i++)
    hist[gray[i]]++;
  guint64 cut = n / 100, acc = 0;
  int lo = 0, hi = 255;
  for (lo = 0; lo < 255; lo++) {
    acc += hist[lo];
    if (acc > cut)
      break;
  }
  acc = 0;
  for (hi = 255; hi > 0; hi--) {
    acc += hist[hi];
    if (acc > cut)
      break;
  }
  if (hi - lo < 8 || hi - lo >= KIOSK_SCAN_STRETCH_MAX_RANGE)
    return NULL;
  guint8 lut[256];
  for (int v = 0; v < 256; v++) {
    int s = (v - lo) * 255 / (hi - lo);
    lut[v] = (guint8) CLAMP(s, 0, 255);
  }
  guint8 *out = g_malloc(n);
  for (gsize i = 0; i < n; i++)
    out[i] = lut[gray[i]];
  return out;
}

/* The decode pipeline shared by the worker and kiosk_scan_gray(): a plain pass,
 * then the fallbacks @flags allow, stopping at the first pass that finds a code.
 * @gray must be contiguous (stride == width). */
static guint
kiosk_decode(zbar_image_scanner_t *zs, const guint8 *gray, int width, int height, KioskScanFlags flags,
             GPtrArray *texts)
{
  gboolean can_half = width >= 2 * KIOSK_SCAN_HALF_MIN_SIDE && height >= 2 * KIOSK_SCAN_HALF_MIN_SIDE;
  g_autofree guint8 *half = NULL;
  int hw = 0, hh = 0;
  guint n = 0;

  /* bench-scan (300 frames, 640x480 to 1920x1080): a half-size pass first
   * read every code the full-size pass read, plus 26 of 29 noisy and all the
   * low-contrast ones, in half the time (mean 16 vs 35 ms): a quarter of the
   * pixels, with the full frame as fallback for small symbols. */
  if ((flags & KIOSK_SCAN_HALF_FIRST) && can_half) {
    half = kiosk_half(gray, width, height, width, &hw, &hh);
    n = kiosk_zbar_run(zs, half, hw, hh, texts);
  }
  if (n == 0)
    n = kiosk_zbar_run(zs, gray, width, height, texts);
  /* Raised small symbols (1.6-2.6 px modules) from 67% to 80%, which no
   * downscale can help; costs a pass only on frames that lack contrast. */
  if (n == 0 && (flags & KIOSK_SCAN_STRETCH)) {
    g_autofree guint8 *stretched = kiosk_stretch(gray, width, height);
    if (stretched != NULL)
      n = kiosk_zbar_run(zs, stretched, width, height, texts);
  }
  if (n == 0 && (flags & KIOSK_SCAN_HALF) && can_half && half == NULL) {
    half = kiosk_half(gray, width, height, width, &hw, &hh);
    n = kiosk_zbar_run(zs, half, hw, hh, texts);
  }
  return n;
}

gboolean
kiosk_scan_gray(const guint8 *gray, int width, int height, int stride, KioskScanFlags flags,
                char **out_text, gsize *out_len, GError **error)
{
  g_return_val_if_fail(gray != NULL && out_text != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  *out_text = NULL;
  if (width <= 0 || height <= 0 || width > KIOSK_SCANNER_MAX_FRAME_SIDE ||
      height > KIOSK_SCANNER_MAX_FRAME_SIDE || stride < width) {
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE,
                "Impossible frame geometry %dx%d, stride %d", width, height, stride);
    return FALSE;
  }
  g_autofree guint8 *packed = NULL;
  if (stride != width) {
    packed = g_malloc((gsize) width * (gsize) height);
    for (int y = 0; y < height; y++)
      memcpy(packed + (gsize) y * (gsize) width, gray + (gsize) y * (gsize) stride, (gsize) width);
    gray = packed;
  }
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func(g_free);
  zbar_image_scanner_t *zs = kiosk_zbar_new();
  guint n = kiosk_decode(zs, gray, width, height, flags, texts);
  zbar_image_scanner_destroy(zs);
  if (n == 0) {
    g_set_error_literal(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_NO_CODE, "No QR code found");
    return FALSE;
  }
  if (out_len != NULL)
    *out_len = strlen(texts->pdata[0]);
  *out_text = g_steal_pointer(&texts->pdata[0]);
  return TRUE;
}

/* ---- files ---- */

/* Reads at most KIOSK_SCANNER_MAX_FILE_BYTES from one open descriptor, so the
 * size checked is the size read even if the file changes meanwhile. */
static GBytes *
kiosk_read_capped(const char *path, GError **error)
{
  int fd = g_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
  if (fd < 0) {
    int saved = errno;
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE, "Cannot open %s: %s", path,
                g_strerror(saved));
    return NULL;
  }
  GBytes *bytes = NULL;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE, "%s is not a regular file", path);
    goto out;
  }
  if (st.st_size > KIOSK_SCANNER_MAX_FILE_BYTES) {
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_TOO_LARGE,
                "%s is larger than %d bytes", path, KIOSK_SCANNER_MAX_FILE_BYTES);
    goto out;
  }
  gsize cap = (gsize) st.st_size + 1, len = 0;
  guint8 *buf = g_malloc(cap);
  for (;;) {
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int saved = errno;
      g_free(buf);
      g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE, "Cannot read %s: %s", path,
                  g_strerror(saved));
      goto out;
    }
    if (r == 0)
      break;
    len += (gsize) r;
    if (len == cap) {
      if (cap > KIOSK_SCANNER_MAX_FILE_BYTES) {
        g_free(buf);
        g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_TOO_LARGE,
                    "%s grew beyond %d bytes while read", path, KIOSK_SCANNER_MAX_FILE_BYTES);
        goto out;
      }
      cap = MIN(cap * 2, (gsize) KIOSK_SCANNER_MAX_FILE_BYTES + 1);
      buf = g_realloc(buf, cap);
    }
  }
  bytes = g_bytes_new_take(buf, len);
out:
  close(fd);
  return bytes;
}

typedef struct {
  gboolean too_large;
  int width, height;
  int rows_done; /* bottom of the lowest area the loader has written */
} KioskSizeCheck;

/* Emitted once the header is parsed, before the pixel buffer exists. Setting a
 * zero size makes the PNG and JPEG loaders fail right there ("transformed image
 * has zero width or height"), so an oversized image is never allocated. */
static void
kiosk_on_size_prepared(GdkPixbufLoader *loader, int width, int height, gpointer data)
{
  KioskSizeCheck *check = data;
  check->width = width;
  check->height = height;
  if (width > KIOSK_SCANNER_MAX_IMAGE_SIDE || height > KIOSK_SCANNER_MAX_IMAGE_SIDE) {
    check->too_large = TRUE;
    gdk_pixbuf_loader_set_size(loader, 0, 0);
  }
}

/* The loader allocates the pixbuf without clearing it, and a truncated file
 * leaves the rest of it as whatever the allocator returned: paint it white
 * first so a partial image is at worst blank, never old heap contents. */
static void
kiosk_on_area_prepared(GdkPixbufLoader *loader, gpointer data)
{
  GdkPixbuf *pixbuf = gdk_pixbuf_loader_get_pixbuf(loader);
  if (pixbuf != NULL)
    memset(gdk_pixbuf_get_pixels(pixbuf), 0xff, gdk_pixbuf_get_byte_length(pixbuf));
}

static void
kiosk_on_area_updated(GdkPixbufLoader *loader, int x, int y, int width, int height, gpointer data)
{
  KioskSizeCheck *check = data;
  check->rows_done = MAX(check->rows_done, y + height);
}

guint8 *
kiosk_scanner_load_gray(const char *path, int *out_width, int *out_height, GError **error)
{
  g_return_val_if_fail(path != NULL && out_width != NULL && out_height != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  g_autoptr(GBytes) bytes = kiosk_read_capped(path, error);
  if (bytes == NULL)
    return NULL;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(bytes, &len);
  /* By content only, and only these two loaders: gdk-pixbuf's others (ICO,
   * TGA, XPM, ANI...) have a history of parser bugs we need not expose. */
  static const guint8 png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  static const guint8 jpeg_magic[3] = { 0xff, 0xd8, 0xff };
  const char *type = NULL;
  if (len >= sizeof png_magic && memcmp(data, png_magic, sizeof png_magic) == 0)
    type = "png";
  else if (len >= sizeof jpeg_magic && memcmp(data, jpeg_magic, sizeof jpeg_magic) == 0)
    type = "jpeg";
  if (type == NULL) {
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE, "%s is not a PNG or JPEG image",
                path);
    return NULL;
  }

  g_autoptr(GError) local = NULL;
  g_autoptr(GdkPixbufLoader) loader = gdk_pixbuf_loader_new_with_type(type, &local);
  if (loader == NULL) {
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE, "No %s loader: %s", type,
                local->message);
    return NULL;
  }
  KioskSizeCheck check = { FALSE, 0, 0, 0 };
  g_signal_connect(loader, "size-prepared", G_CALLBACK(kiosk_on_size_prepared), &check);
  g_signal_connect(loader, "area-prepared", G_CALLBACK(kiosk_on_area_prepared), NULL);
  g_signal_connect(loader, "area-updated", G_CALLBACK(kiosk_on_area_updated), &check);
  gboolean ok = gdk_pixbuf_loader_write(loader, data, len, &local);
  /* close() is always needed (the loader warns when disposed unclosed); its
   * error only matters when the write went through. */
  gboolean closed = gdk_pixbuf_loader_close(loader, ok ? &local : NULL);
  if (check.too_large) {
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_TOO_LARGE,
                "%s is %dx%d pixels, more than %d on a side", path, check.width, check.height,
                KIOSK_SCANNER_MAX_IMAGE_SIDE);
    return NULL;
  }
  GdkPixbuf *pixbuf = ok && closed ? gdk_pixbuf_loader_get_pixbuf(loader) : NULL;
  if (pixbuf == NULL) {
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE, "Cannot decode %s: %s", path,
                local != NULL ? local->message : "no image");
    return NULL;
  }

  int w = gdk_pixbuf_get_width(pixbuf), h = gdk_pixbuf_get_height(pixbuf);
  /* gdk-pixbuf's PNG loader reports no error for a file cut short. (An
   * interlaced PNG writes every part of the image in its first pass, so one
   * cut short passes this check and decodes as the partial image it is.) */
  if (check.rows_done < h) {
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE, "%s is truncated", path);
    return NULL;
  }
  int stride = gdk_pixbuf_get_rowstride(pixbuf), channels = gdk_pixbuf_get_n_channels(pixbuf);
  if (w <= 0 || h <= 0 || w > KIOSK_SCANNER_MAX_IMAGE_SIDE || h > KIOSK_SCANNER_MAX_IMAGE_SIDE ||
      gdk_pixbuf_get_bits_per_sample(pixbuf) != 8 || gdk_pixbuf_get_colorspace(pixbuf) != GDK_COLORSPACE_RGB ||
      (channels != 3 && channels != 4)) {
    g_set_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE, "Unsupported pixel layout in %s",
                path);
    return NULL;
  }
  const guint8 *px = gdk_pixbuf_read_pixels(pixbuf);
  guint8 *gray = g_malloc((gsize) w * (gsize) h);
  kiosk_scanner_rgb_to_gray(px, w, h, stride, channels, gray);
  if (gdk_pixbuf_get_has_alpha(pixbuf)) {
    /* A transparent background holds arbitrary colour (often black): show it
     * as white paper, or a code drawn on transparency reads as all dark. */
    for (int y = 0; y < h; y++) {
      const guint8 *p = px + (gsize) y * (gsize) stride;
      guint8 *o = gray + (gsize) y * (gsize) w;
      for (int x = 0; x < w; x++) {
        guint a = p[4 * x + 3];
        o[x] = (guint8) ((o[x] * a + 255u * (255u - a) + 127u) / 255u);
      }
    }
  }
  *out_width = w;
  *out_height = h;
  return gray;
}

gboolean
kiosk_scan_image_file(const char *path, char **out_text, GError **error)
{
  g_return_val_if_fail(path != NULL && out_text != NULL, FALSE);
  *out_text = NULL;
  int w = 0, h = 0;
  g_autofree guint8 *gray = kiosk_scanner_load_gray(path, &w, &h, error);
  if (gray == NULL)
    return FALSE;
  return kiosk_scan_gray(gray, w, h, w, KIOSK_SCAN_DEFAULT, out_text, NULL, error);
}

/* ---- the asynchronous scanner ---- */

typedef struct {
  guint8 *data;
  gsize cap;
  int width, height, bpp; /* rows are packed: width * bpp bytes */
  gint64 time_us;
} KioskFrame;

typedef struct {
  char *text;
  gint64 last_us;     /* frame time it was last seen */
  guint64 last_frame; /* index of the scanned frame it was last seen in */
} KioskSeen;

struct _KioskScanner {
  KioskScanFunc on_code;
  gpointer user_data;
  GThread *thread;

  GMutex lock; /* guards everything down to stats */
  GCond cond;  /* a frame arrived, the worker went idle, or stop */
  KioskFrame *pending;  /* newest frame waiting for the worker */
  KioskFrame *spare;    /* recycled buffer, so steady state does not malloc */
  gboolean busy;
  gboolean stopping;
  guint repeat_ms, repeat_frames;
  KioskScannerStats stats;
  gint64 decode_us_total;

  /* Worker thread only. */
  GPtrArray *seen; /* KioskSeen */
};

static void
kiosk_frame_free(KioskFrame *f)
{
  if (f == NULL)
    return;
  g_free(f->data);
  g_free(f);
}

static void
kiosk_seen_free(gpointer p)
{
  KioskSeen *e = p;
  g_free(e->text);
  g_free(e);
}

/* Lock held. Keeps one spare buffer; a second one is freed, which bounds memory
 * to the waiting frame, the decoding frame, the spare and one per pushing thread. */
static void
kiosk_recycle_locked(KioskScanner *s, KioskFrame *f)
{
  if (s->spare == NULL)
    s->spare = f;
  else
    kiosk_frame_free(f);
}

static gboolean
kiosk_seen_expired(const KioskSeen *e, gint64 now_us, guint64 frame,
                   guint repeat_ms, guint repeat_frames)
{
  return now_us - e->last_us >= (gint64) repeat_ms * 1000 && frame - e->last_frame - 1 >= repeat_frames;
}

/* Worker only: decides which of @texts (found in scanned frame @frame) are new
 * to the caller, moving them to @report. */
static void
kiosk_dedupe(KioskScanner *s, GPtrArray *texts, gint64 now_us, guint64 frame, guint repeat_ms,
             guint repeat_frames, GPtrArray *report)
{
  for (guint i = 0; i < texts->len; i++) {
    const char *text = texts->pdata[i];
    KioskSeen *hit = NULL;
    for (guint j = 0; j < s->seen->len && hit == NULL; j++) {
      KioskSeen *e = s->seen->pdata[j];
      if (strcmp(e->text, text) == 0)
        hit = e;
    }
    if (hit != NULL && hit->last_frame == frame)
      continue; /* twice in one frame */
    if (hit == NULL || kiosk_seen_expired(hit, now_us, frame, repeat_ms, repeat_frames))
      g_ptr_array_add(report, g_strdup(text));
    if (hit == NULL) {
      hit = g_new0(KioskSeen, 1);
      hit->text = g_strdup(text);
      g_ptr_array_add(s->seen, hit);
    }
    hit->last_us = now_us;
    hit->last_frame = frame;
  }
  /* Forget what would be reported again anyway, then the oldest beyond the cap. */
  for (guint j = s->seen->len; j-- > 0;) {
    KioskSeen *e = s->seen->pdata[j];
    if (e->last_frame != frame && kiosk_seen_expired(e, now_us, frame, repeat_ms, repeat_frames))
      g_ptr_array_remove_index_fast(s->seen, j);
  }
  while (s->seen->len > KIOSK_SEEN_MAX) {
    guint oldest = 0;
    for (guint j = 1; j < s->seen->len; j++)
      if (((KioskSeen *) s->seen->pdata[j])->last_us < ((KioskSeen *) s->seen->pdata[oldest])->last_us)
        oldest = j;
    g_ptr_array_remove_index_fast(s->seen, oldest);
  }
}

static gpointer
kiosk_scanner_worker(gpointer data)
{
  KioskScanner *s = data;
  zbar_image_scanner_t *zs = kiosk_zbar_new();
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) report = g_ptr_array_new_with_free_func(g_free);
  guint8 *gray = NULL;
  gsize gray_cap = 0;
  guint64 frame_index = 0;

  for (;;) {
    g_mutex_lock(&s->lock);
    while (s->pending == NULL && !s->stopping)
      g_cond_wait(&s->cond, &s->lock);
    if (s->stopping) {
      g_mutex_unlock(&s->lock);
      break;
    }
    KioskFrame *f = g_steal_pointer(&s->pending);
    s->busy = TRUE;
    guint repeat_ms = s->repeat_ms, repeat_frames = s->repeat_frames;
    g_mutex_unlock(&s->lock);

    gint64 t0 = g_get_monotonic_time();
    const guint8 *y = f->data;
    if (f->bpp != 1) {
      gsize need = (gsize) f->width * (gsize) f->height;
      if (gray_cap < need) {
        g_free(gray);
        gray = g_malloc(need);
        gray_cap = need;
      }
      kiosk_scanner_rgb_to_gray(f->data, f->width, f->height, f->width * f->bpp, f->bpp, gray);
      y = gray;
    }
    g_ptr_array_set_size(texts, 0);
    kiosk_decode(zs, y, f->width, f->height, KIOSK_SCAN_DEFAULT, texts);
    gint64 t1 = g_get_monotonic_time();

    g_ptr_array_set_size(report, 0);
    kiosk_dedupe(s, texts, f->time_us, frame_index++, repeat_ms, repeat_frames, report);
    for (guint i = 0; i < report->len; i++) {
      const char *text = report->pdata[i];
      s->on_code(text, strlen(text), f->time_us, s->user_data);
    }

    g_mutex_lock(&s->lock);
    s->stats.scanned++;
    s->stats.decoded += texts->len > 0;
    s->stats.reported += report->len;
    s->decode_us_total += t1 - t0;
    kiosk_recycle_locked(s, f);
    s->busy = FALSE;
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
  }
  g_free(gray);
  zbar_image_scanner_destroy(zs);
  return NULL;
}

KioskScanner *
kiosk_scanner_new(KioskScanFunc on_code, gpointer user_data)
{
  g_return_val_if_fail(on_code != NULL, NULL);
  KioskScanner *s = g_new0(KioskScanner, 1);
  s->on_code = on_code;
  s->user_data = user_data;
  s->repeat_ms = KIOSK_SCANNER_DEFAULT_REPEAT_MS;
  s->repeat_frames = KIOSK_SCANNER_DEFAULT_REPEAT_FRAMES;
  s->seen = g_ptr_array_new_with_free_func(kiosk_seen_free);
  g_mutex_init(&s->lock);
  g_cond_init(&s->cond);
  s->thread = g_thread_new("kiosk-scanner", kiosk_scanner_worker, s);
  return s;
}

void
kiosk_scanner_free(KioskScanner *s)
{
  if (s == NULL)
    return;
  g_return_if_fail(g_thread_self() != s->thread);
  g_mutex_lock(&s->lock);
  s->stopping = TRUE;
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
  g_thread_join(s->thread);
  kiosk_frame_free(s->pending);
  kiosk_frame_free(s->spare);
  g_ptr_array_unref(s->seen);
  g_mutex_clear(&s->lock);
  g_cond_clear(&s->cond);
  g_free(s);
}

void
kiosk_scanner_set_repeat(KioskScanner *s, guint absent_ms, guint absent_frames)
{
  g_return_if_fail(s != NULL);
  g_mutex_lock(&s->lock);
  s->repeat_ms = absent_ms;
  s->repeat_frames = absent_frames;
  g_mutex_unlock(&s->lock);
}

static gboolean
kiosk_scanner_push(KioskScanner *s, const guint8 *pixels, int width, int height, int stride, int bpp)
{
  gint64 now = g_get_monotonic_time();
  gsize row = (gsize) width * (gsize) bpp, need = row * (gsize) height;

  g_mutex_lock(&s->lock);
  KioskFrame *f = g_steal_pointer(&s->spare);
  g_mutex_unlock(&s->lock);
  /* The copy runs outside the lock so the worker is never held up by it. */
  if (f == NULL)
    f = g_new0(KioskFrame, 1);
  if (f->cap < need) {
    g_free(f->data);
    f->data = g_malloc(need);
    f->cap = need;
  }
  for (int y = 0; y < height; y++)
    memcpy(f->data + (gsize) y * row, pixels + (gsize) y * (gsize) stride, row);
  f->width = width;
  f->height = height;
  f->bpp = bpp;
  f->time_us = now;

  g_mutex_lock(&s->lock);
  s->stats.frames_in++;
  KioskFrame *old = s->pending;
  s->pending = f;
  if (old != NULL) {
    s->stats.dropped++;
    kiosk_recycle_locked(s, old);
  }
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
  return old == NULL;
}

gboolean
kiosk_scanner_push_frame(KioskScanner *s, const guint8 *gray, int width, int height, int stride)
{
  g_return_val_if_fail(s != NULL && gray != NULL, FALSE);
  g_return_val_if_fail(width > 0 && height > 0, FALSE);
  g_return_val_if_fail(width <= KIOSK_SCANNER_MAX_FRAME_SIDE && height <= KIOSK_SCANNER_MAX_FRAME_SIDE, FALSE);
  g_return_val_if_fail(stride >= width, FALSE);
  return kiosk_scanner_push(s, gray, width, height, stride, 1);
}

gboolean
kiosk_scanner_push_rgb(KioskScanner *s, const guint8 *pixels, int width, int height, int stride,
                       int bytes_per_pixel)
{
  g_return_val_if_fail(s != NULL && pixels != NULL, FALSE);
  g_return_val_if_fail(bytes_per_pixel == 3 || bytes_per_pixel == 4, FALSE);
  g_return_val_if_fail(width > 0 && height > 0, FALSE);
  g_return_val_if_fail(width <= KIOSK_SCANNER_MAX_FRAME_SIDE && height <= KIOSK_SCANNER_MAX_FRAME_SIDE, FALSE);
  g_return_val_if_fail(stride >= width * bytes_per_pixel, FALSE);
  return kiosk_scanner_push(s, pixels, width, height, stride, bytes_per_pixel);
}

gboolean
kiosk_scanner_wait_idle(KioskScanner *s, guint timeout_ms)
{
  g_return_val_if_fail(s != NULL, FALSE);
  gint64 end = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
  g_mutex_lock(&s->lock);
  while ((s->pending != NULL || s->busy) && !s->stopping)
    if (!g_cond_wait_until(&s->cond, &s->lock, end))
      break;
  gboolean idle = s->pending == NULL && !s->busy;
  g_mutex_unlock(&s->lock);
  return idle;
}

void
kiosk_scanner_stats(KioskScanner *s, KioskScannerStats *out)
{
  g_return_if_fail(s != NULL && out != NULL);
  g_mutex_lock(&s->lock);
  *out = s->stats;
  out->mean_decode_ms = s->stats.scanned > 0 ? (double) s->decode_us_total / 1000.0 / (double) s->stats.scanned
                                             : 0.0;
  g_mutex_unlock(&s->lock);
}
