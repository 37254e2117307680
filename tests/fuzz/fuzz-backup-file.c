/* Fuzz target: backup files are outside input (they come back from another
 * disk or host). The reader (under the fixed key the seed corpus was made
 * with) and the inner payload parser must refuse anything malformed with a
 * reason, and whatever they accept must hold valid names within the input. */
#include <stdint.h>
#include <string.h>

#include "srv-backup-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds in tests/fuzz/corpus/backup-file/ are sealed under this key:
 * 32 bytes of 0x42. */
static const guint8 fuzz_key[SRV_BACKUP_KEY_BYTES] = {
  0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
  0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
};

static void
check(GPtrArray *entries, GError *error, size_t size)
{
  if (entries == NULL) {
    if (error == NULL || error->message == NULL || *error->message == '\0')
      __builtin_trap();
    g_error_free(error);
    return;
  }
  if (error != NULL)
    __builtin_trap();
  gsize total = 0;
  for (guint i = 0; i < entries->len; i++) {
    const SrvBackupEntry *e = entries->pdata[i];
    gsize n = strlen(e->name);
    if (n == 0 || n > SRV_BACKUP_NAME_MAX || strchr(e->name, '/') != NULL || e->name[0] == '.' ||
        (e->mode & ~0777u) != 0 || srv_backup_entries_find(entries, e->name) != e)
      __builtin_trap();
    total += g_bytes_get_size(e->data) + n;
  }
  if (total > size)
    __builtin_trap();
  g_ptr_array_unref(entries);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GError *error = NULL;
  GPtrArray *entries = srv_backup_file_read(data, size, fuzz_key, &error);
  check(entries, error, size);
  error = NULL;
  entries = srv_backup_payload_parse(data, size, &error);
  check(entries, error, size);
  return 0;
}
