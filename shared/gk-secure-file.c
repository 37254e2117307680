/* Atomic 0600 writes and permission-checked reads for files that hold secrets. */
#include "gk-secure-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
set_errno_error(GError **error, int saved_errno, const char *what, const char *path)
{
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved_errno),
              "%s %s: %s", what, path, g_strerror(saved_errno));
  return FALSE;
}

static gboolean
write_all(int fd, const guint8 *data, gsize len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    data += n;
    len -= (gsize) n;
  }
  return TRUE;
}

gboolean
gk_fsync_parent_dir(const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname(path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return set_errno_error(error, errno, "cannot open directory", dir);
  int rc = fsync(fd);
  int saved = errno;
  close(fd);
  if (rc != 0)
    return set_errno_error(error, saved, "cannot sync directory", dir);
  return TRUE;
}

gboolean
gk_secure_file_write(const char *path, const void *data, gsize len,
                     gboolean exclusive, GError **error)
{
  g_return_val_if_fail(path != NULL, FALSE);
  g_return_val_if_fail(data != NULL || len == 0, FALSE);

  if (exclusive && g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                "refusing to overwrite %s: it already exists", path);
    return FALSE;
  }

  g_autofree char *tmp = g_strdup_printf("%s.tmp-XXXXXX", path);
  int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    return set_errno_error(error, errno, "cannot create", tmp);

  if (fchmod(fd, 0600) != 0 || !write_all(fd, data, len) || fsync(fd) != 0) {
    int saved = errno ? errno : EIO;
    close(fd);
    g_unlink(tmp);
    return set_errno_error(error, saved, "cannot write", tmp);
  }
  close(fd);

  if (exclusive) {
    /* link() fails on an existing target, so a racing writer cannot be replaced. */
    if (link(tmp, path) != 0) {
      int saved = errno;
      g_unlink(tmp);
      return set_errno_error(error, saved, "cannot create", path);
    }
    g_unlink(tmp);
  } else if (g_rename(tmp, path) != 0) {
    int saved = errno;
    g_unlink(tmp);
    return set_errno_error(error, saved, "cannot replace", path);
  }
  return gk_fsync_parent_dir(path, error);
}

gboolean
gk_secure_file_read(const char *path, gsize max_len, guint8 **out_data,
                    gsize *out_len, GError **error)
{
  g_return_val_if_fail(path != NULL && out_data != NULL && out_len != NULL, FALSE);

  /* O_NONBLOCK: a FIFO planted at the path must not hang us before the checks. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return set_errno_error(error, errno, "cannot open", path);

  struct stat st;
  if (fstat(fd, &st) != 0) {
    int saved = errno;
    close(fd);
    return set_errno_error(error, saved, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
    close(fd);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                "%s must be a regular file owned by this user and readable by it only (mode 0600)", path);
    return FALSE;
  }
  if ((guint64) st.st_size > max_len) {
    close(fd);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s is too large (%lld bytes, at most %" G_GSIZE_FORMAT ")",
                path, (long long) st.st_size, max_len);
    return FALSE;
  }

  gsize cap = (gsize) st.st_size;
  guint8 *buf = g_malloc(cap + 1);
  gsize got = 0;
  while (got < cap) {
    ssize_t n = read(fd, buf + got, cap - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (gsize) n;
  }
  close(fd);
  if (got != cap) {
    gk_secure_free(buf, cap + 1);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "short read from %s", path);
    return FALSE;
  }
  buf[got] = 0;
  *out_data = buf;
  *out_len = got;
  return TRUE;
}

void
gk_secure_free(void *data, gsize len)
{
  if (data == NULL)
    return;
  sodium_memzero(data, len);
  g_free(data);
}
