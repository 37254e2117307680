/* QR symbols as PNG files (written atomically) and as terminal half-block art. */
#include "gk-qr.h"

#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <qrencode.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(gk-qr-error-quark, gk_qr_error)

/* A version-40 symbol holds at most 4296 alphanumeric characters; anything
 * longer is refused before libqrencode sees it. */
#define MAX_TEXT_LEN 4296

static const char alnum_set[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

static gboolean
is_alphanumeric(const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    if (strchr(alnum_set, *p) == NULL)
      return FALSE;
  return TRUE;
}

static void
qrcode_free0(QRcode *code)
{
  if (code != NULL)
    QRcode_free(code);
}

static gboolean
set_encode_error(GError **error, int saved_errno)
{
  if (saved_errno == ERANGE)
    g_set_error_literal(error, GK_QR_ERROR, GK_QR_ERROR_TOO_LONG,
                        "the text is too long for a QR code");
  else
    g_set_error(error, GK_QR_ERROR, GK_QR_ERROR_ENCODE, "cannot encode the QR code: %s",
                g_strerror(saved_errno ? saved_errno : EINVAL));
  return FALSE;
}

/* libqrencode's string encoder takes only QR_MODE_8 or QR_MODE_KANJI as a hint
 * (QR_MODE_AN gives EINVAL), so an all-alphanumeric text is also encoded as one
 * explicit alphanumeric segment, and the smaller of the two symbols wins. */
static QRcode *
encode(const char *text, GError **error)
{
  if (text == NULL || *text == '\0') {
    g_set_error_literal(error, GK_QR_ERROR, GK_QR_ERROR_INVALID, "the QR text is empty");
    return NULL;
  }
  gsize len = strlen(text);
  if (len > MAX_TEXT_LEN) {
    set_encode_error(error, ERANGE);
    return NULL;
  }

  QRcode *best = NULL;
  int saved_errno = 0;
  if (is_alphanumeric(text)) {
    QRinput *input = QRinput_new2(0, QR_ECLEVEL_M);
    if (input != NULL) {
      if (QRinput_append(input, QR_MODE_AN, (int) len, (const unsigned char *) text) == 0)
        best = QRcode_encodeInput(input);
      if (best == NULL)
        saved_errno = errno;
      QRinput_free(input);
    } else {
      saved_errno = errno;
    }
  }

  errno = 0;
  QRcode *mixed = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (mixed == NULL && best == NULL) {
    set_encode_error(error, errno ? errno : saved_errno);
    return NULL;
  }
  if (best == NULL || (mixed != NULL && mixed->width < best->width)) {
    qrcode_free0(best);
    best = mixed;
  } else {
    qrcode_free0(mixed);
  }
  return best;
}

static inline gboolean
module_dark(const QRcode *code, int x, int y)
{
  if (x < 0 || y < 0 || x >= code->width || y >= code->width)
    return FALSE;
  return (code->data[(gsize) y * (gsize) code->width + (gsize) x] & 1) != 0;
}

guint
gk_qr_symbol_width(const char *text, GError **error)
{
  QRcode *code = encode(text, error);
  if (code == NULL)
    return 0;
  guint width = (guint) code->width;
  QRcode_free(code);
  return width;
}

static cairo_status_t
write_fd(void *closure, const unsigned char *data, unsigned int length)
{
  int fd = *(int *) closure;
  while (length > 0) {
    ssize_t n = write(fd, data, length);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return CAIRO_STATUS_WRITE_ERROR;
    data += n;
    length -= (unsigned int) n;
  }
  return CAIRO_STATUS_SUCCESS;
}

gboolean
gk_qr_write_png(const char *text, const char *path, guint module_px, GError **error)
{
  g_return_val_if_fail(path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  gboolean ok = FALSE;
  QRcode *code = NULL;
  cairo_surface_t *surface = NULL;
  cairo_t *cr = NULL;
  char *tmp = NULL;
  int fd = -1;

  if (module_px == 0 || module_px > GK_QR_MAX_MODULE_PX) {
    g_set_error(error, GK_QR_ERROR, GK_QR_ERROR_INVALID,
                "the module size must be 1 to %d pixels", GK_QR_MAX_MODULE_PX);
    goto out;
  }
  code = encode(text, error);
  if (code == NULL)
    goto out;

  int modules = code->width + 2 * GK_QR_QUIET_ZONE;
  int size = modules * (int) module_px; /* ≤ (177 + 8) * 64: no overflow */
  surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, size, size);
  cr = cairo_create(surface);
  cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  for (int y = 0; y < code->width; y++)
    for (int x = 0; x < code->width; x++)
      if (module_dark(code, x, y))
        cairo_rectangle(cr, (double) (x + GK_QR_QUIET_ZONE) * module_px,
                        (double) (y + GK_QR_QUIET_ZONE) * module_px, module_px, module_px);
  cairo_fill(cr);
  cairo_surface_flush(surface);
  if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
    g_set_error(error, GK_QR_ERROR, GK_QR_ERROR_ENCODE, "cannot draw the QR code: %s",
                cairo_status_to_string(cairo_status(cr)));
    goto out;
  }

  tmp = g_strdup_printf("%s.tmp-XXXXXX", path);
  fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    int saved = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot create %s: %s",
                path, g_strerror(saved));
    g_clear_pointer(&tmp, g_free); /* nothing was created */
    goto out;
  }
  cairo_status_t st = cairo_surface_write_to_png_stream(surface, write_fd, &fd);
  if (st != CAIRO_STATUS_SUCCESS) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot write %s: %s", path,
                cairo_status_to_string(st));
    goto out;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    int saved = errno;
    fd = -1;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot write %s: %s",
                path, g_strerror(saved));
    goto out;
  }
  fd = -1;
  if (g_rename(tmp, path) != 0) {
    int saved = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot create %s: %s",
                path, g_strerror(saved));
    goto out;
  }
  g_clear_pointer(&tmp, g_free); /* renamed: nothing to remove */
  ok = TRUE;

out:
  if (fd >= 0)
    close(fd);
  if (tmp != NULL) {
    g_unlink(tmp);
    g_free(tmp);
  }
  if (cr != NULL)
    cairo_destroy(cr);
  if (surface != NULL)
    cairo_surface_destroy(surface);
  qrcode_free0(code);
  return ok;
}

char *
gk_qr_render_terminal(const char *text, GError **error)
{
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  QRcode *code = encode(text, error);
  if (code == NULL)
    return NULL;

  /* Coordinates include the quiet zone; everything outside the symbol is light. */
  int q = GK_QR_QUIET_ZONE;
  int n = code->width + 2 * q;
  GString *out = g_string_sized_new((gsize) ((n + 1) / 2) * ((gsize) n * 3 + 1));
  for (int y = 0; y < n; y += 2) {
    for (int x = 0; x < n; x++) {
      gboolean top = !module_dark(code, x - q, y - q);
      /* The last line of an odd-sized drawing has no bottom row: leave it blank. */
      gboolean bottom = y + 1 < n && !module_dark(code, x - q, y + 1 - q);
      if (top && bottom)
        g_string_append(out, "\u2588"); /* █ */
      else if (top)
        g_string_append(out, "\u2580"); /* ▀ */
      else if (bottom)
        g_string_append(out, "\u2584"); /* ▄ */
      else
        g_string_append_c(out, ' ');
    }
    g_string_append_c(out, '\n');
  }
  QRcode_free(code);
  return g_string_free(out, FALSE);
}
