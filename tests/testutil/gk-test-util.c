/* Helpers every Genkan test program may use: scratch directories, file reads. */
#include "gk-test-util.h"

#include <cairo.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>

char *
gk_test_make_tmpdir(const char *prefix)
{
  g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix ? prefix : "genkan-test");
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp(tmpl, &error);
  g_assert_no_error(error);
  return dir;
}

void
gk_test_rmtree(const char *path)
{
  if (path == NULL)
    return;
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
        gk_test_rmtree(child);
      else
        g_unlink(child);
    }
    g_dir_close(dir);
  }
  g_rmdir(path);
}

gboolean
gk_test_tree_contains(const char *dir_path, const void *needle, gsize needle_len)
{
  GDir *dir = g_dir_open(dir_path, 0, NULL);
  gboolean found = FALSE;
  if (dir == NULL)
    return FALSE;
  const char *name;
  while (!found && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *child = g_build_filename(dir_path, name, NULL);
    if (g_file_test(child, G_FILE_TEST_IS_DIR)) {
      found = gk_test_tree_contains(child, needle, needle_len);
      continue;
    }
    g_autofree char *data = NULL;
    gsize len = 0;
    if (g_file_get_contents(child, &data, &len, NULL) && len >= needle_len)
      found = memmem(data, len, needle, needle_len) != NULL;
  }
  g_dir_close(dir);
  return found;
}

static cairo_status_t
append_png(void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append(closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

char *
gk_test_png_base64(int width, int height)
{
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
  cairo_t *cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 0.8, 0.1, 0.1);
  cairo_paint(cr);
  cairo_destroy(cr);
  g_autoptr(GByteArray) png = g_byte_array_new();
  g_assert_cmpint(cairo_surface_write_to_png_stream(surface, append_png, png), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy(surface);
  return g_base64_encode(png->data, png->len);
}

/* ---- reading an encrypted store as its key holder would ------------------------------------
 * Written from docs/store-format.md, not from gk-vfs.c: it checks the
 * document as much as the files. */

#define ST_PAGE 4096
#define ST_RESERVE 40
#define ST_BODY (ST_PAGE - ST_RESERVE)
#define ST_WAL_HDR 32
#define ST_FRAME_HDR 24

static void
st_put_be32(guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

/* Opens one sealed page in place; FALSE when it does not authenticate. */
static gboolean
st_open_page(const guint8 dek[32], const guint8 file_id[16], guint8 kind, guint32 pgno, guint32 frame,
             const guint8 *frame_hdr, guint8 *page)
{
  guint8 ad[45] = { 'G', 'K', 'S', 'T', 'P', 'G', '0', '2' };
  ad[8] = kind;
  memcpy(ad + 9, file_id, 16);
  st_put_be32(ad + 25, pgno);
  st_put_be32(ad + 29, frame);
  if (frame_hdr != NULL) {
    memcpy(ad + 33, frame_hdr + 8, 8);
    memcpy(ad + 41, frame_hdr + 4, 4);
  }
  return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(page, NULL, page, ST_BODY, page + ST_BODY + 24, ad,
                                                             sizeof ad, page + ST_BODY, dek) == 0;
}

GBytes *
gk_test_store_plaintext(const char *db_path, const char *kek_path, guint *out_bad_pages)
{
  g_autofree guint8 *kek = NULL, *keyfile = NULL, *db = NULL, *wal = NULL;
  gsize kek_len = 0, key_len = 0, db_len = 0, wal_len = 0;
  g_autofree char *key_path = g_strconcat(db_path, ".key", NULL);
  g_autofree char *wal_path = g_strconcat(db_path, "-wal", NULL);
  guint bad = 0;
  g_assert_true(sodium_init() >= 0);
  g_assert_true(g_file_get_contents(kek_path, (char **) &kek, &kek_len, NULL));
  g_assert_cmpuint(kek_len, ==, 32);
  g_assert_true(g_file_get_contents(key_path, (char **) &keyfile, &key_len, NULL));
  g_assert_cmpuint(key_len, >=, 12 + 88);
  g_assert_cmpmem(keyfile, 8, "GKSTKEY1", 8);
  /* Slot 0: file id, nonce, wrapped data key, tag; AD = magic, version, slot, file id. */
  const guint8 *slot = keyfile + 12;
  guint8 ad[26];
  memcpy(ad, "GKSTKEY1", 8);
  ad[8] = keyfile[8];
  ad[9] = 0;
  memcpy(ad + 10, slot, 16);
  guint8 dek[32];
  g_assert_cmpint(crypto_aead_xchacha20poly1305_ietf_decrypt_detached(dek, NULL, slot + 40, 32, slot + 72, ad,
                                                                      sizeof ad, slot + 16, kek), ==, 0);
  GByteArray *out = g_byte_array_new();
  g_assert_true(g_file_get_contents(db_path, (char **) &db, &db_len, NULL));
  for (gsize off = 0; off + ST_PAGE <= db_len; off += ST_PAGE) {
    guint8 page[ST_PAGE];
    memcpy(page, db + off, ST_PAGE);
    if (st_open_page(dek, slot, 1, (guint32) (off / ST_PAGE + 1), 0, NULL, page))
      g_byte_array_append(out, page, ST_BODY);
    else
      bad++;
  }
  /* Every frame in the file, whether or not the current log still counts it:
   * a stale frame is on disk all the same. */
  if (g_file_get_contents(wal_path, (char **) &wal, &wal_len, NULL))
    for (gsize off = ST_WAL_HDR, frame = 1; off + ST_FRAME_HDR + ST_PAGE <= wal_len;
         off += ST_FRAME_HDR + ST_PAGE, frame++) {
      const guint8 *hdr = wal + off;
      guint32 pgno = ((guint32) hdr[0] << 24) | ((guint32) hdr[1] << 16) | ((guint32) hdr[2] << 8) | hdr[3];
      guint8 page[ST_PAGE];
      memcpy(page, wal + off + ST_FRAME_HDR, ST_PAGE);
      if (st_open_page(dek, slot, 2, pgno, (guint32) frame, hdr, page))
        g_byte_array_append(out, page, ST_BODY);
      else
        bad++;
    }
  sodium_memzero(dek, sizeof dek);
  if (out_bad_pages != NULL)
    *out_bad_pages = bad;
  return g_byte_array_free_to_bytes(out);
}
