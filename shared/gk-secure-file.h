/* Files that hold secrets (keys, tokens, one-time passwords): written atomically
 * with mode 0600, read back only when nobody else could have read them. */
#pragma once
#include <glib.h>

/* Writes @data to @path atomically (temp file, fsync, rename, fsync of the
 * directory) with mode 0600. With @exclusive, fails with G_FILE_ERROR_EXIST when
 * @path already exists instead of replacing it. Errors use G_FILE_ERROR. */
gboolean gk_secure_file_write(const char *path, const void *data, gsize len,
                              gboolean exclusive, GError **error);

/* Reads a secret file of at most @max_len bytes. Refuses (G_FILE_ERROR_PERM) a
 * file that is not a regular file (a FIFO does not block), is owned by another
 * user, or that group or others may read or write.
 * Free the result with gk_secure_free(). */
gboolean gk_secure_file_read(const char *path, gsize max_len, guint8 **out_data,
                             gsize *out_len, GError **error);

/* Zeroes then frees a buffer that held a secret. NULL is allowed. */
void gk_secure_free(void *data, gsize len);

/* fsync()s the directory holding @path so a rename or create in it is durable. */
gboolean gk_fsync_parent_dir(const char *path, GError **error);
