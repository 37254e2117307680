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
