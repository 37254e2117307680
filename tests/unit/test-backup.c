/* Backup file format (round trip; wrong key, truncation, flipped bytes,
 * reordered chunks, a missing final tag all refused) and backup/restore of a
 * real data directory (new store keys, no KEK in the backup, refusals leave
 * nothing behind). */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gk-store.h"
#include "gk-test-util.h"
#include "srv-app.h"
#include "srv-backup.h"
#include "srv-store-private.h"

#define BIG_LEN (3 * SRV_BACKUP_CHUNK + 1234)

static guint8 test_key[SRV_BACKUP_KEY_BYTES];

/* A backup stream with three files (one spanning several chunks) in memory. */
static GBytes *
make_stream(const guint8 *key, guint8 **out_big)
{
  g_autofree char *dir = gk_test_make_tmpdir("gk-backup");
  g_autofree char *path = g_build_filename(dir, "b", NULL);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  g_assert_cmpint(fd, >=, 0);
  guint8 *big = g_malloc(BIG_LEN);
  randombytes_buf(big, BIG_LEN);
  g_autoptr(GError) error = NULL;
  SrvBackupWriter *w = srv_backup_writer_new(fd, key, &error);
  g_assert_no_error(error);
  g_assert_true(srv_backup_writer_add(w, "small.txt", 0644, (const guint8 *) "hello", 5, &error));
  g_assert_true(srv_backup_writer_add(w, "empty", 0600, NULL, 0, &error));
  g_assert_true(srv_backup_writer_add(w, "master.db", 0600, big, BIG_LEN, &error));
  g_assert_true(srv_backup_writer_finish(w, &error));
  srv_backup_writer_free(w);
  close(fd);
  char *data = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(path, &data, &len, &error));
  gk_test_rmtree(dir);
  if (out_big != NULL)
    *out_big = big;
  else
    g_free(big);
  return g_bytes_new_take(data, len);
}

static GPtrArray *
read_stream(const guint8 *data, gsize len, const guint8 *key, GError **error)
{
  return srv_backup_file_read(data, len, key, error);
}

static void
test_round_trip(void)
{
  guint8 *big = NULL;
  g_autoptr(GBytes) stream = make_stream(test_key, &big);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(stream, &len);
  g_assert_cmpmem(data, 8, SRV_BACKUP_MAGIC, 8);
  /* Nothing of the content is in clear. */
  g_assert_null(memmem(data, len, "hello", 5));
  g_assert_null(memmem(data, len, "small.txt", 9));
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = read_stream(data, len, test_key, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(entries->len, ==, 3);
  const SrvBackupEntry *e = srv_backup_entries_find(entries, "small.txt");
  g_assert_nonnull(e);
  g_assert_cmpuint(e->mode, ==, 0644);
  g_assert_cmpmem(g_bytes_get_data(e->data, NULL), g_bytes_get_size(e->data), "hello", 5);
  e = srv_backup_entries_find(entries, "empty");
  g_assert_cmpuint(g_bytes_get_size(e->data), ==, 0);
  e = srv_backup_entries_find(entries, "master.db");
  g_assert_cmpmem(g_bytes_get_data(e->data, NULL), g_bytes_get_size(e->data), big, BIG_LEN);
  g_assert_null(srv_backup_entries_find(entries, "absent"));
  g_free(big);
}

static void
test_wrong_key(void)
{
  g_autoptr(GBytes) stream = make_stream(test_key, NULL);
  guint8 other[SRV_BACKUP_KEY_BYTES];
  memcpy(other, test_key, sizeof other);
  other[31] ^= 1;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(stream, &len);
  g_assert_null(read_stream(data, len, other, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_AUTH);
  g_assert_nonnull(strstr(error->message, "wrong backup key"));
}

/* Offsets of each chunk's length prefix in a stream. */
static GArray *
chunk_offsets(const guint8 *data, gsize len)
{
  GArray *offs = g_array_new(FALSE, FALSE, sizeof(gsize));
  gsize off = 12 + crypto_secretstream_xchacha20poly1305_HEADERBYTES;
  while (off + 4 <= len) {
    g_array_append_val(offs, off);
    gsize n = ((gsize) data[off] << 24) | ((gsize) data[off + 1] << 16) | ((gsize) data[off + 2] << 8) | data[off + 3];
    off += 4 + n;
  }
  g_assert_cmpuint(off, ==, len);
  return offs;
}

static void
test_truncated(void)
{
  g_autoptr(GBytes) stream = make_stream(test_key, NULL);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(stream, &len);
  g_autoptr(GArray) offs = chunk_offsets(data, len);
  g_assert_cmpuint(offs->len, ==, 4);  /* 3 full chunks + the final one */
  /* Cut at every chunk boundary (whole chunks missing, the final among them). */
  for (guint i = 0; i < offs->len; i++) {
    g_autoptr(GError) error = NULL;
    g_assert_null(read_stream(data, g_array_index(offs, gsize, i), test_key, &error));
    g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_TRUNCATED);
  }
  /* And at many places inside chunks and the header. */
  for (gsize cut = 0; cut < len; cut += 997) {
    g_autoptr(GError) error = NULL;
    g_assert_null(read_stream(data, cut, test_key, &error));
    g_assert_nonnull(error);
  }
  g_autoptr(GError) error = NULL;
  g_assert_null(read_stream(data, len - 1, test_key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_TRUNCATED);
  g_clear_error(&error);
  /* Bytes after the final chunk are refused too. */
  g_autofree guint8 *longer = g_malloc(len + 1);
  memcpy(longer, data, len);
  longer[len] = 0;
  g_assert_null(read_stream(longer, len + 1, test_key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT);
}

static void
test_flipped_byte(void)
{
  g_autoptr(GBytes) stream = make_stream(test_key, NULL);
  gsize len = 0;
  const guint8 *orig = g_bytes_get_data(stream, &len);
  g_autofree guint8 *data = g_memdup2(orig, len);
  /* Every byte of the header, then bytes spread over the chunks. */
  for (gsize pos = 0; pos < len; pos = pos < 64 ? pos + 1 : pos + 1531) {
    for (guint bit = 0; bit < 8; bit += 7) {
      data[pos] ^= (guint8) (1u << bit);
      g_autoptr(GError) error = NULL;
      GPtrArray *entries = read_stream(data, len, test_key, &error);
      if (entries != NULL)
        g_error("a flipped bit %u at byte %" G_GSIZE_FORMAT " was accepted", bit, pos);
      g_assert_nonnull(error);
      data[pos] ^= (guint8) (1u << bit);
    }
  }
  /* Magic and version give their own errors. */
  data[0] ^= 1;
  g_autoptr(GError) error = NULL;
  g_assert_null(read_stream(data, len, test_key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT);
  g_clear_error(&error);
  data[0] ^= 1;
  data[8] = 2;
  g_assert_null(read_stream(data, len, test_key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "version 2"));
  g_clear_error(&error);
  data[8] = 1;
  /* A byte of the first chunk's ciphertext: authentication. */
  data[12 + 24 + 4 + 100] ^= 0x80;
  g_assert_null(read_stream(data, len, test_key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_AUTH);
}

static void
test_reordered(void)
{
  g_autoptr(GBytes) stream = make_stream(test_key, NULL);
  gsize len = 0;
  const guint8 *orig = g_bytes_get_data(stream, &len);
  g_autoptr(GArray) offs = chunk_offsets(orig, len);
  gsize a = g_array_index(offs, gsize, 1), b = g_array_index(offs, gsize, 2), c = g_array_index(offs, gsize, 3);
  g_assert_cmpuint(b - a, ==, c - b);  /* two full chunks of equal size */
  g_autofree guint8 *data = g_memdup2(orig, len);
  memcpy(data + a, orig + b, c - b);
  memcpy(data + b, orig + a, b - a);
  g_autoptr(GError) error = NULL;
  g_assert_null(read_stream(data, len, test_key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_AUTH);
  g_clear_error(&error);
  /* A chunk dropped from the middle. */
  g_autofree guint8 *dropped = g_malloc(len);
  memcpy(dropped, orig, a);
  memcpy(dropped + a, orig + b, len - b);
  g_assert_null(read_stream(dropped, len - (b - a), test_key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_AUTH);
}

/* A stream whose chunks are all authentic but none carries the final tag. */
static void
test_missing_final(void)
{
  guint8 file[12 + crypto_secretstream_xchacha20poly1305_HEADERBYTES + 2 * (4 + 20 + 17)] = { 0 };
  memcpy(file, SRV_BACKUP_MAGIC, 8);
  file[8] = SRV_BACKUP_VERSION;
  crypto_secretstream_xchacha20poly1305_state st;
  crypto_secretstream_xchacha20poly1305_init_push(&st, file + 12, test_key);
  gsize off = 12 + crypto_secretstream_xchacha20poly1305_HEADERBYTES;
  /* One entry "a" of 7 bytes (13 + 1 + 7 = 21 bytes), sent as chunks of 20 and 1. */
  guint8 payload[40] = { 1, 0, 0, 1, 0xa4, 0, 0, 0, 0, 0, 0, 0, 7, 'a', 'x', 'x', 'x', 'x', 'x', 'x', 'x' };
  for (int i = 0; i < 2; i++) {
    unsigned long long n = 0;
    crypto_secretstream_xchacha20poly1305_push(&st, file + off + 4, &n, payload + i * 20, i == 0 ? 20 : 1, file, 12,
                                               crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    file[off + 3] = (guint8) n;
    off += 4 + n;
  }
  g_autoptr(GError) error = NULL;
  g_assert_null(read_stream(file, off, test_key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_TRUNCATED);
  g_assert_nonnull(strstr(error->message, "final"));
}

static void
test_payload(void)
{
  g_autoptr(GError) error = NULL;
  /* A valid entry, then variations of it. */
  guint8 ok[] = { 1, 0, 0, 1, 0xa4, 0, 0, 0, 0, 0, 0, 0, 2, 'a', 'h', 'i' };
  g_autoptr(GPtrArray) e = srv_backup_payload_parse(ok, sizeof ok, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(e->len, ==, 1);
  struct {
    gsize at;
    guint8 value;
  } bad[] = {
    { 0, 0 },      /* empty name */
    { 0, 200 },    /* name longer than what remains */
    { 13, 'A' },   /* upper case */
    { 13, '/' },   /* a path */
    { 13, '.' },   /* hidden or "." */
    { 12, 3 },     /* data longer than what remains */
    { 5, 1 },      /* absurd size */
    { 1, 1 },      /* mode beyond 0777 */
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    guint8 copy[sizeof ok];
    memcpy(copy, ok, sizeof ok);
    copy[bad[i].at] = bad[i].value;
    g_clear_error(&error);
    g_assert_null(srv_backup_payload_parse(copy, sizeof copy, &error));
    g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_CONTENT);
  }
  /* Cut short, and the same name twice. */
  g_clear_error(&error);
  g_assert_null(srv_backup_payload_parse(ok, 10, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_CONTENT);
  guint8 twice[2 * sizeof ok];
  memcpy(twice, ok, sizeof ok);
  memcpy(twice + sizeof ok, ok, sizeof ok);
  g_clear_error(&error);
  g_assert_null(srv_backup_payload_parse(twice, sizeof twice, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_CONTENT);
  g_assert_nonnull(strstr(error->message, "twice"));
}

static void
test_key_file(void)
{
  g_autofree char *dir = gk_test_make_tmpdir("gk-backup");
  g_autofree char *path = g_build_filename(dir, "backup.key", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_backup_key_generate(path, &error));
  g_assert_no_error(error);
  struct stat st;
  g_assert_cmpint(stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  g_assert_cmpint(st.st_size, ==, SRV_BACKUP_KEY_BYTES);
  guint8 key[SRV_BACKUP_KEY_BYTES], again[SRV_BACKUP_KEY_BYTES];
  g_assert_true(srv_backup_key_load(path, key, &error));
  /* Never overwritten: the old backups would be lost with the old key. */
  g_assert_false(srv_backup_key_generate(path, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_REFUSED);
  g_clear_error(&error);
  g_assert_true(srv_backup_key_load(path, again, &error));
  g_assert_cmpmem(key, sizeof key, again, sizeof again);
  /* A readable key or a wrong length is refused. */
  g_assert_cmpint(g_chmod(path, 0644), ==, 0);
  g_assert_false(srv_backup_key_load(path, key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_KEY);
  g_clear_error(&error);
  g_autofree char *short_key = g_build_filename(dir, "short.key", NULL);
  g_assert_true(g_file_set_contents_full(short_key, "abc", 3, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  g_assert_false(srv_backup_key_load(short_key, key, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_KEY);
  gk_test_rmtree(dir);
}

/* ---- backup and restore of a data directory ------------------------------------------- */

typedef struct {
  char *tmp;
  char *data_dir;
  char *key_path;
  char *backup;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer unused)
{
  (void) unused;
  f->tmp = gk_test_make_tmpdir("gk-backup");
  f->data_dir = g_build_filename(f->tmp, "data", NULL);
  f->key_path = g_build_filename(f->tmp, "backup.key", NULL);
  f->backup = g_build_filename(f->tmp, "one.gkbackup", NULL);
  g_autoptr(GError) error = NULL;
  SrvInitOptions opts = { .data_dir = f->data_dir, .site = "Tokyo" };
  g_assert_true(srv_app_init(&opts, &error));
  g_assert_no_error(error);
  g_assert_true(srv_backup_key_generate(f->key_path, &error));
  g_assert_true(srv_backup_create(f->data_dir, f->backup, f->key_path, NULL, &error));
  g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer unused)
{
  (void) unused;
  gk_test_rmtree(f->tmp);
  g_free(f->tmp);
  g_free(f->data_dir);
  g_free(f->key_path);
  g_free(f->backup);
}

static guint
count_files(const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  if (d == NULL)
    return 0;
  guint n = 0;
  while (g_dir_read_name(d) != NULL)
    n++;
  g_dir_close(d);
  return n;
}

static GPtrArray *
read_backup_file(const char *path, const char *key_path)
{
  guint8 key[SRV_BACKUP_KEY_BYTES];
  g_assert_true(srv_backup_key_load(key_path, key, NULL));
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  g_autoptr(GError) error = NULL;
  GPtrArray *entries = srv_backup_file_read((const guint8 *) data, len, key, &error);
  g_assert_no_error(error);
  return entries;
}

static gint64
count_rows(const char *data_dir, const char *table_sql)
{
  g_autofree char *db = g_build_filename(data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(data_dir, SRV_DATA_KEK, NULL);
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  g_autoptr(GError) error = NULL;
  g_autoptr(GkStore) store = gk_store_open(db, kek, m, n, &error);
  g_assert_no_error(error);
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(store), table_sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  gint64 v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static void
test_restore(Fixture *f, gconstpointer unused)
{
  (void) unused;
  struct stat st;
  g_assert_cmpint(stat(f->backup, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  /* The store's KEK is not in the backup; the files a server needs are. */
  g_autoptr(GPtrArray) entries = read_backup_file(f->backup, f->key_path);
  /* Nothing of the store is readable in the file itself. */
  g_autofree char *raw = NULL;
  gsize raw_len = 0;
  g_assert_true(g_file_get_contents(f->backup, &raw, &raw_len, NULL));
  g_assert_null(memmem(raw, raw_len, "Tokyo", 5));
  g_assert_null(memmem(raw, raw_len, "SQLite format 3", 15));
  g_assert_null(memmem(raw, raw_len, "BEGIN", 5));
  g_assert_null(srv_backup_entries_find(entries, SRV_DATA_KEK));
  g_assert_null(srv_backup_entries_find(entries, SRV_DATA_OWNER_PW));
  g_assert_nonnull(srv_backup_entries_find(entries, "master.db"));
  g_assert_nonnull(srv_backup_entries_find(entries, SRV_CA_KEY_FILE));
  g_assert_nonnull(srv_backup_entries_find(entries, SRV_DATA_SIGNING_KEY));
  g_autofree char *old_kek_path = g_build_filename(f->data_dir, SRV_DATA_KEK, NULL);
  g_autofree char *old_kek = NULL;
  g_assert_true(g_file_get_contents(old_kek_path, &old_kek, NULL, NULL));

  g_autofree char *restored = g_build_filename(f->tmp, "restored", NULL);
  g_autofree char *summary = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_backup_restore(f->backup, f->key_path, restored, &summary, &error));
  g_assert_no_error(error);
  g_assert_nonnull(strstr(summary, "accounts 1\n"));
  g_assert_nonnull(strstr(summary, "sites 1\n"));
  g_assert_cmpint(count_rows(restored, "SELECT count(*) FROM sites WHERE name = 'Tokyo'"), ==, 1);
  /* New keys: the restored KEK differs, and the old one does not open the new store. */
  g_autofree char *new_kek_path = g_build_filename(restored, SRV_DATA_KEK, NULL);
  g_autofree char *new_kek = NULL;
  g_assert_true(g_file_get_contents(new_kek_path, &new_kek, NULL, NULL));
  g_assert_true(memcmp(old_kek, new_kek, 32) != 0);
  g_autofree char *restored_db = g_build_filename(restored, SRV_DATA_DB, NULL);
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  GkStore *wrong = gk_store_open(restored_db, old_kek_path, m, n, &error);
  g_assert_null(wrong);
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_WRONG_KEY);
  g_clear_error(&error);
  /* Files come back with their modes. */
  const char *secret[] = { SRV_CA_KEY_FILE, SRV_DATA_SERVER_KEY, SRV_DATA_SIGNING_KEY, SRV_DATA_KEK };
  for (gsize i = 0; i < G_N_ELEMENTS(secret); i++) {
    g_autofree char *p = g_build_filename(restored, secret[i], NULL);
    g_assert_cmpint(stat(p, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  }
  g_autofree char *ca = g_build_filename(restored, SRV_CA_CERT_FILE, NULL);
  g_autofree char *ca_old = g_build_filename(f->data_dir, SRV_CA_CERT_FILE, NULL);
  g_autofree char *a = NULL, *b = NULL;
  g_assert_true(g_file_get_contents(ca, &a, NULL, NULL) && g_file_get_contents(ca_old, &b, NULL, NULL));
  g_assert_cmpstr(a, ==, b);
  g_assert_cmpint(stat(restored, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0700);

  /* A second restore into the now non-empty dir is refused and changes nothing. */
  guint before = count_files(restored);
  g_assert_false(srv_backup_restore(f->backup, f->key_path, restored, NULL, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_REFUSED);
  g_assert_cmpuint(count_files(restored), ==, before);
  g_autofree char *kek_after = NULL;
  g_assert_true(g_file_get_contents(new_kek_path, &kek_after, NULL, NULL));
  g_assert_cmpmem(kek_after, 32, new_kek, 32);
}

static void
test_backup_refusals(Fixture *f, gconstpointer unused)
{
  (void) unused;
  g_autoptr(GError) error = NULL;
  /* An existing file is never replaced, a file in the data dir never written. */
  g_assert_false(srv_backup_create(f->data_dir, f->backup, f->key_path, NULL, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_REFUSED);
  g_clear_error(&error);
  g_autofree char *inside = g_build_filename(f->data_dir, "b.gkbackup", NULL);
  g_assert_false(srv_backup_create(f->data_dir, inside, f->key_path, NULL, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_REFUSED);
  g_clear_error(&error);
  g_assert_false(g_file_test(inside, G_FILE_TEST_EXISTS));
  /* A missing key: no file, no temp file. */
  g_autofree char *out = g_build_filename(f->tmp, "out", NULL);
  g_mkdir(out, 0700);
  g_autofree char *target = g_build_filename(out, "b.gkbackup", NULL);
  g_autofree char *nokey = g_build_filename(f->tmp, "nokey", NULL);
  g_assert_false(srv_backup_create(f->data_dir, target, nokey, NULL, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_KEY);
  g_clear_error(&error);
  /* A data dir missing a required file: refused, nothing left. */
  g_autofree char *signing = g_build_filename(f->data_dir, SRV_DATA_SIGNING_KEY, NULL);
  g_autofree char *moved = g_build_filename(f->tmp, "signing.moved", NULL);
  g_assert_cmpint(g_rename(signing, moved), ==, 0);
  g_assert_false(srv_backup_create(f->data_dir, target, f->key_path, NULL, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_IO);
  g_assert_cmpuint(count_files(out), ==, 0);
  g_assert_cmpint(g_rename(moved, signing), ==, 0);
}

/* Writes a backup with the given entries (the snapshot taken from @f's). */
static void
write_custom_backup(Fixture *f, const char *path, const char *skip, const char *snapshot_override, gsize override_len)
{
  g_autoptr(GPtrArray) entries = read_backup_file(f->backup, f->key_path);
  guint8 key[SRV_BACKUP_KEY_BYTES];
  g_assert_true(srv_backup_key_load(f->key_path, key, NULL));
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  g_assert_cmpint(fd, >=, 0);
  g_autoptr(GError) error = NULL;
  SrvBackupWriter *w = srv_backup_writer_new(fd, key, &error);
  for (guint i = 0; i < entries->len; i++) {
    const SrvBackupEntry *e = entries->pdata[i];
    if (skip != NULL && strcmp(e->name, skip) == 0)
      continue;
    gsize len = 0;
    const guint8 *data = g_bytes_get_data(e->data, &len);
    if (snapshot_override != NULL && strcmp(e->name, "master.db") == 0) {
      data = (const guint8 *) snapshot_override;
      len = override_len;
    }
    g_assert_true(srv_backup_writer_add(w, e->name, e->mode, data, len, &error));
  }
  g_assert_true(srv_backup_writer_finish(w, &error));
  srv_backup_writer_free(w);
  close(fd);
}

static void
test_restore_failure_leaves_nothing(Fixture *f, gconstpointer unused)
{
  (void) unused;
  g_autoptr(GError) error = NULL;
  g_autofree char *target = g_build_filename(f->tmp, "new", NULL);
  g_autofree char *empty = g_build_filename(f->tmp, "empty", NULL);
  g_assert_cmpint(g_mkdir(empty, 0755), ==, 0);

  /* The snapshot with the b-tree page headers of every page after page 1 damaged. */
  g_autoptr(GPtrArray) entries = read_backup_file(f->backup, f->key_path);
  GBytes *snap = srv_backup_entries_find(entries, "master.db")->data;
  gsize snap_len = 0;
  const void *snap_data = g_bytes_get_data(snap, &snap_len);
  g_autofree char *damaged = g_memdup2(snap_data, snap_len);
  g_assert_cmpuint(snap_len, >, 3 * 4096);
  for (gsize off = 4096; off < snap_len; off += 4096)
    memset(damaged + off, 0x5a, 8);
  g_autofree char *bad_snapshot = g_build_filename(f->tmp, "bad-snapshot.gkbackup", NULL);
  write_custom_backup(f, bad_snapshot, NULL, damaged, snap_len);
  g_autofree char *no_ca = g_build_filename(f->tmp, "no-ca.gkbackup", NULL);
  write_custom_backup(f, no_ca, SRV_CA_KEY_FILE, NULL, 0);
  g_autofree char *not_store = g_build_filename(f->tmp, "not-store.gkbackup", NULL);
  write_custom_backup(f, not_store, NULL, "not a database", 14);
  /* A store from a newer program (user_version is header bytes 60..63). */
  g_autofree char *newer = g_memdup2(snap_data, snap_len);
  newer[60] = newer[61] = newer[62] = 0;
  newer[63] = 99;
  g_autofree char *newer_schema = g_build_filename(f->tmp, "newer.gkbackup", NULL);
  write_custom_backup(f, newer_schema, NULL, newer, snap_len);
  /* A flipped byte in the file. */
  g_autofree char *flipped = g_build_filename(f->tmp, "flipped.gkbackup", NULL);
  g_autofree char *bytes = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(f->backup, &bytes, &len, NULL));
  bytes[len / 2] ^= 1;
  g_assert_true(g_file_set_contents(flipped, bytes, (gssize) len, NULL));

  const char *bad[] = { bad_snapshot, no_ca, not_store, newer_schema, flipped };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_false(srv_backup_restore(bad[i], f->key_path, target, NULL, &error));
    g_assert_nonnull(error);
    g_test_message("%s: %s", bad[i], error->message);
    g_clear_error(&error);
    g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));
    g_assert_false(srv_backup_restore(bad[i], f->key_path, empty, NULL, &error));
    g_clear_error(&error);
    g_assert_true(g_file_test(empty, G_FILE_TEST_IS_DIR));
    g_assert_cmpuint(count_files(empty), ==, 0);
  }
  /* The wrong key, likewise. */
  g_autofree char *other_key = g_build_filename(f->tmp, "other.key", NULL);
  g_assert_true(srv_backup_key_generate(other_key, NULL));
  g_assert_false(srv_backup_restore(f->backup, other_key, target, NULL, &error));
  g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_AUTH);
  g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));
  /* And the good backup into the empty dir works. */
  g_clear_error(&error);
  g_assert_true(srv_backup_restore(f->backup, f->key_path, empty, NULL, &error));
  g_assert_no_error(error);
}

/* The fuzz corpus's seeds stay meaningful: the valid ones open under the
 * fuzz target's key (32 bytes of 0x42), the broken one is refused. */
static void
test_fuzz_seeds(void)
{
  guint8 key[SRV_BACKUP_KEY_BYTES];
  memset(key, 0x42, sizeof key);
  const char *seeds[] = { "valid-one-chunk", "valid-many-chunks", "empty-payload", "no-final" };
  for (gsize i = 0; i < G_N_ELEMENTS(seeds); i++) {
    g_autofree char *path = g_build_filename(GK_SOURCE_DIR, "tests/fuzz/corpus/backup-file", seeds[i], NULL);
    g_autofree char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) entries = srv_backup_file_read((const guint8 *) data, len, key, &error);
    if (i < 3) {
      g_assert_no_error(error);
      g_assert_cmpuint(entries->len, ==, i < 2 ? 3 : 0);
    } else {
      g_assert_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_TRUNCATED);
    }
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_assert_cmpint(sodium_init(), >=, 0);
  randombytes_buf(test_key, sizeof test_key);
  g_test_add_func("/server/backup/format/round-trip", test_round_trip);
  g_test_add_func("/server/backup/format/wrong-key", test_wrong_key);
  g_test_add_func("/server/backup/format/truncated", test_truncated);
  g_test_add_func("/server/backup/format/flipped-byte", test_flipped_byte);
  g_test_add_func("/server/backup/format/reordered", test_reordered);
  g_test_add_func("/server/backup/format/missing-final", test_missing_final);
  g_test_add_func("/server/backup/format/payload", test_payload);
  g_test_add_func("/server/backup/key-file", test_key_file);
  g_test_add_func("/server/backup/format/fuzz-seeds", test_fuzz_seeds);
  g_test_add("/server/backup/restore", Fixture, NULL, fixture_setup, test_restore, fixture_teardown);
  g_test_add("/server/backup/backup-refusals", Fixture, NULL, fixture_setup, test_backup_refusals, fixture_teardown);
  g_test_add("/server/backup/restore-failure-leaves-nothing", Fixture, NULL, fixture_setup,
             test_restore_failure_leaves_nothing, fixture_teardown);
  return g_test_run();
}
