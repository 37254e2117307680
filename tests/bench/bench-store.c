/* Benchmark: the encrypted store against plain SQLite with the same pragmas —
 * single-commit and batched inserts, point lookups (warm and cold cache). */
#include "gk-store.h"
#include "gk-test-util.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  gboolean encrypted;
  char *path;
  char *kek;
  const char *sync;  /* "FULL" or "NORMAL" */
  GkStore *store;
  sqlite3 *db;
} Target;

typedef struct {
  int single;        /* rows, one transaction each */
  int batched;       /* rows, 1000 per transaction */
  int lookups;       /* warm point lookups per kind */
  int cold_rounds;   /* new connections for cold lookups */
  int cold_per_round;
} Sizes;

static const char schema[] =
  "CREATE TABLE visits(id INTEGER PRIMARY KEY, code TEXT NOT NULL, host TEXT NOT NULL,"
  " note TEXT NOT NULL, ts INTEGER NOT NULL);"
  "CREATE INDEX visits_code ON visits(code);";

static const GkMigration migrations[] = { { 1, schema } };

static void
check(sqlite3 *db, int rc, const char *what)
{
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    g_error("%s: %s", what, sqlite3_errmsg(db));
}

static void
exec(sqlite3 *db, const char *sql)
{
  check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql);
}

static void
target_open(Target *t)
{
  if (t->encrypted) {
    g_autoptr(GError) error = NULL;
    t->store = gk_store_open(t->path, t->kek, migrations, G_N_ELEMENTS(migrations), &error);
    g_assert_no_error(error);
    t->db = gk_store_db(t->store);
  } else {
    check(NULL, sqlite3_open_v2(t->path, &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
          "open");
    sqlite3_busy_timeout(t->db, 10000);
    exec(t->db, "PRAGMA page_size=4096; PRAGMA temp_store=MEMORY; PRAGMA journal_mode=WAL;"
                "PRAGMA foreign_keys=ON");
    exec(t->db, "CREATE TABLE IF NOT EXISTS visits(id INTEGER PRIMARY KEY, code TEXT NOT NULL,"
                " host TEXT NOT NULL, note TEXT NOT NULL, ts INTEGER NOT NULL);"
                "CREATE INDEX IF NOT EXISTS visits_code ON visits(code);");
  }
  /* Big enough that a warm cache holds the whole table and index. */
  exec(t->db, "PRAGMA cache_size=-131072");
  /* PRAGMA takes no parameters; the value is one of two constants. */
  g_autofree char *sync = g_strdup_printf("PRAGMA synchronous=%s", t->sync);
  exec(t->db, sync);
}

static void
target_close(Target *t)
{
  if (t->encrypted)
    gk_store_close(t->store);
  else
    sqlite3_close(t->db);
  t->store = NULL;
  t->db = NULL;
}

static void
target_init(Target *t, const char *dir, gboolean encrypted, const char *sync)
{
  memset(t, 0, sizeof *t);
  t->encrypted = encrypted;
  t->sync = sync;
  t->path = g_strdup_printf("%s/%s-%s.db", dir, encrypted ? "enc" : "plain", sync);
  t->kek = g_strdup_printf("%s/kek", dir);
  if (encrypted) {
    g_autoptr(GError) error = NULL;
    gk_store_create(t->path, t->kek, &error);
    g_assert_no_error(error);
  }
  target_open(t);
}

static void
target_free(Target *t)
{
  target_close(t);
  g_free(t->path);
  g_free(t->kek);
}

static void
insert(Target *t, int first, int count, int per_txn)
{
  sqlite3_stmt *stmt = NULL;
  check(t->db, sqlite3_prepare_v2(t->db, "INSERT INTO visits(id, code, host, note, ts) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5)", -1, &stmt, NULL), "prepare");
  char code[32], note[160];
  for (int i = first; i < first + count; i++) {
    if ((i - first) % per_txn == 0)
      exec(t->db, "BEGIN IMMEDIATE");
    g_snprintf(code, sizeof code, "T%08X", (guint) i * 2654435761u);
    g_snprintf(note, sizeof note, "visitor %d for a meeting on floor %d, badge printed, "
                                  "host notified by e-mail", i, i % 40);
    sqlite3_bind_int64(stmt, 1, i + 1);
    sqlite3_bind_text(stmt, 2, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, "reception@example.com", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, note, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 5, 1700000000 + i);
    check(t->db, sqlite3_step(stmt), "insert");
    sqlite3_reset(stmt);
    if ((i - first) % per_txn == per_txn - 1 || i == first + count - 1)
      exec(t->db, "COMMIT");
  }
  sqlite3_finalize(stmt);
}

/* @count point lookups of random existing rows among @rows; by_index looks up
 * by code through visits_code, else by the integer primary key. */
static void
lookups(Target *t, int rows, int count, gboolean by_index, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed(seed);
  sqlite3_stmt *stmt = NULL;
  const char *sql = by_index ? "SELECT id, note FROM visits WHERE code = ?1"
                             : "SELECT code, note FROM visits WHERE id = ?1";
  check(t->db, sqlite3_prepare_v2(t->db, sql, -1, &stmt, NULL), "prepare");
  char code[32];
  for (int i = 0; i < count; i++) {
    int k = g_rand_int_range(rand, 0, rows);
    if (by_index) {
      g_snprintf(code, sizeof code, "T%08X", (guint) k * 2654435761u);
      sqlite3_bind_text(stmt, 1, code, -1, SQLITE_TRANSIENT);
    } else {
      sqlite3_bind_int64(stmt, 1, k + 1);
    }
    if (sqlite3_step(stmt) != SQLITE_ROW)
      g_error("lookup %d missed: %s", k, sqlite3_errmsg(t->db));
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  g_rand_free(rand);
}

static double
now(void)
{
  return (double) g_get_monotonic_time() / G_USEC_PER_SEC;
}

static void
report(const char *what, double enc, double plain)
{
  printf("%-44s encrypted %10.0f/s   plain %10.0f/s   enc/plain %.2f   slowdown x%.2f\n",
         what, enc, plain, enc / plain, plain / enc);
  fflush(stdout);
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && g_strcmp0(argv[1], "--quick") == 0;
  Sizes sz = quick ? (Sizes) { 100, 20000, 20000, 10, 200 }
                   : (Sizes) { 1000, 100000, 200000, 100, 200 };
  g_autofree char *dir = gk_test_make_tmpdir("gk-bench-store");
  const char *syncs[] = { "FULL", "NORMAL" };

  printf("bench-store%s: SQLite %s, page 4096, WAL, temp_store=MEMORY, dir %s\n",
         quick ? " (quick)" : "", sqlite3_libversion(), dir);
  for (gsize si = 0; si < G_N_ELEMENTS(syncs); si++) {
    Target t[2];
    target_init(&t[0], dir, TRUE, syncs[si]);
    target_init(&t[1], dir, FALSE, syncs[si]);

    /* Interleaved repeats, best of each: the machine's noise hits both sides. */
    double rate[2][2] = { { 0, 0 }, { 0, 0 } };
    for (int rep = 0; rep < 3; rep++) {
      int base = rep * (sz.single + sz.batched);
      for (int e = 0; e < 2; e++) {
        double t0 = now();
        insert(&t[e], base, sz.single, 1);
        rate[e][0] = MAX(rate[e][0], sz.single / (now() - t0));
        t0 = now();
        insert(&t[e], base + sz.single, sz.batched, 1000);
        rate[e][1] = MAX(rate[e][1], sz.batched / (now() - t0));
      }
    }
    g_autofree char *l1 = g_strdup_printf("inserts, 1 per commit (sync=%s)", syncs[si]);
    g_autofree char *l2 = g_strdup_printf("inserts, 1000 per commit (sync=%s)", syncs[si]);
    report(l1, rate[0][0], rate[1][0]);
    report(l2, rate[0][1], rate[1][1]);

    if (si == 0) {
      int rows = 3 * (sz.single + sz.batched);
      const char *kinds[] = { "primary key", "index" };
      for (int by_index = 0; by_index < 2; by_index++) {
        double warm[2] = { 0, 0 }, cold[2] = { 0, 0 };
        /* Interleaved repeats, best of each: the machine's noise hits both sides. */
        for (int rep = 0; rep < 3; rep++) {
          for (int e = 0; e < 2; e++) {
            lookups(&t[e], rows, sz.lookups, by_index, 1);  /* warm the page cache */
            double t0 = now();
            lookups(&t[e], rows, sz.lookups, by_index, 2 + (guint32) rep);
            warm[e] = MAX(warm[e], sz.lookups / (now() - t0));

            /* Cold: every round starts on a new connection with an empty cache. */
            double spent = 0;
            for (int r = 0; r < sz.cold_rounds; r++) {
              target_close(&t[e]);
              target_open(&t[e]);
              t0 = now();
              lookups(&t[e], rows, sz.cold_per_round, by_index, 100 + (guint32) r);
              spent += now() - t0;
            }
            cold[e] = MAX(cold[e], sz.cold_rounds * sz.cold_per_round / spent);
          }
        }
        g_autofree char *lw = g_strdup_printf("point lookups by %s, warm cache", kinds[by_index]);
        g_autofree char *lc = g_strdup_printf("point lookups by %s, cold cache", kinds[by_index]);
        report(lw, warm[0], warm[1]);
        report(lc, cold[0], cold[1]);
      }
    }
    target_free(&t[0]);
    target_free(&t[1]);
  }
  gk_test_rmtree(dir);
  return 0;
}
