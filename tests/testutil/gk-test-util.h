/* Helpers every Genkan test program may use: scratch directories, file reads. */
#pragma once
#include <glib.h>

/* A new empty directory under $TMPDIR; the caller removes it with gk_test_rmtree(). */
char *gk_test_make_tmpdir(const char *prefix);
/* Removes a directory tree (the test's own scratch directory only). */
void gk_test_rmtree(const char *path);
/* TRUE when any regular file below @dir contains @needle. */
gboolean gk_test_tree_contains(const char *dir, const void *needle, gsize needle_len);
/* A real @width x @height PNG (a filled rectangle) as base64 text, as the
 * device setting "logo" carries it. */
char *gk_test_png_base64(int width, int height);
/* The plaintext of every page of the encrypted store at @db_path (gk-store,
 * docs/store-format.md) and of every frame of its WAL, stale frames included,
 * decrypted with the key file's data key unwrapped by the KEK in @kek_path:
 * what someone holding the keys could read from the files on disk. Pages that
 * fail authentication are counted in *out_bad_pages (may be NULL) and left out. */
GBytes *gk_test_store_plaintext(const char *db_path, const char *kek_path, guint *out_bad_pages);
