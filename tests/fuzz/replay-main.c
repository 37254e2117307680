/* Replays fuzz corpora without libFuzzer: runs LLVMFuzzerTestOneInput on every
 * file named on the command line or found in a named directory. Used when the
 * build is not a GENKAN_FUZZ (clang) build, so any compiler checks the corpora. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return -1;
  }
  size_t cap = 1 << 20; /* corpus files are small; larger ones are truncated */
  uint8_t *buf = malloc(cap);
  if (buf == NULL) {
    fclose(f);
    return -1;
  }
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  /* A fresh copy of exactly n bytes lets ASan catch reads past the end. */
  uint8_t *exact = malloc(n ? n : 1);
  if (exact == NULL) {
    free(buf);
    return -1;
  }
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

int
main(int argc, char **argv)
{
  unsigned long count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (replay_file(argv[i]) != 0)
        return 1;
      count++;
      continue;
    }
    DIR *dir = opendir(argv[i]);
    if (dir == NULL)
      return 1;
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
      if (ent->d_name[0] == '.')
        continue;
      char path[4096];
      int len = snprintf(path, sizeof path, "%s/%s", argv[i], ent->d_name);
      if (len < 0 || (size_t) len >= sizeof path)
        continue;
      if (replay_file(path) != 0) {
        closedir(dir);
        return 1;
      }
      count++;
    }
    closedir(dir);
  }
  printf("replay: %lu inputs ran without a crash\n", count);
  /* An empty corpus would make this test pass without checking anything. */
  return count > 0 ? 0 : 1;
}
