/* QR decode benchmark: our scanner (zbar + fallbacks) against zxing-cpp on
 * ticket-like images from another encoder (qr-corpus.py), per degradation.
 * "--quick" (CTest) uses 2 variants per case; no argument uses 10 and also
 * compares the decode strategies; "--corpus DIR" reuses a generated corpus. */
#include "gk-test-util.h"
#include "kiosk-scanner.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  const char *name;
  KioskScanFlags flags;
} Strategy;

/* The first is the baseline (one zbar pass), the last what the kiosk ships. */
static const Strategy strategies[] = {
  { "plain", KIOSK_SCAN_PLAIN },
  { "+stretch", KIOSK_SCAN_STRETCH },
  { "+half", KIOSK_SCAN_HALF },
  { "half-first", KIOSK_SCAN_HALF_FIRST },
  { "default", KIOSK_SCAN_DEFAULT },
};
#define N_STRATEGIES G_N_ELEMENTS(strategies)
#define DEFAULT_STRATEGY (N_STRATEGIES - 1)

typedef struct {
  char *file, *degradation, *resolution, *text;
  gboolean zx_ok;
  double zx_ms;
  gboolean ok[N_STRATEGIES];
  gboolean wrong[N_STRATEGIES]; /* decoded, but not the expected text */
  double ms[N_STRATEGIES];
} Sample;

static void
sample_free(gpointer p)
{
  Sample *s = p;
  g_free(s->file);
  g_free(s->degradation);
  g_free(s->resolution);
  g_free(s->text);
  g_free(s);
}

/* Runs @argv, returns TRUE on exit status 0; its stderr goes to *@err. */
static gboolean
run(char **argv, char **err)
{
  g_autoptr(GError) error = NULL;
  int status = 0;
  if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, err,
                    &status, &error)) {
    g_free(*err);
    *err = g_strdup(error->message);
    return FALSE;
  }
  return g_spawn_check_wait_status(status, NULL);
}

/* The first python3 that has every module the generator needs. On Debian the
 * modules are system packages (python3-segno, ...), which a python3 from pyenv
 * or a venv earlier on $PATH does not see; so /usr/bin/python3 is tried too. */
static char *
find_python(const char *script, GString *why)
{
  const char *candidates[] = { g_getenv("GENKAN_PYTHON"), "python3", "/usr/bin/python3" };
  for (guint i = 0; i < G_N_ELEMENTS(candidates); i++) {
    if (candidates[i] == NULL)
      continue;
    g_autofree char *path = g_find_program_in_path(candidates[i]);
    if (path == NULL) {
      g_string_append_printf(why, "  %s: not found\n", candidates[i]);
      continue;
    }
    char *argv[] = { path, (char *) script, (char *) "--check", NULL };
    g_autofree char *err = NULL;
    if (run(argv, &err))
      return g_steal_pointer(&path);
    g_string_append_printf(why, "  %s: %s", path, err != NULL && *err ? err : "check failed\n");
  }
  return NULL;
}

static gboolean
load_corpus(const char *dir, GPtrArray *samples)
{
  g_autofree char *exp_path = g_build_filename(dir, "expected.txt", NULL);
  g_autofree char *zx_path = g_build_filename(dir, "zxing.csv", NULL);
  g_autofree char *exp = NULL, *zx = NULL;
  g_autoptr(GError) error = NULL;
  if (!g_file_get_contents(exp_path, &exp, NULL, &error) || !g_file_get_contents(zx_path, &zx, NULL, &error)) {
    fprintf(stderr, "bench-scan: %s\n", error->message);
    return FALSE;
  }
  g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
  g_auto(GStrv) lines = g_strsplit(exp, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    if (*lines[i] == '\0')
      continue;
    g_auto(GStrv) f = g_strsplit(lines[i], "\t", 4);
    if (g_strv_length(f) != 4) {
      fprintf(stderr, "bench-scan: bad line in expected.txt: %s\n", lines[i]);
      return FALSE;
    }
    Sample *s = g_new0(Sample, 1);
    s->file = g_strdup(f[0]);
    s->degradation = g_strdup(f[1]);
    s->resolution = g_strdup(f[2]);
    s->text = g_strdup(f[3]);
    g_ptr_array_add(samples, s);
    g_hash_table_insert(by_name, s->file, s);
  }
  g_auto(GStrv) rows = g_strsplit(zx, "\n", -1);
  for (guint i = 1; rows[i] != NULL; i++) {
    if (*rows[i] == '\0')
      continue;
    g_auto(GStrv) f = g_strsplit(rows[i], ",", 3);
    Sample *s = g_strv_length(f) == 3 ? g_hash_table_lookup(by_name, f[0]) : NULL;
    if (s == NULL) {
      fprintf(stderr, "bench-scan: bad line in zxing.csv: %s\n", rows[i]);
      return FALSE;
    }
    s->zx_ok = strcmp(f[1], "1") == 0;
    s->zx_ms = g_ascii_strtod(f[2], NULL);
  }
  return samples->len > 0;
}

/* Decode-only timing: the gray frame is already loaded, as zxing.csv's times
 * exclude PNG loading. Each strategy runs @reps times; the mean is kept. */
static gboolean
measure(const char *dir, Sample *s, guint n_strategies, guint reps)
{
  g_autofree char *path = g_build_filename(dir, s->file, NULL);
  g_autoptr(GError) error = NULL;
  int w = 0, h = 0;
  g_autofree guint8 *gray = kiosk_scanner_load_gray(path, &w, &h, &error);
  if (gray == NULL) {
    fprintf(stderr, "bench-scan: %s\n", error->message);
    return FALSE;
  }
  for (guint k = 0; k < N_STRATEGIES; k++) {
    if (n_strategies < N_STRATEGIES && k != 0 && k != DEFAULT_STRATEGY)
      continue;
    gint64 total = 0;
    for (guint r = 0; r < reps; r++) {
      g_autofree char *text = NULL;
      gint64 t0 = g_get_monotonic_time();
      gboolean ok = kiosk_scan_gray(gray, w, h, w, strategies[k].flags, &text, NULL, NULL);
      total += g_get_monotonic_time() - t0;
      s->ok[k] = ok && g_strcmp0(text, s->text) == 0;
      s->wrong[k] = ok && !s->ok[k];
    }
    s->ms[k] = (double) total / 1000.0 / reps;
  }
  return TRUE;
}

typedef struct {
  guint n, zx_ok, ok[N_STRATEGIES], wrong[N_STRATEGIES];
  double zx_ms, ms[N_STRATEGIES];
} Tally;

static void
tally_add(Tally *t, const Sample *s)
{
  t->n++;
  t->zx_ok += s->zx_ok;
  t->zx_ms += s->zx_ms;
  for (guint k = 0; k < N_STRATEGIES; k++) {
    t->ok[k] += s->ok[k];
    t->wrong[k] += s->wrong[k];
    t->ms[k] += s->ms[k];
  }
}

static double
pct(guint a, guint n)
{
  return n > 0 ? 100.0 * a / n : 0.0;
}

/* One row: zbar plain, ours (default), zxing-cpp: detection rate and ms/frame. */
static void
print_main_row(const char *label, const Tally *t)
{
  const guint d = DEFAULT_STRATEGY;
  printf("%-22s %4u  %5.0f%% %7.2f  %5.0f%% %7.2f  %5.0f%% %7.2f\n", label, t->n, pct(t->ok[0], t->n),
         t->ms[0] / t->n, pct(t->ok[d], t->n), t->ms[d] / t->n, pct(t->zx_ok, t->n), t->zx_ms / t->n);
}

static void
print_strategy_row(const char *label, const Tally *t)
{
  printf("%-22s", label);
  for (guint k = 0; k < N_STRATEGIES; k++)
    printf("  %4.0f%% %6.2f", pct(t->ok[k], t->n), t->ms[k] / t->n);
  printf("\n");
}

/* Decodes the corpus in @dir with every strategy and prints the tables;
 * returns the exit status. */
static int
measure_and_report(const char *dir, gboolean quick)
{
  g_autoptr(GPtrArray) samples = g_ptr_array_new_with_free_func(sample_free);
  int rc = 0;
  guint n_strategies = quick ? 2 : N_STRATEGIES;
  guint reps = quick ? 1 : 3;
  if (!load_corpus(dir, samples))
    return 1;
  for (guint i = 0; i < samples->len; i++)
    if (!measure(dir, samples->pdata[i], n_strategies, reps))
      return 1;

  /* Group by degradation (and by degradation x resolution), in corpus order. */
  g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GHashTable) tallies = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GPtrArray) res_groups = g_ptr_array_new_with_free_func(g_free);
  Tally overall = { 0 };
  for (guint i = 0; i < samples->len; i++) {
    Sample *s = samples->pdata[i];
    char *keys[] = { g_strdup(s->degradation), g_strdup_printf("%s %s", s->degradation, s->resolution),
                     g_strdup_printf("all %s", s->resolution) };
    GPtrArray *lists[] = { groups, res_groups, res_groups };
    for (guint j = 0; j < G_N_ELEMENTS(keys); j++) {
      Tally *t = g_hash_table_lookup(tallies, keys[j]);
      if (t == NULL) {
        t = g_new0(Tally, 1);
        g_hash_table_insert(tallies, g_strdup(keys[j]), t);
        g_ptr_array_add(lists[j], keys[j]);
      } else {
        g_free(keys[j]);
      }
      tally_add(t, s);
    }
    tally_add(&overall, s);
  }

  printf("\nQR detection rate and decode ms/frame (mean; decode only, frame already in memory)\n");
  printf("%-22s %4s  %-14s  %-14s  %-14s\n", "", "", "zbar 1 pass", "ours (default)", "zxing-cpp");
  printf("%-22s %4s  %6s %7s  %6s %7s  %6s %7s\n", "degradation", "n", "rate", "ms", "rate", "ms", "rate", "ms");
  for (guint i = 0; i < groups->len; i++)
    print_main_row(groups->pdata[i], g_hash_table_lookup(tallies, groups->pdata[i]));
  printf("%s\n", "----------------------------------------------------------------------------");
  for (guint i = 0; i < res_groups->len; i++)
    if (g_str_has_prefix(res_groups->pdata[i], "all "))
      print_main_row(res_groups->pdata[i], g_hash_table_lookup(tallies, res_groups->pdata[i]));
  print_main_row("overall", &overall);

  if (!quick) {
    printf("\nPer resolution\n");
    for (guint i = 0; i < res_groups->len; i++)
      if (!g_str_has_prefix(res_groups->pdata[i], "all "))
        print_main_row(res_groups->pdata[i], g_hash_table_lookup(tallies, res_groups->pdata[i]));
    printf("\nDecode strategies (rate, ms/frame)\n%-22s", "degradation");
    for (guint k = 0; k < N_STRATEGIES; k++)
      printf("  %-12s", strategies[k].name);
    printf("\n");
    for (guint i = 0; i < groups->len; i++)
      print_strategy_row(groups->pdata[i], g_hash_table_lookup(tallies, groups->pdata[i]));
    for (guint i = 0; i < res_groups->len; i++)
      if (g_str_has_prefix(res_groups->pdata[i], "all "))
        print_strategy_row(res_groups->pdata[i], g_hash_table_lookup(tallies, res_groups->pdata[i]));
    print_strategy_row("overall", &overall);
  }

  guint wrong = 0;
  for (guint k = 0; k < N_STRATEGIES; k++)
    wrong += overall.wrong[k];
  if (wrong > 0) {
    fprintf(stderr, "bench-scan: FAILED: %u decodes returned a text other than the one encoded\n", wrong);
    rc = 1;
  }
  /* Regression guard: an undamaged ticket must always read. */
  Tally *clean = g_hash_table_lookup(tallies, "clean");
  if (clean != NULL && clean->ok[DEFAULT_STRATEGY] != clean->n) {
    fprintf(stderr, "bench-scan: FAILED: %u of %u clean images not decoded\n",
            clean->n - clean->ok[DEFAULT_STRATEGY], clean->n);
    rc = 1;
  }
  return rc;
}

int
main(int argc, char **argv)
{
  gboolean quick = FALSE;
  const char *corpus = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      quick = TRUE;
    else if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc)
      corpus = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--quick] [--corpus DIR]\n", argv[0]);
      return 2;
    }
  }

  g_autofree char *tmp = NULL;
  const char *dir = corpus;
  if (dir == NULL) {
    g_autofree char *script = g_build_filename(GK_SOURCE_DIR, "tests", "bench", "qr-corpus.py", NULL);
    g_autoptr(GString) why = g_string_new(NULL);
    g_autofree char *python = find_python(script, why);
    if (python == NULL) {
      /* Not a skip: the modules are in packaging/debian-packages.txt [test],
       * so a machine without them is misconfigured and CI must notice. */
      fprintf(stderr,
              "bench-scan: FAILED: no python3 with numpy, PIL, segno and zxingcpp (Debian: python3-numpy "
              "python3-pil python3-segno python3-zxing-cpp; or set GENKAN_PYTHON):\n%s",
              why->str);
      return 1;
    }
    tmp = gk_test_make_tmpdir("bench-scan");
    dir = tmp;
    char *gen[] = { python, script, tmp, (char *) "--variants", (char *) (quick ? "2" : "10"), NULL };
    g_autofree char *err = NULL;
    gint64 t0 = g_get_monotonic_time();
    if (!run(gen, &err)) {
      fprintf(stderr, "bench-scan: qr-corpus.py failed:\n%s\n", err != NULL ? err : "");
      gk_test_rmtree(tmp);
      return 1;
    }
    printf("corpus: %s (generated by %s in %.1f s)\n", tmp, python,
           (double) (g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
  }

  int rc = measure_and_report(dir, quick);
  if (tmp != NULL)
    gk_test_rmtree(tmp);
  return rc;
}
