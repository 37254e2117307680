/* Invitation e-mails: the visitor's address checked at issue, the ticket's QR
 * code drawn into a PNG in memory, and the MIME message that carries both. */
#include "srv-invite.h"

#include <cairo.h>
#include <errno.h>
#include <qrencode.h>
#include <sodium.h>
#include <string.h>

#include "gk-json.h"
#include "gk-qr.h"

#define PNG_NAME "genkan-qr.png"

gboolean
srv_invite_address_check(const GkConfig *config, const char *address, GError **error)
{
  g_return_val_if_fail(config != NULL && address != NULL, FALSE);
  if (!srv_notify_target_check("email", address, error))
    return FALSE;
  const char *smtp = gk_config_get_string(config, "smtp.host");
  if (smtp == NULL || *smtp == '\0') {
    g_set_error_literal(error, SRV_NOTIFY_ERROR, SRV_NOTIFY_ERROR_CONFIG,
                        "e-mail is not set up on this server: set smtp.host in genkan-server.conf first");
    return FALSE;
  }
  return TRUE;
}

/* ---- the QR code ----------------------------------------------------------------- */

static cairo_status_t
append_png(void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append(closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

/* gk-qr writes PNG files only; a visitor's pass must not touch the disk, so the
 * modules are set straight into an image surface here and streamed to memory. */
GBytes *
srv_invite_qr_png(const char *text, guint module_px, guint *out_side_px, GError **error)
{
  g_return_val_if_fail(text != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  if (*text == '\0' || module_px == 0 || module_px > GK_QR_MAX_MODULE_PX) {
    g_set_error(error, GK_QR_ERROR, GK_QR_ERROR_INVALID, "the QR text is empty or the module size not 1 to %d",
                GK_QR_MAX_MODULE_PX);
    return NULL;
  }
  errno = 0;
  QRcode *code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (code == NULL) {
    g_set_error(error, GK_QR_ERROR, errno == ERANGE ? GK_QR_ERROR_TOO_LONG : GK_QR_ERROR_ENCODE,
                "cannot encode the QR code: %s", g_strerror(errno ? errno : EINVAL));
    return NULL;
  }
  int width = code->width;
  int side = (width + 2 * GK_QR_QUIET_ZONE) * (int) module_px;
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, side, side);
  GByteArray *png = g_byte_array_new();
  cairo_status_t st = cairo_surface_status(surface);
  if (st == CAIRO_STATUS_SUCCESS) {
    cairo_surface_flush(surface);
    guint8 *pixels = cairo_image_surface_get_data(surface);
    gsize stride = (gsize) cairo_image_surface_get_stride(surface);
    for (int y = 0; y < side; y++) {
      int my = y / (int) module_px - GK_QR_QUIET_ZONE;
      for (int x = 0; x < side; x++) {
        int mx = x / (int) module_px - GK_QR_QUIET_ZONE;
        gboolean dark = mx >= 0 && my >= 0 && mx < width && my < width &&
                        (code->data[(gsize) my * (gsize) width + (gsize) mx] & 1) != 0;
        guint32 rgb = dark ? 0x000000u : 0xffffffu;
        memcpy(pixels + (gsize) y * stride + (gsize) x * 4, &rgb, 4);
      }
    }
    cairo_surface_mark_dirty(surface);
    st = cairo_surface_write_to_png_stream(surface, append_png, png);
  }
  cairo_surface_destroy(surface);
  QRcode_free(code);
  if (st != CAIRO_STATUS_SUCCESS) {
    g_byte_array_unref(png);
    g_set_error(error, GK_QR_ERROR, GK_QR_ERROR_ENCODE, "cannot draw the QR code: %s", cairo_status_to_string(st));
    return NULL;
  }
  if (out_side_px != NULL)
    *out_side_px = (guint) side;
  return g_byte_array_free_to_bytes(png);
}

/* ---- the message ------------------------------------------------------------------ */

/* Text bodies are sent in canonical form (RFC 2045): CRLF line ends. */
static char *
crlf(const char *text)
{
  GString *out = g_string_new(NULL);
  for (const char *p = text; *p; p++) {
    if (*p == '\n')
      g_string_append_c(out, '\r');
    g_string_append_c(out, *p);
  }
  return g_string_free(out, FALSE);
}

/* The text as HTML paragraphs (blank lines part them, single newlines break
 * lines), every character escaped: names are the visitor's and the admin's
 * words, never markup. The QR image follows the text that points to it. */
static char *
html_body(const SrvNotifyMessage *m, const char *subject, const char *text, const char *cid, guint side)
{
  gboolean ja = g_strcmp0(m->language, "ja") == 0;
  g_autofree char *title = g_markup_escape_text(subject, -1);
  GString *out = g_string_new(NULL);
  g_string_append_printf(out, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"UTF-8\"><title>%s</title>"
                              "</head>\n<body>\n", ja ? "ja" : "en", title);
  g_auto(GStrv) paragraphs = g_strsplit(text, "\n\n", -1);
  for (guint i = 0; paragraphs[i] != NULL; i++) {
    g_autofree char *escaped = g_markup_escape_text(paragraphs[i], -1);
    g_auto(GStrv) lines = g_strsplit(escaped, "\n", -1);
    g_autofree char *joined = g_strjoinv("<br>\n", lines);
    g_string_append_printf(out, "<p>%s</p>\n", joined);
  }
  g_string_append_printf(out, "<p><img src=\"cid:%s\" alt=\"%s\" width=\"%u\" height=\"%u\"></p>\n", cid,
                         ja ? "QR コード" : "QR code", side, side);
  g_string_append(out, "</body></html>\n");
  return g_string_free(out, FALSE);
}

/* One body part: its boundary line, @headers (CRLF-ended lines), and @data in base64. */
static void
append_part(GString *out, const char *boundary, const char *headers, const void *data, gsize len)
{
  g_string_append_printf(out, "--%s\r\n%sContent-Transfer-Encoding: base64\r\n\r\n", boundary, headers);
  srv_notify_base64_lines(out, data, len);
}

static void
free_secret(char *text)
{
  if (text != NULL)
    sodium_memzero(text, strlen(text));
  g_free(text);
}

char *
srv_invite_email(const SrvNotifyMessage *message, const char *from, const char *to, gint64 now, GError **error)
{
  g_return_val_if_fail(message != NULL && from != NULL && to != NULL, NULL);
  const char *qr_text = message->secrets != NULL ? gk_json_get_string(message->secrets, "qr_text", NULL) : NULL;
  if (qr_text == NULL || *qr_text == '\0') {
    g_set_error_literal(error, SRV_NOTIFY_ERROR, SRV_NOTIFY_ERROR_INVALID,
                        "the invitation holds no QR code (delivered already, or the stored row is damaged)");
    return NULL;
  }
  guint side = 0;
  g_autoptr(GBytes) png = srv_invite_qr_png(qr_text, SRV_INVITE_QR_MODULE_PX, &side, error);
  if (png == NULL)
    return NULL;

  const char *at = strchr(from, '@');
  g_autofree char *cid = g_strdup_printf("qr.%s@%s", message->id, at != NULL ? at + 1 : "genkan.invalid");
  /* "=_" never occurs in base64, the only encoding of every part. */
  g_autofree char *related = g_strconcat("=_gk_rel_", message->id, NULL);
  g_autofree char *alternative = g_strconcat("=_gk_alt_", message->id, NULL);
  g_autofree char *subject = srv_notify_subject(message);
  char *text = srv_notify_text(message);
  char *plain_lf = g_strconcat(text, "\n\n-- \nGenkan\n", NULL);
  char *plain = crlf(plain_lf);
  char *html_lf = html_body(message, subject, text, cid, side);
  char *html = crlf(html_lf);

  g_autofree char *content = g_strdup_printf("Content-Type: multipart/related;\r\n boundary=\"%s\";\r\n"
                                             " type=\"multipart/alternative\"\r\n", related);
  GString *out = g_string_new(NULL);
  srv_notify_email_head(out, message, from, to, now, content);
  g_string_append_printf(out, "--%s\r\nContent-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", related,
                         alternative);
  append_part(out, alternative, "Content-Type: text/plain; charset=UTF-8\r\n", plain, strlen(plain));
  append_part(out, alternative, "Content-Type: text/html; charset=UTF-8\r\n", html, strlen(html));
  g_string_append_printf(out, "--%s--\r\n", alternative);
  g_autofree char *image_headers = g_strdup_printf("Content-Type: image/png; name=\"" PNG_NAME "\"\r\n"
                                                   "Content-ID: <%s>\r\n"
                                                   "Content-Disposition: inline; filename=\"" PNG_NAME "\"\r\n",
                                                   cid);
  gsize png_len = 0;
  const guint8 *png_data = g_bytes_get_data(png, &png_len);
  append_part(out, related, image_headers, png_data, png_len);
  g_string_append_printf(out, "--%s--\r\n", related);

  /* The copies with the reception code go; the caller wipes the message itself. */
  free_secret(text);
  free_secret(plain_lf);
  free_secret(plain);
  free_secret(html_lf);
  free_secret(html);
  return g_string_free(out, FALSE);
}
